"""Prints the interesting part of a function's answer (as `make invoke` prints it).

For an HTTP function: `HTTP <status> <body>`; for linkbest-sync: one short line per feed run; for
anything else: the JSON answer itself.
"""

import json
import sys


def feed_line(name: str, run: dict) -> str:
    parts = [f"{name}: {run.get('mode')} {run.get('result')}", f"{run.get('rows_received', 0)} rows",
             f"{run.get('items_written', 0)} written"]
    if name == "orders":
        parts.append(f"found {run.get('found_only_by_poll', 0)} orders only by poll")
        if run.get("status_found_only_by_poll"):
            parts.append(f"{run['status_found_only_by_poll']} statuses only by poll")
    if run.get("error"):
        parts.append(f"error: {run['error']}")
    return ", ".join(parts)


def main() -> None:
    text = sys.argv[1]
    try:
        answer = json.loads(text)
    except json.JSONDecodeError:
        print(text.strip())
        return
    if isinstance(answer, dict) and "statusCode" in answer:
        body = answer.get("body") or ""
        print(f"HTTP {answer['statusCode']} {body!r}")
    elif isinstance(answer, dict) and answer and all(isinstance(v, dict) and "feed" in v for v in answer.values()):
        print("; ".join(feed_line(name, run) for name, run in answer.items()))
    else:
        print(json.dumps(answer, separators=(",", ":")))


if __name__ == "__main__":
    main()

"""Prints the interesting part of a `cargo lambda invoke --output-format json` answer.

For an HTTP function: `HTTP <status> <body>`; for any other function: the JSON answer itself.
"""

import json
import sys


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
    else:
        print(json.dumps(answer, separators=(",", ":")))


if __name__ == "__main__":
    main()

"""Fails if the functions' log lines hold a secret from local.env or a signature from the events.

Only the functions' own lines (JSON objects) are read: `cargo lambda watch` itself prints the
environment it starts each function with, secrets included, in its own (non-JSON) lines.

    find_secrets_in_logs.py LOG_FILE ENV_FILE EVENTS_DIR

Secrets: the values of LINKBEST_POSTBACK_TOKENS, CALLBACK_HMAC_SECRETS and LINKBEST_APP_SECRET.
Signatures: every `Sign` in an event body and every `X-Signature` header (compared without case).
"""

import json
import pathlib
import sys


def main() -> None:
    log_path, env_path, events_dir = sys.argv[1:4]
    lines = pathlib.Path(log_path).read_text(errors="replace").splitlines()
    function_lines = [line for line in lines if line.startswith("{")]
    log = "\n".join(function_lines).lower()
    needles = []
    for line in pathlib.Path(env_path).read_text().splitlines():
        name, _, value = line.partition("=")
        if name.strip() in ("LINKBEST_POSTBACK_TOKENS", "CALLBACK_HMAC_SECRETS", "LINKBEST_APP_SECRET"):
            needles += [v.strip() for v in value.split(",") if v.strip()]
    for event in pathlib.Path(events_dir).glob("*.json"):
        data = json.loads(event.read_text())
        headers = {k.lower(): v for k, v in (data.get("headers") or {}).items()}
        if "x-signature" in headers:
            needles.append(headers["x-signature"])
        body = data.get("body")
        if isinstance(body, str) and body.startswith("{"):
            sign = json.loads(body).get("Sign")
            if isinstance(sign, str):
                needles.append(sign)
    found = [n for n in needles if len(n) >= 8 and n.lower() in log]
    if found:
        print(f"secrets check: FAILED, {len(found)} secret or signature values found in {log_path}")
        sys.exit(1)
    if not function_lines:
        print(f"secrets check: FAILED, no function log lines in {log_path}")
        sys.exit(1)
    print(f"secrets check: ok, none of {len(needles)} secrets and signatures in {len(function_lines)} function log lines")


if __name__ == "__main__":
    main()

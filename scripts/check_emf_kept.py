"""Fails unless the functions' EMF metric lines in a log would survive Lambda's log-level filter.

    check_emf_kept.py LOG_FILE APPLICATION_LEVEL MIN_LINES [METRIC ...]

Each METRIC must appear in at least one metric line (e.g. PushClockSkew: every validly signed
push reports how far its CreateTime is from the moment it was received).

Lambda's documented rule (advanced logging controls, JSON format): a line is sent to CloudWatch
when its "level" is at least as severe as the function's application log level; a missing or
invalid "level" counts as INFO. `make smoke` runs the load test's emulator instances with
AWS_LAMBDA_LOG_LEVEL=APPLICATION_LEVEL, so their metric lines must carry a level kept there.
"""

import json
import sys

LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


def rank(level: object) -> int:
    if isinstance(level, str) and level.upper() in LEVELS:
        return LEVELS.index(level.upper())
    return LEVELS.index("INFO")


def main() -> None:
    log_path, application_level, min_lines = sys.argv[1], sys.argv[2], int(sys.argv[3])
    required = set(sys.argv[4:])
    seen = set()
    emf = dropped = 0
    for line in open(log_path, errors="replace"):
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if "_aws" not in record:
            continue
        emf += 1
        seen.update(m["Name"] for d in record["_aws"].get("CloudWatchMetrics", []) for m in d.get("Metrics", []))
        if rank(record.get("level")) < rank(application_level):
            dropped += 1
    missing = sorted(required - seen)
    print(f"{emf} metric lines at AWS_LAMBDA_LOG_LEVEL={application_level}, {dropped} Lambda would drop"
          + (f", missing metrics: {', '.join(missing)}" if missing else f", with {', '.join(sorted(required))}" if required else ""))
    if emf < min_lines or dropped or missing:
        sys.exit(1)


main()

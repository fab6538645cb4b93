"""Fails unless the functions' EMF metric lines in a log would survive Lambda's log-level filter.

    check_emf_kept.py LOG_FILE APPLICATION_LEVEL MIN_LINES [METRIC ...]

Each METRIC must appear in at least one metric line (e.g. PushClockSkew: every validly signed
push reports how far its CreateTime is from the moment it was received).

Lambda's documented rule (advanced logging controls, JSON format; "Log-level filtering"): a line
is sent to CloudWatch when its "level" is at least as severe as the function's application log
level; a missing or invalid "level", or a missing or invalid RFC 3339 "timestamp", makes the line
INFO. `make smoke` runs the load test's emulator instances with
AWS_LAMBDA_LOG_LEVEL=APPLICATION_LEVEL, so their metric lines must carry a level kept there.
"""

import json
import re
import sys

LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]


# RFC 3339 date-time: full-date "T" full-time, with a "Z" or numeric offset.
RFC3339 = re.compile(
    r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])[Tt]([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)$"
)


def rank(record: dict) -> int:
    level, stamp = record.get("level"), record.get("timestamp")
    if not (isinstance(stamp, str) and RFC3339.match(stamp)):
        return LEVELS.index("INFO")
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
        if rank(record) < LEVELS.index(application_level.upper()):
            dropped += 1
    missing = sorted(required - seen)
    print(f"{emf} metric lines at AWS_LAMBDA_LOG_LEVEL={application_level}, {dropped} Lambda would drop"
          + (f", missing metrics: {', '.join(missing)}" if missing else f", with {', '.join(sorted(required))}" if required else ""))
    if emf < min_lines or dropped or missing:
        sys.exit(1)


main()

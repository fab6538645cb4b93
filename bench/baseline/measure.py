"""In-process figures of the Python baseline, printed as one JSON object (bench/run.sh reads it).

- client_init_ms: importing boto3 and building the DynamoDB client, in this fresh process.
- parse_verify_build_us: the handler's own work per push (parse, verify, build the items), median
  of repeated timings, no network.
"""

import json
import statistics
import sys
import time
import timeit

started = time.perf_counter()
import boto3  # noqa: E402

boto3.client("dynamodb")
client_init_ms = (time.perf_counter() - started) * 1000

import handler  # noqa: E402

body = sys.argv[1]
runs = [timeit.timeit(lambda: handler.parse_and_verify(body), number=2000) / 2000 for _ in range(7)]
print(json.dumps({"client_init_ms": client_init_ms,
                  "parse_verify_build_us": statistics.median(runs) * 1e6}))

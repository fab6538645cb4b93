#!/usr/bin/env python3
"""The one thing AWS's Runtime Interface Emulator does not do that Lambda does with active tracing:
hand the invocation's X-Ray trace header to the function (`Lambda-Runtime-Trace-Id` on each
`/runtime/invocation/next` answer). `make invoke` (scripts/invoke.sh) runs a function as

    aws-lambda-rie ... scripts/trace_runtime.py TRACE_FILE BOOTSTRAP

and this sits between the function and the emulator's runtime API: every request passes through
unchanged, and each `next` answer gains `Lambda-Runtime-Trace-Id` from TRACE_FILE (written by
invoke.sh before it invokes, as API Gateway's X-Amzn-Trace-Id would be). Nothing else is touched.
"""
import http.client
import http.server
import os
import subprocess
import sys
import threading

trace_file, bootstrap = sys.argv[1], sys.argv[2:]
upstream = os.environ["AWS_LAMBDA_RUNTIME_API"]


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        connection = http.client.HTTPConnection(upstream, timeout=None)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        connection.request(self.command, self.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        self.send_response(answer.status)
        names = set()
        for key, value in answer.getheaders():
            if key.lower() in ("transfer-encoding", "connection", "content-length"):
                continue
            names.add(key.lower())
            self.send_header(key, value)
        if self.path.endswith("/runtime/invocation/next") and "lambda-runtime-trace-id" not in names:
            try:
                trace = open(trace_file).read().strip()
            except OSError:
                trace = ""
            if trace:
                self.send_header("Lambda-Runtime-Trace-Id", trace)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
threading.Thread(target=server.serve_forever, daemon=True).start()
env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}")
sys.exit(subprocess.call(bootstrap, env=env))

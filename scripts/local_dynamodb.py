"""Runs moto's in-memory DynamoDB-compatible server on loopback.

Prints the endpoint URL as its first line of output once the server accepts connections.

    local_dynamodb.py --port 8000           serve until killed (make run)
    local_dynamodb.py --port 0 --stdin-eof  free port; stop when stdin closes (the Rust tests hold
                                            the other end of the pipe, so the server never outlives
                                            the test process, however that process ends)

moto keeps no locks: two requests handled at once can both pass the same condition (seen here: two
concurrent conditional UpdateItems of a new item both succeeding, and a cancelled
TransactWriteItems restoring a table copy over a concurrent write). DynamoDB applies each request
atomically, so this server handles one request at a time (connections stay concurrent and
keep-alive). That is moto unchanged, served the way DynamoDB behaves, not a fake of it.

`GET /__calls` answers the number of DynamoDB requests served so far by operation (a JSON
object such as {"PutItem": 3}); the benchmarks in bench/ read it to count the calls a function
makes, whichever language it is written in.
"""

import json

import argparse
import signal
import sys
import threading

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


def serialized(app):
    """A WSGI app that lets one request at a time through `app`, body included."""
    lock = threading.Lock()
    calls = {}

    def handle(environ, start_response):
        if environ.get("PATH_INFO") == "/__calls" and environ.get("REQUEST_METHOD") == "GET":
            with lock:
                body = json.dumps(calls).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        operation = environ.get("HTTP_X_AMZ_TARGET", "").rpartition(".")[2] or "other"
        with lock:
            calls[operation] = calls.get(operation, 0) + 1
            chunks = app(environ, start_response)
            try:
                return [b"".join(chunks)]
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

    return handle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--stdin-eof", action="store_true", help="exit when stdin reaches end of file")
    args = parser.parse_args()

    app = serialized(DomainDispatcherApplication(create_backend_app))
    server = make_server(args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler)
    host, port = server.server_address[:2]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"http://{host}:{port}", flush=True)

    if args.stdin_eof:
        sys.stdin.read()
    else:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
    server.shutdown()


if __name__ == "__main__":
    main()

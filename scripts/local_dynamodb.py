"""Runs moto's in-memory DynamoDB-compatible server on loopback.

Prints the endpoint URL as its first line of output once the server accepts connections.

    local_dynamodb.py --port 8000           serve until killed (make run)
    local_dynamodb.py --port 0 --stdin-eof  free port; stop when stdin closes (the Rust tests hold
                                            the other end of the pipe, so the server never outlives
                                            the test process, however that process ends)
"""

import argparse
import signal
import sys
import threading

from moto.server import ThreadedMotoServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--stdin-eof", action="store_true", help="exit when stdin reaches end of file")
    args = parser.parse_args()

    server = ThreadedMotoServer(ip_address=args.host, port=args.port, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)

    if args.stdin_eof:
        sys.stdin.read()
    else:
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
    server.stop()


if __name__ == "__main__":
    main()

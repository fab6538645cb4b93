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

moto backs up every table a TransactWriteItems names with a deep copy of the whole table, to
restore it if the transaction is cancelled: the cost of every transaction grows with the table
(seen here: 800 ms per request at a few thousand items). With one request at a time, backing up
just the items the transaction names is the same rollback, so `item_level_rollback` does that;
moto still evaluates and applies every operation itself.

`GET /__calls` answers the number of DynamoDB requests served so far by operation (a JSON
object such as {"PutItem": 3}); the benchmarks in bench/ read it to count the calls a function
makes, whichever language it is written in.
"""

import argparse
import copy
import json
import signal
import sys
import threading

import moto.dynamodb.models as dynamodb_models
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TransactionCanceledException,
)
from moto.dynamodb.models import DynamoDBBackend, Table
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server


class _TablesNotCopied:
    """Stands in for the `copy` module inside moto's DynamoDB models: a Table is not deep-copied
    (item_level_rollback keeps the items it needs instead); everything else is."""

    @staticmethod
    def deepcopy(value, memo=None):
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)

    def __getattr__(self, name):
        return getattr(copy, name)


def item_level_rollback():
    """Makes moto's TransactWriteItems back up only the items it names (see the module doc)."""
    original = DynamoDBBackend.transact_write_items
    dynamodb_models.copy = _TablesNotCopied()

    def transact_write_items(self, transact_items):
        backups = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table_name = op.get("TableName")
            table = self.tables.get(table_name)
            if table is None:
                continue
            key = op.get("Key")
            if key is None:
                item = op.get("Item", {})
                names = [table.hash_key_attr, table.range_key_attr]
                key = {name: item[name] for name in names if name and name in item}
            try:
                before = self.get_item(table_name, key)
            except Exception:  # an invalid key: moto itself will refuse the transaction
                continue
            backups.append((table_name, key, copy.deepcopy(before.to_json()["Attributes"]) if before else None))
        try:
            return original(self, transact_items)
        except (TransactionCanceledException, MultipleTransactionsException, MockValidationException):
            for table_name, key, attributes in reversed(backups):
                if attributes is None:
                    self.delete_item(table_name, key)
                else:
                    self.put_item(table_name, attributes)
            raise

    DynamoDBBackend.transact_write_items = transact_write_items


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

    item_level_rollback()
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

"""The Python baseline: the Linkbest postback as most teams would write it, with AWS Lambda
Powertools' idempotency utility and boto3.

Same protocol as functions/postback (answer "1" stored, "-1" refused or failed, the review's test
push PushId 0 answered "1" and not stored), same table, same record and order-view items, the
same conditional writes. Idempotency is Powertools' own: a record per PushId in the same table
(pk "IDEMPOTENCY#postback", sk = hash of the PushId), INPROGRESS before the work and COMPLETED
after it; a duplicate gets the saved answer back. Only the benchmark uses it (bench/README.md).
"""

import hashlib
import hmac
import json
import os
import time

import boto3
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)

TABLE_NAME = os.environ.get("TABLE_NAME", "partner-ingest-local")
TOKENS = [t.strip() for t in os.environ.get("LINKBEST_POSTBACK_TOKENS", "").split(",") if t.strip()]
MAX_BODY_BYTES = int(os.environ.get("POSTBACK_MAX_BODY_BYTES", "65536"))
ORDER_FIELDS = {
    "Status": "status", "OrdersPrice": "orders_price", "SiterCommission": "siter_commission",
    "Currency": "currency", "ProgramId": "program_id", "ProgramName": "program_name",
    "WebsiteId": "website_id", "OrderTime": "order_time", "SubId": "sub_id",
    "ParentOrderSn": "parent_order_sn",
}

table = boto3.resource("dynamodb").Table(TABLE_NAME)
persistence = DynamoDBPersistenceLayer(
    table_name=TABLE_NAME, key_attr="pk", sort_key_attr="sk", static_pk_value="IDEMPOTENCY#postback"
)
config = IdempotencyConfig(event_key_jmespath="push_id", raise_on_no_idempotency_key=True)


class Refused(Exception):
    pass


def text(value):
    if isinstance(value, (dict, list)) or value is None:
        raise Refused("not a scalar")
    return str(value)


def parse_and_verify(body):
    """Parse, verify the MD5 sign, and build the record and view items (the pure part)."""
    try:
        push = json.loads(body)
    except ValueError as e:
        raise Refused(f"not JSON: {e}")
    if not isinstance(push, dict):
        raise Refused("not an object")
    fields = {k.lower(): v for k, v in push.items()}
    try:
        push_id = text(fields["pushid"])
        event_type = text(fields["eventtype"])
        create_time = text(fields.get("createtime", fields.get("cratetime")))
        sign = text(fields["sign"])
        data = fields["data"]
    except KeyError as e:
        raise Refused(f"missing {e}")
    if not push_id.isdigit() or not create_time.isdigit():
        raise Refused("bad PushId or CreateTime")
    message = (event_type + push_id + create_time).encode()
    ok = False
    for token in TOKENS:
        expected = hashlib.md5(token.encode() + message).hexdigest()
        ok |= hmac.compare_digest(expected, sign.lower())
    if not ok:
        raise Refused("bad signature")
    data_text = json.dumps(data, separators=(",", ":"))
    record = {
        "pk": f"LB#PUSH#{push_id}", "sk": "PUSH", "item_type": "linkbest_push",
        "push_id": push_id, "event_type": event_type, "create_time": int(create_time),
        "sign": sign, "data": data_text, "raw_body": body,
        "received_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "content_hash": hashlib.sha256((event_type + create_time + data_text).encode()).hexdigest(),
    }
    view = None
    if isinstance(data, dict):
        order_sn = {k.lower(): v for k, v in data.items()}.get("ordersn")
        if isinstance(order_sn, (str, int)) and str(order_sn):
            order_sn = str(order_sn)
            record["order_sn"] = order_sn
            version = f"{int(create_time):020}#{int(push_id):020}"
            values = {
                "item_type": "linkbest_order", "order_sn": order_sn, "push_version": version,
                "last_push_id": push_id, "last_event_type": event_type,
                "last_create_time": int(create_time), "last_data": data_text,
                "push_updated_at": record["received_at"],
            }
            for name, attribute in ORDER_FIELDS.items():
                if name in data and not isinstance(data[name], (dict, list)):
                    values[attribute] = str(data[name])
            view = (f"LB#ORDER#{order_sn}", values, version)
    return push_id, record, view


@idempotent_function(data_keyword_argument="push", config=config, persistence_store=persistence)
def store(push):
    record, view = push["record"], push["view"]
    try:
        table.put_item(Item=record, ConditionExpression="attribute_not_exists(pk)")
    except table.meta.client.exceptions.ConditionalCheckFailedException:
        return "0"
    if view is not None:
        pk, values, version = view
        names = {f"#f{i}": k for i, k in enumerate(values)}
        vals = {f":f{i}": v for i, v in enumerate(values.values())}
        names["#version"], vals[":version"] = "push_version", version
        try:
            table.update_item(
                Key={"pk": pk, "sk": "ORDER"},
                UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(values))),
                ConditionExpression="attribute_not_exists(#version) OR #version < :version",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=vals,
            )
        except table.meta.client.exceptions.ConditionalCheckFailedException:
            pass
    return "1"


def handler(event, context):
    config.register_lambda_context(context)
    started = time.perf_counter()
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        import base64
        body = base64.b64decode(body).decode("utf-8", "replace")
    outcome = "stored"
    try:
        if event.get("requestContext", {}).get("http", {}).get("method") != "POST":
            raise Refused("method")
        if len(body.encode()) > MAX_BODY_BYTES:
            raise Refused("too large")
        push_id, record, view = parse_and_verify(body)
        if push_id == "0":
            answer, outcome = "1", "test_push"
        else:
            answer = store(push={"push_id": push_id, "record": record, "view": view})
    except Refused as e:
        answer, outcome = "-1", f"rejected: {e}"
    except Exception as e:  # a store failure: Linkbest retries
        answer, outcome = "-1", f"store_failed: {type(e).__name__}"
    print(json.dumps({"outcome": outcome, "answer": answer,
                      "latency_ms": (time.perf_counter() - started) * 1000}))
    return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": answer}

#!/usr/bin/env python3
"""The event contract in the form EventBridge's Schema Registry accepts (issue #30.2).

schemas/order-event.v1.json (JSON Schema 2020-12) describes the `detail` of every event on the
orders bus. The registry takes JSON Schema draft 4 (or OpenAPI 3) of the whole event as a rule's
target receives it, so this writes schemas/registry/order-event.draft4.json: the envelope
(`version`, `id`, `detail-type`, `source`, `account`, `time`, `region`, `resources`, and
`replay-name` on replayed events) around the detail, converted to draft 4 (`const` -> a one-value
`enum`, `$id` -> `id`), and puts the same text into template.yaml's OrderEventSchema `Content`.

  scripts/registry_schema.py --write   regenerate both
  scripts/registry_schema.py --check   fail when either is not what the source says (make test)
"""
import json
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "schemas" / "order-event.v1.json"
OUT = ROOT / "schemas" / "registry" / "order-event.draft4.json"
TEMPLATE = ROOT / "template.yaml"
DETAIL_TYPES = ["Order Awaiting Delivery", "Order Found Only By Poll", "Order Settlement Changed",
                "Order Status Changed", "Order Seen", "Order Updated"]
SOURCES = ["partner-ingest.linkbest", "partner-ingest.igv"]


def draft4(node):
    if isinstance(node, list):
        return [draft4(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "$schema":
            continue
        if key == "$id":
            out["id"] = value
        elif key == "const":
            out["enum"] = [value]
        else:
            out[key] = draft4(value)
    return out


def registry_schema():
    detail = draft4(json.loads(SOURCE.read_text()))
    detail.pop("id", None)
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "OrderEvent",
        "description": "An event of the orders bus as a rule's target receives it; detail: "
                       "schemas/order-event.v1.json. Drop doubles by detail.event_id (the envelope's "
                       "id changes on redelivery and replay).",
        "type": "object",
        "required": ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "detail-type": {"enum": DETAIL_TYPES},
            "source": {"enum": SOURCES},
            "account": {"type": "string"},
            "time": {"type": "string"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "replay-name": {"type": "string"},
            "detail": detail,
        },
    }


def template_with(text, content):
    line = "      Content: '" + content.replace("'", "''") + "'"
    new, count = re.subn(r"^      Content: '.*'$", lambda _m: line, text, flags=re.M)
    if count != 1:
        sys.exit("registry_schema: template.yaml must hold exactly one `      Content: '…'` line")
    return new


def main():
    schema = registry_schema()
    text = json.dumps(schema, indent=2, ensure_ascii=False) + "\n"
    content = json.dumps(schema, separators=(",", ":"), ensure_ascii=False)
    template = TEMPLATE.read_text()
    if "--write" in sys.argv:
        OUT.write_text(text)
        TEMPLATE.write_text(template_with(template, content))
        print(f"registry_schema: wrote {OUT.relative_to(ROOT)} and template.yaml's OrderEventSchema")
        return
    stale = []
    if not OUT.exists() or OUT.read_text() != text:
        stale.append(str(OUT.relative_to(ROOT)))
    if template_with(template, content) != template:
        stale.append("template.yaml (OrderEventSchema Content)")
    if stale:
        sys.exit("registry_schema: out of date: " + ", ".join(stale) + "; run scripts/registry_schema.py --write")
    print("registry_schema: the registry's schema is the contract's")


if __name__ == "__main__":
    main()

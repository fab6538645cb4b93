//! The event contract published and guarded (issue #30.2): the registry's schema is the
//! contract's, and a change of the contract that would break a consumer validating against it
//! fails `make test` (the compatibility gate).
//!
//! The gate compares `schemas/order-event.v1.json` with the last released one, kept in
//! `schemas/released/`. Breaking (the gate fails): a field removed or renamed, a type or an enum
//! narrowed, a constant changed, a new required field, a pattern or a bound changed or added, an
//! object closed to further fields. Compatible (what a consumer must tolerate, docs/consumers.md ("Hand-off")):
//! a new optional field, a new enum value, a type widened. A breaking change is a new
//! `schema_version` in a new file, published beside the old one — never an edit of v1.

use serde_json::{Value, json};
use testkit::workspace_root;

/// A named edit of a schema.
type Edit<'a> = (&'a str, &'a dyn Fn(&mut Value));

fn read(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(workspace_root().join(path)).unwrap()).unwrap()
}

fn types(schema: &Value) -> Option<Vec<String>> {
    match &schema["type"] {
        Value::String(t) => Some(vec![t.clone()]),
        Value::Array(a) => Some(a.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect()),
        _ => None,
    }
}

/// Every change from `old` to `new` that breaks a consumer validating events against `old`'s
/// promises, with where it is.
pub fn breaking_changes(old: &Value, new: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    match (types(old), types(new)) {
        (Some(o), Some(n)) => {
            let lost: Vec<&String> = o.iter().filter(|t| !n.contains(t)).collect();
            if !lost.is_empty() {
                out.push(format!("{at}: type narrowed (no longer {lost:?})"));
            }
        }
        (None, Some(n)) => out.push(format!("{at}: type newly restricted to {n:?}")),
        _ => {}
    }
    if let (Some(o), n) = (old["enum"].as_array(), &new["enum"]) {
        match n.as_array() {
            Some(n) => {
                let lost: Vec<&Value> = o.iter().filter(|v| !n.contains(v)).collect();
                if !lost.is_empty() {
                    out.push(format!("{at}: enum narrowed (no longer {lost:?})"));
                }
            }
            None if new.get("const").is_some() => out.push(format!("{at}: enum narrowed to a constant")),
            None => {}
        }
    } else if old.get("enum").is_none() && new.get("enum").is_some() {
        out.push(format!("{at}: values newly restricted to an enum"));
    }
    if old.get("const") != new.get("const") && new.get("const").is_some() {
        out.push(format!(
            "{at}: constant changed from {} to {}",
            old["const"], new["const"]
        ));
    }
    for bound in [
        "pattern",
        "minLength",
        "maxLength",
        "minItems",
        "maxItems",
        "minProperties",
        "minimum",
        "maximum",
    ] {
        if new.get(bound).is_some() && old.get(bound) != new.get(bound) {
            out.push(format!(
                "{at}: {bound} changed from {} to {}",
                old[bound], new[bound]
            ));
        }
    }
    if new["additionalProperties"] == json!(false) && old["additionalProperties"] != json!(false) {
        out.push(format!("{at}: closed to further fields"));
    }
    let old_required: Vec<&Value> = old["required"]
        .as_array()
        .map(|r| r.iter().collect())
        .unwrap_or_default();
    for field in new["required"].as_array().into_iter().flatten() {
        if !old_required.contains(&field) {
            out.push(format!("{at}: new required field {field}"));
        }
    }
    if let Some(properties) = old["properties"].as_object() {
        for (name, schema) in properties {
            match new["properties"].get(name) {
                Some(now) => out.extend(breaking_changes(schema, now, &format!("{at}.{name}"))),
                None => out.push(format!("{at}.{name}: field removed (or renamed)")),
            }
        }
    }
    for key in ["items", "additionalProperties"] {
        if old[key].is_object() && new[key].is_object() {
            out.extend(breaking_changes(&old[key], &new[key], &format!("{at}[{key}]")));
        }
    }
    out
}

#[test]
fn the_contract_keeps_every_promise_of_the_released_schema() {
    let broken = breaking_changes(
        &read("schemas/released/order-event.v1.json"),
        &read("schemas/order-event.v1.json"),
        "detail",
    );
    assert!(
        broken.is_empty(),
        "schemas/order-event.v1.json breaks consumers of the released v1: {broken:#?}\n\
         A breaking change is a new schema_version in a new file, published beside v1 (README \"Hand-off\")."
    );
}

#[test]
fn the_gate_fails_on_every_kind_of_breaking_change_and_passes_compatible_ones() {
    let released = read("schemas/released/order-event.v1.json");
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut new = released.clone();
        edit(&mut new);
        breaking_changes(&released, &new, "detail")
    };
    let breaking: [Edit; 8] = [
        ("removed field", &|s| {
            s["properties"].as_object_mut().unwrap().remove("currency");
        }),
        ("renamed field", &|s| {
            let v = s["properties"].as_object_mut().unwrap().remove("status").unwrap();
            s["properties"]["order_status"] = v;
        }),
        ("narrowed type", &|s| {
            s["properties"]["status"]["type"] = json!("string")
        }),
        ("narrowed enum", &|s| {
            s["properties"]["channel"]["enum"] = json!(["push", "callback", "order_list"])
        }),
        ("new required field", &|s| {
            s["properties"]["tenant"] = json!({"type": "string"});
            s["required"].as_array_mut().unwrap().push(json!("tenant"));
        }),
        ("changed constant", &|s| {
            s["properties"]["schema_version"] = json!({"const": 2})
        }),
        ("nested field removed", &|s| {
            s["properties"]["table_key"]["properties"]
                .as_object_mut()
                .unwrap()
                .remove("sk");
        }),
        ("stricter pattern", &|s| {
            s["properties"]["event_id"]["pattern"] = json!("^[0-9a-f]{40}$")
        }),
    ];
    for (what, edit) in breaking {
        assert!(!with(edit).is_empty(), "the gate let a {what} through");
    }
    let compatible: [Edit; 3] = [
        ("new optional field", &|s| {
            s["properties"]["tenant"] = json!({"type": ["string", "null"]})
        }),
        ("new enum value", &|s| {
            s["properties"]["partner"]["enum"] = json!(["linkbest", "igv", "another"])
        }),
        ("widened type", &|s| {
            s["properties"]["currency"]["type"] = json!(["string", "null", "number"])
        }),
    ];
    for (what, edit) in compatible {
        assert_eq!(with(edit), Vec::<String>::new(), "the gate refused a {what}");
    }
}

#[test]
fn the_registrys_schema_is_the_contracts_in_the_template() {
    let registry = read("schemas/registry/order-event.draft4.json");
    let template: serde_norway::Value =
        serde_norway::from_str(&std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap())
            .unwrap();
    let content = template["Resources"]["OrderEventSchema"]["Properties"]["Content"]
        .as_str()
        .expect("OrderEventSchema has its Content inline");
    let in_template: Value = serde_json::from_str(content).unwrap();
    assert_eq!(in_template, registry, "run scripts/registry_schema.py --write");
    assert_eq!(
        template["Resources"]["OrderEventSchema"]["Properties"]["Type"].as_str(),
        Some("JSONSchemaDraft4")
    );
    // The detail inside is the contract's, property for property.
    let contract = read("schemas/order-event.v1.json");
    let detail = &registry["properties"]["detail"];
    assert_eq!(detail["required"], contract["required"]);
    assert_eq!(
        detail["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        contract["properties"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>()
    );
    assert!(
        jsonschema::draft4::new(&registry).is_ok(),
        "a valid draft 4 schema"
    );
}

//! The docs stay true (issue #30.3): a README a newcomer reads in minutes, every link between the
//! documents resolving. (The runbook naming every alarm and metric: `template::`; the README's
//! sample output being `make smoke`'s: checked by `make smoke` itself.)

use testkit::workspace_root;

fn documents() -> Vec<std::path::PathBuf> {
    let root = workspace_root();
    let mut files = vec![
        root.join("README.md"),
        root.join("events/README.md"),
        root.join("bench/README.md"),
    ];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            files.push(path);
        }
    }
    files
}

#[test]
fn the_readme_is_short_and_maps_every_document() {
    let readme = std::fs::read_to_string(workspace_root().join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines <= 300,
        "the README has {lines} lines (at most 300: the rest belongs in docs/)"
    );
    for doc in documents() {
        let name = doc
            .strip_prefix(workspace_root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if name != "README.md" {
            assert!(
                readme.contains(&format!("]({name})")),
                "the README's map does not link {name}"
            );
        }
    }
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    for doc in documents() {
        let text = std::fs::read_to_string(&doc).unwrap();
        let dir = doc.parent().unwrap();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let Some(end) = rest.find(')') else { break };
            let target = rest[..end].split('#').next().unwrap_or_default();
            if !target.is_empty()
                && !target.contains("://")
                && !target.starts_with("mailto:")
                && !dir.join(target).exists()
            {
                broken.push(format!("{}: {target}", doc.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links that lead nowhere: {broken:#?}");
}

/// The consumer guide's example event is one the registry's schema accepts (it was taken from a
/// `make run` bus and must stay a valid event as the contract moves).
#[test]
fn the_consumer_guides_example_event_is_valid() {
    let guide = std::fs::read_to_string(workspace_root().join("docs/consumers.md")).unwrap();
    let after = guide
        .split("**The event as your target receives it**")
        .nth(1)
        .expect("the guide shows the event as a target receives it");
    let block = after
        .split("```json\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let event: serde_json::Value = serde_json::from_str(block).expect("the example is JSON");
    let registry: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("schemas/registry/order-event.draft4.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::draft4::new(&registry).unwrap();
    let errors: Vec<String> = validator.iter_errors(&event).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:?}");
}

/// The deploy guide's table joins every variable the template sets from a parameter with that
/// parameter (a setting renamed in one place and not the other fails here).
#[test]
fn every_setting_is_named_three_ways_in_the_deploy_guide() {
    let template = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let guide = std::fs::read_to_string(workspace_root().join("docs/deploy.md")).unwrap();
    let mut missing = Vec::new();
    for line in template.lines() {
        let line = line.trim();
        let Some((variable, rest)) = line.split_once(": !Ref ") else {
            continue;
        };
        if !variable
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            continue;
        }
        let row = format!("| `{variable}` | `{}` |", rest.trim());
        if !guide.contains(&row) {
            missing.push(row);
        }
    }
    assert!(missing.is_empty(), "docs/deploy.md lacks the rows {missing:#?}");
}

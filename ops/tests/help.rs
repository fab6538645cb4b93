//! `ops --help` works on an operator's machine with nothing set (issue #30.3) and names every
//! command the runbook uses.

#[test]
fn help_needs_no_environment_and_names_every_command() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ops"))
        .arg("--help")
        .env_clear()
        .output()
        .expect("ops runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let help = String::from_utf8(output.stdout).unwrap();
    for command in [
        "ops latest",
        "ops order",
        "ops missed",
        "ops checkpoint",
        "ops set-aside",
        "ops reprocess refused",
        "ops reprocess not-understood",
        "ops reprocess unlinked",
        "ops redrive rule-failures",
        "ops redrive publisher-failures",
        "ops migrate-views",
        "ops migrate-deliveries",
        "ops backfill",
        "ops republish",
        "ops replay",
        "--format json|table",
    ] {
        assert!(help.contains(command), "ops --help does not name {command:?}");
    }
    // Without TABLE_NAME a command says what is missing, and fails.
    let bare = std::process::Command::new(env!("CARGO_BIN_EXE_ops"))
        .args(["latest", "pushes"])
        .env_clear()
        .output()
        .unwrap();
    assert!(!bare.status.success());
    assert!(String::from_utf8_lossy(&bare.stderr).contains("TABLE_NAME"));
}

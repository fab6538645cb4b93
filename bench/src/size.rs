//! Package size: the release binaries (x86_64 as built, and stripped), the arm64 bootstraps of
//! `cargo lambda build --release --arm64`, and what the Python baseline would upload.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn file_mib(path: &Path) -> Option<f64> {
    std::fs::metadata(path)
        .ok()
        .map(|m| m.len() as f64 / (1024.0 * 1024.0))
}

/// The size of `path` after `strip` (a copy; the file is left as built).
pub fn stripped_mib(path: &Path) -> Option<f64> {
    let copy = std::env::temp_dir().join(format!("bench-strip-{}", std::process::id()));
    let ok = Command::new("strip")
        .arg("-o")
        .arg(&copy)
        .arg(path)
        .status()
        .ok()?
        .success();
    let size = ok.then(|| file_mib(&copy)).flatten();
    let _ = std::fs::remove_file(&copy);
    size
}

fn dir_bytes(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                dir_bytes(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            }
        })
        .sum()
}

/// What the baseline would upload: Powertools and its own dependencies plus the handler (boto3
/// and botocore come with the Lambda Python runtime), in MiB.
pub fn python_package_mib(python: &Path, root: &Path) -> Option<f64> {
    let out = Command::new(python)
        .args([
            "-c",
            "import aws_lambda_powertools, os; print(os.path.dirname(os.path.dirname(aws_lambda_powertools.__file__)))",
        ])
        .output()
        .ok()?;
    let site = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let parts = ["aws_lambda_powertools", "jmespath", "typing_extensions.py"];
    let bytes: u64 = parts.iter().map(|p| dir_bytes(&site.join(p))).sum::<u64>()
        + dir_bytes(&root.join("bench/baseline/handler.py"));
    Some(bytes as f64 / (1024.0 * 1024.0))
}

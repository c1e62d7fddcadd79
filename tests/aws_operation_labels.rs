//! Every operation label the daemon reports is in the closed set that
//! `/metrics` declares up front (so a dashboard sees a zero series before
//! the first call), and every declared label is really used.

use std::path::Path;

fn sources(dir: &Path, found: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            found.push(std::fs::read_to_string(&path).expect("source is UTF-8"));
        }
    }
}

/// The string literals passed as the operation of `timed(..)` and `observe_aws_call(..)`.
fn reported_operations() -> Vec<String> {
    let mut texts = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut texts);
    let mut operations = Vec::new();
    for text in texts {
        for marker in ["timed(\"", "observe_aws_call(\""] {
            for (at, _) in text.match_indices(marker) {
                let rest = &text[at + marker.len()..];
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
                if !name.is_empty() {
                    operations.push(name);
                }
            }
        }
    }
    operations.sort();
    operations.dedup();
    operations
}

#[test]
fn every_reported_operation_is_declared_and_every_declared_one_is_reported() {
    let reported = reported_operations();
    let declared: Vec<String> = etl_medic::metrics::AWS_OPERATIONS.iter().map(|name| name.to_string()).collect();
    let undeclared: Vec<&String> = reported.iter().filter(|name| !declared.contains(name)).collect();
    assert!(undeclared.is_empty(), "reported but not in AWS_OPERATIONS: {undeclared:?}");
    let unused: Vec<&String> = declared.iter().filter(|name| !reported.contains(name)).collect();
    assert!(unused.is_empty(), "declared but never reported: {unused:?}");
}

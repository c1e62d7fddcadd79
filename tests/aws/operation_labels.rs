//! Every outside call is timed once, at the port border, under an operation
//! from the one declaration (`ports::Operation`): every declared operation is
//! really used by an adapter or the port decorator (so no dashboard series
//! stays at zero forever), and nothing outside the application reports a
//! call to the metrics itself.

use std::path::{Path, PathBuf};

use etl_medic::ports::Operation;

fn sources(dir: &Path, found: &mut Vec<(PathBuf, String)>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let text = std::fs::read_to_string(&path).expect("source is UTF-8");
            found.push((path, text));
        }
    }
}

fn source_tree() -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    sources(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut found);
    found
}

#[test]
fn every_declared_operation_is_used_outside_its_declaration() {
    let tree = source_tree();
    let unused: Vec<Operation> = Operation::ALL
        .into_iter()
        .filter(|operation| {
            let name = format!("Operation::{operation:?}");
            !tree.iter().any(|(path, text)| !path.ends_with("ports/operation.rs") && text.contains(&name))
        })
        .collect();
    assert!(unused.is_empty(), "declared but never reported: {unused:?}");
}

#[test]
fn only_the_application_reports_calls_to_the_metrics() {
    let callers: Vec<String> = source_tree()
        .into_iter()
        .filter(|(path, text)| {
            text.contains(".observe_aws_call(") && !path.ends_with("daemon/app.rs") && !path.ends_with("src/metrics.rs")
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(callers.is_empty(), "calls timed outside the port border: {callers:?}");
}

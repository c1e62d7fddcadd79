//! The README's `classify` and `decide` samples are what the binary prints.
//!
//! A sample is a command in a ```sh block piped into `cargo run -q --
//! classify|decide ...`, followed either by its output as `# ` comment lines
//! in the same block, or, when it pipes into `python3 -m json.tool`, by the
//! next ```json block. The test runs the same command with the built binary
//! from the repository root and compares. To regenerate the samples after a
//! change of the policy or the classifier, run
//! `ETL_MEDIC_UPDATE_README=1 cargo test --test cli readme`, which rewrites
//! them in README.md from the binary's output.

use std::process::Command;

const BINARY: &str = env!("CARGO_BIN_EXE_etl-medic");
const INVOCATION: &str = "cargo run -q -- ";

/// One sample: the shell command, and where its expected output is.
struct Sample {
    command: String,
    /// Line indexes (into the README's lines) of the expected output.
    expected_lines: std::ops::Range<usize>,
    /// The output is a pretty-printed JSON document, compared as JSON.
    json_document: bool,
}

fn readme_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")
}

/// The samples of `lines`, in order.
fn samples(lines: &[&str]) -> Vec<Sample> {
    let mut found = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        if lines[index].trim() != "```sh" {
            index += 1;
            continue;
        }
        let mut command = String::new();
        let mut cursor = index + 1;
        while cursor < lines.len() && !lines[cursor].starts_with("```") && !lines[cursor].starts_with("# ") {
            command.push_str(lines[cursor].trim_end_matches('\\').trim_end());
            command.push(' ');
            cursor += 1;
        }
        let command = command.trim().to_string();
        let is_sample = command.contains(&format!("{INVOCATION}classify"))
            || (command.contains(&format!("{INVOCATION}decide")) && !command.contains(" < "));
        if !is_sample {
            index = cursor;
            continue;
        }
        if command.ends_with("python3 -m json.tool") {
            let open =
                (cursor..lines.len()).find(|&line| lines[line].trim() == "```json").expect("a ```json block follows");
            let close = (open + 1..lines.len()).find(|&line| lines[line].starts_with("```")).expect("closed block");
            found.push(Sample { command, expected_lines: open + 1..close, json_document: true });
            index = close;
        } else {
            let start = cursor;
            while cursor < lines.len() && lines[cursor].starts_with("# ") {
                cursor += 1;
            }
            found.push(Sample { command, expected_lines: start..cursor, json_document: false });
            index = cursor;
        }
    }
    found
}

/// What the command prints, run with the built binary in place of `cargo run`.
fn output_of(command: &str) -> String {
    let shell = command.replace(INVOCATION, &format!("{BINARY} "));
    let output = Command::new("bash")
        .args(["-o", "pipefail", "-c", &shell])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("bash runs");
    assert!(output.status.success(), "{command}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8")
}

#[test]
fn every_classify_and_decide_sample_of_the_readme_is_what_the_binary_prints() {
    let text = std::fs::read_to_string(readme_path()).expect("README.md");
    let lines: Vec<&str> = text.lines().collect();
    let found = samples(&lines);
    assert!(found.len() >= 3, "the README shows classify and decide samples ({} found)", found.len());
    let update = std::env::var_os("ETL_MEDIC_UPDATE_README").is_some();
    let mut replacements: Vec<(std::ops::Range<usize>, Vec<String>)> = Vec::new();
    let mut stale = Vec::new();
    for sample in &found {
        let actual = output_of(&sample.command);
        let expected: Vec<&str> = lines[sample.expected_lines.clone()].to_vec();
        let (matches, fresh) = if sample.json_document {
            let documented: serde_json::Value = serde_json::from_str(&expected.join("\n")).expect("README JSON");
            let printed: serde_json::Value = serde_json::from_str(&actual).expect("JSON output");
            // The command's own pretty-printer (json.tool) keeps the binary's key order.
            (documented == printed, actual.lines().map(str::to_string).collect::<Vec<_>>())
        } else {
            let printed: Vec<String> = actual.lines().map(|line| format!("# {line}")).collect();
            (printed == expected, printed)
        };
        if !matches {
            stale.push(format!(
                "{}\n  README:\n{}\n  binary:\n{}",
                sample.command,
                expected.join("\n"),
                fresh.join("\n")
            ));
            replacements.push((sample.expected_lines.clone(), fresh));
        }
    }
    if update && !replacements.is_empty() {
        let mut rewritten: Vec<String> = lines.iter().map(|line| line.to_string()).collect();
        for (range, fresh) in replacements.into_iter().rev() {
            rewritten.splice(range, fresh);
        }
        std::fs::write(readme_path(), rewritten.join("\n") + "\n").expect("README.md written");
        return;
    }
    assert!(
        stale.is_empty(),
        "README samples differ from the binary (ETL_MEDIC_UPDATE_README=1 regenerates them):\n{}",
        stale.join("\n\n")
    );
}

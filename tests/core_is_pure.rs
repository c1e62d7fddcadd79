//! The decision core must stay pure (DESIGN.md, STYLE.md): no I/O, no async
//! runtime, no AWS types, no clock, no environment, no unseeded randomness.
//! This test reads the source of `src/core/` (outside `#[cfg(test)]`
//! blocks) and fails on any construct that would break that promise.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "async runtime"),
    ("async fn", "async code"),
    (".await", "async code"),
    ("aws_", "AWS SDK types"),
    ("std::fs", "file I/O"),
    ("std::net", "network I/O"),
    ("std::io::stdin", "terminal I/O"),
    ("std::io::stdout", "terminal I/O"),
    ("std::process", "processes"),
    ("std::env", "environment reads"),
    ("env::var", "environment reads"),
    ("SystemTime", "clock reads"),
    ("Instant", "clock reads"),
    ("Utc::now", "clock reads"),
    ("Local::now", "clock reads"),
    ("thread_rng", "unseeded randomness"),
    ("rand::rng()", "unseeded randomness"),
    ("rand::random", "unseeded randomness"),
    ("from_entropy", "unseeded randomness"),
    ("from_os_rng", "unseeded randomness"),
    ("OsRng", "unseeded randomness"),
    ("println!", "terminal I/O"),
    ("eprintln!", "terminal I/O"),
    ("std::thread", "threads"),
];

fn rust_files(directory: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(directory).expect("src/core is readable") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|extension| extension == "rs") {
            found.push(path);
        }
    }
}

/// The part of a file that is compiled into the library: everything before
/// its first `#[cfg(test)]` (test modules sit at the end of a file here).
fn library_part(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap_or(text)
}

#[test]
fn decision_core_has_no_io_clock_env_or_randomness() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    assert!(files.len() >= 5, "found the core's files");
    let mut violations = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (number, line) in library_part(&text).lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for (pattern, what) in FORBIDDEN {
                if code.contains(pattern) {
                    violations.push(format!("{}:{}: {what} ({pattern}): {}", file.display(), number + 1, line.trim()));
                }
            }
        }
    }
    assert!(violations.is_empty(), "the decision core must stay pure:\n{}", violations.join("\n"));
}

#[test]
fn chrono_is_built_without_its_clock() {
    let manifest = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).expect("manifest");
    let chrono_line = manifest.lines().find(|line| line.starts_with("chrono")).expect("chrono dependency");
    assert!(chrono_line.contains("default-features = false"), "{chrono_line}");
    assert!(!chrono_line.contains("\"clock\""), "{chrono_line}");
}

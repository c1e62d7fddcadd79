//! The decision core must stay pure (DESIGN.md, STYLE.md): no I/O, no async
//! runtime, no AWS types, no clock, no environment, no unseeded randomness.
//! This test reads the source of `src/core/` (outside `#[cfg(test)]`
//! blocks) and fails on any construct that would break that promise, and on
//! any circle of imports between its files: each file of the core may only
//! lean on files below it.

use std::collections::{BTreeMap, BTreeSet};
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

/// The core file a module path names (`diagnosis::drift` -> src/core/diagnosis/drift.rs),
/// taking the longest prefix of `segments` that is a file; `None` for the core's root.
fn module_file(core: &Path, segments: &[&str]) -> Option<PathBuf> {
    (1..=segments.len()).rev().find_map(|length| {
        let relative: PathBuf = segments[..length].iter().collect();
        let file = core.join(&relative).with_extension("rs");
        let directory = core.join(&relative).join("mod.rs");
        [file, directory].into_iter().find(|candidate| candidate.is_file())
    })
}

/// The module path of a core file: src/core/safety/rules.rs -> [safety, rules].
fn module_path(core: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(core).expect("a core file");
    let mut segments: Vec<String> = relative.iter().map(|part| part.to_string_lossy().into_owned()).collect();
    let last = segments.pop().unwrap_or_default();
    if last != "mod.rs" {
        segments.push(last.trim_end_matches(".rs").to_string());
    }
    segments
}

/// Every core file a file imports or names: `crate::core::a::b` paths (and
/// the items of their `{...}` groups, which may be modules), and paths
/// relative to the file's own module (`use rules::X` in a `mod.rs`).
fn imports(core: &Path, file: &Path, text: &str) -> BTreeSet<PathBuf> {
    let own_module = module_path(core, file);
    let is_directory_module = file.ends_with("mod.rs");
    let mut found = BTreeSet::new();
    for line in library_part(text).lines() {
        let code = line.split("//").next().unwrap_or("").trim();
        // `pub(in crate::core::x)` is a visibility, not an import.
        let code =
            code.strip_prefix("pub(in ").map_or(code, |rest| rest.split_once(')').map_or("", |(_, after)| after));
        for (at, _) in code.match_indices("crate::core::") {
            let rest = &code[at + "crate::core::".len()..];
            let path: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
            let segments: Vec<&str> = path.split("::").filter(|segment| !segment.is_empty()).collect();
            let group = rest[path.len()..].strip_prefix('{').and_then(|inside| inside.split('}').next());
            let mut targets = Vec::new();
            if let Some(group) = group {
                for item in group.split(',').map(|item| item.trim().split("::").next().unwrap_or("").trim()) {
                    let mut with_item = segments.clone();
                    with_item.push(item);
                    targets.push(module_file(core, &with_item));
                }
            } else {
                targets.push(module_file(core, &segments));
            }
            found.extend(targets.into_iter().flatten());
        }
        let relative = code.strip_prefix("pub use ").or_else(|| code.strip_prefix("use "));
        if let Some(relative) = relative.filter(|rest| !rest.starts_with("crate::") && is_directory_module) {
            let first = relative.split("::").next().unwrap_or("");
            let mut child: Vec<&str> = own_module.iter().map(String::as_str).collect();
            child.push(first);
            found.extend(module_file(core, &child).filter(|target| target.starts_with(core)));
        }
    }
    found.remove(file);
    found
}

#[test]
fn the_core_has_no_circle_of_imports() {
    let core = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/core");
    let mut files = Vec::new();
    rust_files(&core, &mut files);
    let graph: BTreeMap<PathBuf, BTreeSet<PathBuf>> = files
        .iter()
        .map(|file| (file.clone(), imports(&core, file, &std::fs::read_to_string(file).expect("readable source"))))
        .collect();
    assert!(graph.values().map(BTreeSet::len).sum::<usize>() > 20, "the import graph was read");
    // A file is in a circle when it can reach itself.
    let mut in_circles = Vec::new();
    for start in graph.keys() {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<&PathBuf> = graph[start].iter().collect();
        while let Some(next) = stack.pop() {
            if next == start {
                in_circles.push(start.strip_prefix(&core).unwrap_or(start).display().to_string());
                break;
            }
            if seen.insert(next) {
                stack.extend(graph.get(next).into_iter().flatten());
            }
        }
    }
    assert!(in_circles.is_empty(), "files of the core in a circle of imports: {in_circles:?}");
}

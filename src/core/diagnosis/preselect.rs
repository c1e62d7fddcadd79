//! Which classifier rules could match an evidence item: one pass of a
//! `RegexSet` without counted gaps, then each rule it names is confirmed by
//! its exact pattern (`classifier::analyse`).
//!
//! Why not one set of the exact patterns: some thirty rules allow a counted
//! gap (`load into table .{0,200} failed`), and in one automaton text that
//! keeps many gaps open at once (their keywords at irregular distances)
//! made the lazy DFA build a new state for nearly every byte, about 0.5 s
//! per 64 KiB incident in a release build; the cache it filled then slowed
//! the next incidents a hundredfold. So the set holds, for each top-level
//! alternative of a pattern, either the alternative itself when it has no
//! counted gap, or its *gate*: the part before its first gapped element
//! (`load into table `), which every match of the alternative starts with.
//! A rule whose gate would be empty is always confirmed. Everything in the
//! set is gap-free, the confirmations are one small automaton each, and
//! the hits are exactly those of the exact patterns
//! (`examples/hostile_cost.rs` measures both).

use regex::Error;
use regex::bytes::{RegexSet, RegexSetBuilder};

pub struct Preselector {
    set: RegexSet,
    /// The rule of each pattern of `set`.
    rule_of: Vec<usize>,
    /// Rules confirmed on every item (a gap at the start of an alternative).
    always: Vec<usize>,
}

impl Preselector {
    /// Over `patterns` (rule `i` is `patterns[i]`), ASCII case-insensitive
    /// like the rules themselves.
    pub fn new(patterns: &[&str], dfa_size_limit: usize) -> Result<Preselector, Error> {
        let mut gates: Vec<&str> = Vec::new();
        let mut rule_of = Vec::new();
        let mut always = Vec::new();
        for (rule, pattern) in patterns.iter().enumerate() {
            if !has_counted_gap(pattern) {
                gates.push(pattern);
                rule_of.push(rule);
                continue;
            }
            for alternative in alternatives(pattern) {
                match gate(alternative) {
                    Some(gate) => {
                        gates.push(gate);
                        rule_of.push(rule);
                    }
                    None => always.push(rule),
                }
            }
        }
        always.dedup();
        let set = RegexSetBuilder::new(&gates)
            .case_insensitive(true)
            .unicode(false)
            .dfa_size_limit(dfa_size_limit)
            .build()?;
        Ok(Preselector { set, rule_of, always })
    }

    /// The rules to confirm on `text`, ascending, each once.
    pub fn candidates(&self, text: &[u8]) -> Vec<usize> {
        let mut rules: Vec<usize> =
            self.set.matches(text).iter().filter_map(|index| self.rule_of.get(index).copied()).collect();
        rules.extend(self.always.iter().copied());
        rules.sort_unstable();
        rules.dedup();
        rules
    }
}

/// The top-level elements of a pattern: an atom (a character, an escape, a
/// class, a group) with its quantifier, as byte ranges.
fn elements(pattern: &str) -> Vec<(usize, usize, bool)> {
    let bytes = pattern.as_bytes();
    let mut found = Vec::new();
    let mut start = 0;
    while start < bytes.len() {
        let atom_end = atom_end(bytes, start);
        let (end, counted) = quantifier_end(bytes, atom_end);
        let group = bytes[start] == b'(' && atom_end >= start + 2;
        let gapped = counted || (group && has_counted_gap(&pattern[start + 1..atom_end - 1]));
        found.push((start, end, gapped));
        start = end;
    }
    found
}

/// Where the atom starting at `start` ends.
fn atom_end(bytes: &[u8], start: usize) -> usize {
    match bytes[start] {
        b'\\' => (start + 2).min(bytes.len()),
        b'[' => class_end(bytes, start),
        b'(' => {
            let mut depth = 0_usize;
            let mut index = start;
            while index < bytes.len() {
                match bytes[index] {
                    b'\\' => index += 1,
                    b'[' => index = class_end(bytes, index) - 1,
                    b'(' => depth += 1,
                    b')' => {
                        depth -= 1;
                        if depth == 0 {
                            return index + 1;
                        }
                    }
                    _ => {}
                }
                index += 1;
            }
            bytes.len()
        }
        _ => start + 1,
    }
}

/// Where the class opening at `start` ends (after its `]`); classes nest,
/// and a `]` first in a class is literal.
fn class_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0_usize;
    let mut index = start;
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 1,
            b'[' => {
                depth += 1;
                if bytes.get(index + 1) == Some(&b'^') {
                    index += 1;
                }
                if bytes.get(index + 1) == Some(&b']') {
                    index += 1;
                }
            }
            b']' => {
                depth -= 1;
                if depth == 0 {
                    return index + 1;
                }
            }
            _ => {}
        }
        index += 1;
    }
    bytes.len()
}

/// Where the quantifier after an atom ends, and whether it is counted.
fn quantifier_end(bytes: &[u8], at: usize) -> (usize, bool) {
    let (end, counted) = match bytes.get(at) {
        Some(b'*' | b'+' | b'?') => (at + 1, false),
        Some(b'{') => match counted_repetition(&bytes[at..]) {
            Some(length) => (at + length, true),
            None => (at, false),
        },
        _ => (at, false),
    };
    let lazy = end > at && bytes.get(end) == Some(&b'?');
    (if lazy { end + 1 } else { end }, counted)
}

/// The length of `{m}`, `{m,}` or `{m,n}` at the start of `bytes`.
fn counted_repetition(bytes: &[u8]) -> Option<usize> {
    let close = bytes.iter().position(|byte| *byte == b'}')?;
    let inside = &bytes[1..close];
    let counted = inside.first().is_some_and(u8::is_ascii_digit)
        && inside.iter().all(|byte| byte.is_ascii_digit() || *byte == b',');
    counted.then_some(close + 1)
}

/// Whether `pattern` repeats something a counted number of times anywhere.
pub fn has_counted_gap(pattern: &str) -> bool {
    elements(pattern).iter().any(|(_, _, gapped)| *gapped)
}

/// The top-level alternatives of `pattern`.
fn alternatives(pattern: &str) -> Vec<&str> {
    let mut split = Vec::new();
    let mut start = 0;
    for (element_start, element_end, _) in elements(pattern) {
        if &pattern[element_start..element_end] == "|" {
            split.push(&pattern[start..element_start]);
            start = element_end;
        }
    }
    split.push(&pattern[start..]);
    split
}

/// The alternative itself when it has no counted gap, else the part before
/// its first gapped element; `None` when that part is empty.
fn gate(alternative: &str) -> Option<&str> {
    let end = elements(alternative)
        .into_iter()
        .find(|(_, _, gapped)| *gapped)
        .map_or(alternative.len(), |(start, _, _)| start);
    let gate = &alternative[..end];
    (!gate.is_empty()).then_some(gate)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gates_are_the_part_before_the_first_counted_gap_of_each_alternative() {
        assert!(has_counted_gap(r"cannot resolve .{0,100}given") && has_counted_gap(r"(a(\d{3}))"));
        assert!(!has_counted_gap(r"[{}$<>]|\{0,3\}|a{b}|[a-z]+\S*?"), "classes, escapes and other braces");
        assert_eq!(
            alternatives(r"load into table .{0,200} failed|stl_load_errors|(a|b)[|]\|c"),
            vec![r"load into table .{0,200} failed", "stl_load_errors", r"(a|b)[|]\|c"]
        );
        assert_eq!(gate(r"load into table .{0,200} failed"), Some("load into table "));
        assert_eq!(
            gate(r"lost task \S+ in stage \S+ (\([^)]{0,200}\) ?){1,2}: ?x"),
            Some(r"lost task \S+ in stage \S+ ")
        );
        assert_eq!(gate(r"cannot cast '[^']{0,200}' to"), Some("cannot cast '"));
        assert_eq!(gate(r"stl_load_errors"), Some("stl_load_errors"));
        assert_eq!(gate(r".{0,20}x"), None);
    }

    #[test]
    fn over_the_labelled_corpora_every_rule_that_matches_is_a_candidate() {
        use crate::core::diagnosis::patterns::CLASSIFIER_RULES;
        let patterns: Vec<&str> = CLASSIFIER_RULES.iter().map(|rule| rule.pattern).collect();
        let preselector = Preselector::new(&patterns, 32 << 20).expect("the rules compile");
        assert!(preselector.always.is_empty(), "every gapped alternative has a gate: {:?}", preselector.always);
        let exact: Vec<regex::bytes::Regex> = patterns
            .iter()
            .map(|pattern| regex::bytes::RegexBuilder::new(pattern).case_insensitive(true).unicode(false).build())
            .collect::<Result<_, _>>()
            .expect("the rules compile");
        let corpora = [
            include_str!("../../../tests/fixtures/glue_errors_dev.jsonl"),
            include_str!("../../../tests/fixtures/glue_errors_extra.jsonl"),
            include_str!("../../../tests/fixtures/glue_errors_blind.jsonl"),
            include_str!("../../../tests/fixtures/glue_errors_blind2.jsonl"),
        ];
        let mut matched = 0;
        for line in corpora.iter().flat_map(|corpus| corpus.lines()) {
            let record: serde_json::Value = serde_json::from_str(line).expect("corpus lines are JSON");
            let text = record["text"].as_str().unwrap_or_default().as_bytes();
            let candidates = preselector.candidates(text);
            for (rule, regex) in exact.iter().enumerate() {
                if regex.is_match(text) {
                    matched += 1;
                    assert!(
                        candidates.contains(&rule),
                        "{} matches but was not preselected",
                        CLASSIFIER_RULES[rule].name
                    );
                }
            }
        }
        assert!(matched > 400, "the corpora exercise the rules ({matched} matches)");
    }

    #[test]
    fn candidates_include_every_rule_that_matches() {
        let patterns = [r"load into table .{0,20} failed|stl_load_errors", r"\d{3} errors", r"plain"];
        let preselector = Preselector::new(&patterns, 1 << 20).expect("compiles");
        assert_eq!(preselector.candidates(b"load into table x failed; plain"), vec![0, 1, 2]);
        assert_eq!(preselector.candidates(b"nothing here"), vec![1], "a gap at the start: always confirmed");
        assert_eq!(preselector.candidates(b"STL_LOAD_ERRORS"), vec![0, 1]);
    }
}

//! Literal gates of the rule table: for each rule, words that must appear in
//! a text for the rule to be able to match it.
//!
//! Matching every line against all rules at once with one `RegexSet` made
//! the set's lazy DFA multiply the states of the rules' windows (`.{0,80}`,
//! `\S*`) and optional parts: on varied real messages the cache thrashed and
//! the regex engine fell back to its slow path (about 1 ms per message, and
//! a cache of tens of MiB per thread). A set of plain literals has no such
//! product: its DFA is a trie. So the classifier first runs a set of
//! literals (the gates), and then only the rules whose gate fired, each with
//! its own small regex.
//!
//! A gate is derived from the rule's pattern, not written by hand, so a rule
//! cannot be given a wrong one: every top-level alternative (branch) of the
//! pattern yields the longest run of characters it always contains (outside
//! groups, classes and optional parts). The rule can match only if one of
//! its branches' runs occurs, so gating never loses a match. A branch with no
//! run of at least `MIN_GATE_CHARS` makes its rule ungated: it runs on every
//! text (none of the shipped rules is; a test keeps it so).

/// Shortest literal accepted as a gate: shorter ones would fire on most text.
pub const MIN_GATE_CHARS: usize = 3;

/// The gate literals of `pattern` (lowercase), one per top-level branch, or
/// `None` when some branch has no literal of `MIN_GATE_CHARS` characters.
pub fn gate_literals(pattern: &str) -> Option<Vec<String>> {
    let mut literals: Vec<String> = Vec::new();
    for branch in top_level_branches(pattern) {
        let literal = longest_required_literal(branch)?;
        if !literals.contains(&literal) {
            literals.push(literal);
        }
    }
    Some(literals)
}

/// The branches of the top-level alternation of `pattern`.
fn top_level_branches(pattern: &str) -> Vec<&str> {
    let bytes = pattern.as_bytes();
    let mut branches = Vec::new();
    let (mut depth, mut in_class, mut start, mut index) = (0usize, false, 0usize, 0usize);
    while index < bytes.len() {
        match bytes[index] {
            b'\\' => index += 1,
            b'[' if !in_class => in_class = true,
            b']' if in_class => in_class = false,
            b'(' if !in_class => depth += 1,
            b')' if !in_class => depth = depth.saturating_sub(1),
            b'|' if !in_class && depth == 0 => {
                branches.push(&pattern[start..index]);
                start = index + 1;
            }
            _ => {}
        }
        index += 1;
    }
    branches.push(&pattern[start..]);
    branches
}

/// The longest run of literal characters that every match of `branch`
/// contains, lowercased; `None` if shorter than `MIN_GATE_CHARS`.
fn longest_required_literal(branch: &str) -> Option<String> {
    let characters: Vec<char> = branch.chars().collect();
    let mut best = String::new();
    let mut run = String::new();
    let mut index = 0;
    let close_run = |run: &mut String, best: &mut String| {
        let trimmed = run.trim();
        if trimmed.chars().count() > best.chars().count() {
            *best = trimmed.to_string();
        }
        run.clear();
    };
    while index < characters.len() {
        let (literal, next) = match characters[index] {
            '\\' => match characters.get(index + 1) {
                Some(escaped) if escaped.is_ascii_alphanumeric() => (None, index + 2),
                Some(escaped) => (Some(*escaped), index + 2),
                None => (None, index + 1),
            },
            '(' => (None, skip_group(&characters, index)),
            '[' => (None, skip_class(&characters, index)),
            '.' | '^' | '$' => (None, index + 1),
            character => (Some(character), index + 1),
        };
        let quantifier = characters.get(next).copied();
        let optional = match quantifier {
            Some('?') | Some('*') => true,
            Some('{') => characters.get(next + 1) == Some(&'0'),
            _ => false,
        };
        let repeated = matches!(quantifier, Some('?' | '*' | '+' | '{'));
        match literal {
            Some(character) if !optional => {
                run.extend(character.to_lowercase());
                if repeated {
                    close_run(&mut run, &mut best);
                }
            }
            _ => close_run(&mut run, &mut best),
        }
        index = if repeated { skip_quantifier(&characters, next) } else { next };
    }
    close_run(&mut run, &mut best);
    (best.chars().count() >= MIN_GATE_CHARS).then_some(best)
}

/// Index just past the group opening at `open`.
fn skip_group(characters: &[char], open: usize) -> usize {
    let (mut depth, mut in_class, mut index) = (0usize, false, open);
    while index < characters.len() {
        match characters[index] {
            '\\' => index += 1,
            '[' if !in_class => in_class = true,
            ']' if in_class => in_class = false,
            '(' if !in_class => depth += 1,
            ')' if !in_class => {
                depth -= 1;
                if depth == 0 {
                    return index + 1;
                }
            }
            _ => {}
        }
        index += 1;
    }
    characters.len()
}

/// Index just past the character class opening at `open`.
fn skip_class(characters: &[char], open: usize) -> usize {
    let mut index = open + 1;
    if characters.get(index) == Some(&'^') {
        index += 1;
    }
    // A `]` right after the opening (or after `^`) is a literal member.
    if characters.get(index) == Some(&']') {
        index += 1;
    }
    while index < characters.len() {
        match characters[index] {
            '\\' => index += 1,
            ']' => return index + 1,
            _ => {}
        }
        index += 1;
    }
    characters.len()
}

/// Index just past the quantifier starting at `start` (and its lazy `?`).
fn skip_quantifier(characters: &[char], start: usize) -> usize {
    let mut index = start;
    if characters.get(index) == Some(&'{') {
        while index < characters.len() && characters[index] != '}' {
            index += 1;
        }
    }
    index += 1;
    if characters.get(index) == Some(&'?') {
        index += 1;
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gates(pattern: &str) -> Vec<String> {
        gate_literals(pattern).unwrap_or_default()
    }

    #[test]
    fn each_branch_gives_its_longest_required_run() {
        assert_eq!(
            gates(r"cannot resolve .{0,100}given input columns|Unresolved_Column"),
            ["given input columns", "unresolved_column"]
        );
        assert_eq!(gates(r"exceeds? max retr"), ["max retr"]);
        assert_eq!(gates(r"exit (code|status)( is)?[:= ]*(137|143)\b"), ["exit"]);
        assert_eq!(gates(r"status code: 403|\(403\)"), ["status code: 403", "(403)"]);
    }

    #[test]
    fn optional_and_repeated_characters_end_a_run() {
        assert_eq!(gates(r"out[ _-]?of[ _-]?memory"), ["memory"]);
        assert_eq!(gates(r"too+ many"), ["many"]);
        assert_eq!(gates(r"abcd{0,2}efgh"), ["efgh"]);
        assert_eq!(gates(r"abcd{1,2}efg"), ["abcd"]);
    }

    #[test]
    fn alternations_inside_groups_do_not_split_the_rule() {
        assert_eq!(gates(r"(not|never) found in (the )?schema"), ["found in"]);
    }

    #[test]
    fn a_branch_without_a_literal_leaves_the_rule_ungated() {
        assert_eq!(gate_literals(r"\w+ died|(a|b)\d+"), None);
        assert_eq!(gate_literals(r"\bkeyerror\b|\bvalueerror\b"), Some(vec!["keyerror".into(), "valueerror".into()]));
    }

    #[test]
    fn classes_with_brackets_and_escapes_are_skipped_whole() {
        assert_eq!(gates(r"column: \[[^\]]+\],? expected"), ["column: ["]);
        assert_eq!(gates(r"[]x] foobar"), ["foobar"]);
    }
}

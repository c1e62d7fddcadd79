//! The features the learned second opinion reads from a text: normalised
//! words, word pairs, exception class names, Glue's error category, and the
//! last exception of a chain.
//!
//! Rules read phrases; the model reads vocabulary, so that a phrasing no rule
//! knows still counts by the words it shares with labelled messages. What
//! is kept, and why:
//! - words are lowercased runs of letters and digits; an identifier in
//!   camel case (`OutOfMemoryError`) or snake case (`ACCESS_DENIED`) gives
//!   itself and its parts, so `KafkaTimeoutError` shares `timeout` with
//!   "timed out" messages and keeps its own name;
//! - numbers are noise (timestamps, sizes, ids) except three-digit codes
//!   (HTTP 403/404/503, exit 137/143), which are kept; tokens mixing three or
//!   more digits with letters are ids or hashes and dropped;
//! - adjacent word pairs ("not found", "timed out", "no space") carry the
//!   phrases that single words lose;
//! - `category:<name>` is Glue's "Error Category", and `root:<name>` the
//!   last exception or error class named in the text (the end of a Java
//!   "Caused by" chain, the exception line of a Python traceback).
//!
//! Each feature counts once per text (presence, not frequency): a stack
//! trace repeating a frame must not outvote the one line that says why.

/// Longest token kept; longer runs are hashes, paths or base64.
const MAX_TOKEN_CHARS: usize = 40;
/// Bytes of a text read for features (the classifier bounds its input already).
const MAX_FEATURE_BYTES: usize = 16 * 1024;

/// The distinct features of `text`, sorted.
pub fn features(text: &str) -> Vec<String> {
    let text = &text[..crate::core::diagnosis::text::floor_char_boundary(text, MAX_FEATURE_BYTES)];
    let mut found: Vec<String> = Vec::new();
    let mut previous_word: Option<String> = None;
    let mut last_exception: Option<String> = None;
    for raw in raw_words(text) {
        let whole = raw.to_ascii_lowercase();
        if !keep(&whole) {
            previous_word = None;
            continue;
        }
        for part in parts(raw) {
            if part != whole && keep(&part) {
                found.push(part);
            }
        }
        if whole.len() > 5 && (whole.ends_with("exception") || whole.ends_with("error")) {
            last_exception = Some(whole.clone());
        }
        if let Some(previous) = previous_word.take() {
            found.push(format!("{previous} {whole}"));
        }
        previous_word = Some(whole.clone());
        found.push(whole);
    }
    if let Some(category) = glue_error_category(text) {
        found.push(format!("category:{category}"));
    }
    if let Some(exception) = last_exception {
        found.push(format!("root:{exception}"));
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Runs of ASCII letters, digits, `_` and `$` (JVM inner classes).
fn raw_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|character: char| !(character.is_ascii_alphanumeric() || character == '_' || character == '$'))
        .flat_map(|word| word.split('$'))
        .filter(|word| !word.is_empty())
}

/// The snake-case and camel-case parts of an identifier, lowercased.
fn parts(raw: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    for piece in raw.split('_').filter(|piece| !piece.is_empty()) {
        let characters: Vec<char> = piece.chars().collect();
        let mut current = String::new();
        for (index, character) in characters.iter().enumerate() {
            let starts_word = character.is_ascii_uppercase()
                && index > 0
                && (characters[index - 1].is_ascii_lowercase()
                    || characters.get(index + 1).is_some_and(|next| next.is_ascii_lowercase())
                        && characters[index - 1].is_ascii_uppercase());
            if starts_word && !current.is_empty() {
                parts.push(current.to_ascii_lowercase());
                current.clear();
            }
            current.push(*character);
        }
        if !current.is_empty() {
            parts.push(current.to_ascii_lowercase());
        }
    }
    parts
}

/// Whether a lowercased token is a word worth counting.
fn keep(token: &str) -> bool {
    let length = token.len();
    if !(2..=MAX_TOKEN_CHARS).contains(&length) {
        return false;
    }
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    if digits == length {
        return length == 3;
    }
    digits < 3
}

/// Glue's "Error Category: NAME", lowercased.
fn glue_error_category(text: &str) -> Option<String> {
    let lowercase = text.to_ascii_lowercase();
    let start = lowercase.find("error category:")? + "error category:".len();
    let name: String = lowercase[start..]
        .trim_start()
        .chars()
        .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
        .collect();
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, feature: &str) -> bool {
        features(text).iter().any(|found| found == feature)
    }

    #[test]
    fn identifiers_give_themselves_and_their_parts() {
        let found = features("java.lang.OutOfMemoryError: Java heap space");
        for expected in ["outofmemoryerror", "out", "memory", "heap space", "java", "root:outofmemoryerror"] {
            assert!(found.iter().any(|feature| feature == expected), "{expected} missing from {found:?}");
        }
        assert!(has("ACCESS_DENIED", "access") && has("ACCESS_DENIED", "access_denied"));
        assert!(has("S3AFileSystem", "file") && has("HTTPConnection", "connection"));
    }

    #[test]
    fn numbers_and_ids_are_dropped_but_codes_are_kept() {
        let found = features("Exit status: 137 at 2026-11-29 jr_0a1b2c3d4e5f run 12345 HTTP 403");
        assert!(found.iter().any(|feature| feature == "137") && found.iter().any(|feature| feature == "403"));
        assert!(!found.iter().any(|feature| feature.contains("12345") || feature.contains("0a1b2c")));
        assert!(!found.iter().any(|feature| feature == "2026"));
    }

    #[test]
    fn pairs_do_not_span_dropped_tokens() {
        assert!(has("table not found", "not found"));
        assert!(!has("table 98765 found", "table found"));
    }

    #[test]
    fn glue_category_and_the_last_exception_are_features() {
        let text = "Error Category: PERMISSION_ERROR; Py4JJavaError ... Caused by: java.io.FileNotFoundException: x";
        assert!(has(text, "category:permission_error"));
        assert!(has(text, "root:filenotfoundexception"));
    }

    #[test]
    fn each_feature_counts_once_and_the_output_is_sorted() {
        let found = features("error error error Error");
        assert_eq!(found, ["error", "error error"]);
    }
}

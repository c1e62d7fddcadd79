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

/// The distinct features of `text`, sorted (training, and naming features in signals).
pub fn features(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    visit(text, |pieces| found.push(pieces.concat()));
    found.sort_unstable();
    found.dedup();
    found
}

/// The distinct features of `text` as 64-bit hashes (`hash_feature` of each
/// string `features` gives), sorted: the decision path, which allocates no
/// string per word.
pub fn feature_hashes(text: &str) -> Vec<u64> {
    let mut found: Vec<u64> = Vec::new();
    visit(text, |pieces| found.push(hash_pieces(pieces)));
    found.sort_unstable();
    found.dedup();
    found
}

/// The hash of one feature, as `feature_hashes` computes it.
pub fn hash_feature(feature: &str) -> u64 {
    hash_pieces(&[feature])
}

/// FNV-1a over the concatenation of `pieces`.
fn hash_pieces(pieces: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for piece in pieces {
        for byte in piece.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// Call `emit` with the pieces of every feature of `text` (duplicates included).
fn visit(text: &str, mut emit: impl FnMut(&[&str])) {
    let text = &text[..crate::core::diagnosis::text::floor_char_boundary(text, MAX_FEATURE_BYTES)];
    let mut whole = String::with_capacity(64);
    let mut previous = String::with_capacity(64);
    let mut has_previous = false;
    let mut part = String::with_capacity(64);
    let mut last_exception: Option<&str> = None;
    for raw in raw_words(text) {
        whole.clear();
        whole.push_str(raw);
        whole.make_ascii_lowercase();
        if !keep(&whole) {
            has_previous = false;
            continue;
        }
        let has_parts = raw.contains('_') || raw.bytes().skip(1).any(|byte| byte.is_ascii_uppercase());
        if has_parts {
            for_each_part(raw, &mut part, |lowercase_part| {
                if lowercase_part != whole && keep(lowercase_part) {
                    emit(&[lowercase_part]);
                }
            });
        }
        if whole.len() > 5 && (whole.ends_with("exception") || whole.ends_with("error")) {
            last_exception = Some(raw);
        }
        if has_previous {
            emit(&[&previous, " ", &whole]);
        }
        emit(&[&whole]);
        std::mem::swap(&mut previous, &mut whole);
        has_previous = true;
    }
    if let Some(category) = glue_error_category(text) {
        emit(&["category:", &category]);
    }
    if let Some(exception) = last_exception {
        emit(&["root:", &exception.to_ascii_lowercase()]);
    }
}

/// Runs of ASCII letters, digits, `_` and `$` (JVM inner classes).
fn raw_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(|character: char| !(character.is_ascii_alphanumeric() || character == '_' || character == '$'))
        .flat_map(|word| word.split('$'))
        .filter(|word| !word.is_empty())
}

/// Call `emit` with each snake-case and camel-case part of an identifier,
/// lowercased into `buffer`.
fn for_each_part(raw: &str, buffer: &mut String, mut emit: impl FnMut(&str)) {
    for piece in raw.split('_').filter(|piece| !piece.is_empty()) {
        let bytes = piece.as_bytes();
        buffer.clear();
        for (index, byte) in bytes.iter().enumerate() {
            let starts_word = byte.is_ascii_uppercase()
                && index > 0
                && (bytes[index - 1].is_ascii_lowercase()
                    || bytes.get(index + 1).is_some_and(u8::is_ascii_lowercase)
                        && bytes[index - 1].is_ascii_uppercase());
            if starts_word && !buffer.is_empty() {
                emit(buffer);
                buffer.clear();
            }
            buffer.push(char::from(byte.to_ascii_lowercase()));
        }
        if !buffer.is_empty() {
            emit(buffer);
        }
    }
}

/// Whether a lowercased token is a word worth counting.
fn keep(token: &str) -> bool {
    let length = token.len();
    if !(2..=MAX_TOKEN_CHARS).contains(&length) {
        return false;
    }
    let bytes = token.as_bytes();
    if !bytes[0].is_ascii_digit() && !bytes[length - 1].is_ascii_digit() && length < 4 {
        return true;
    }
    let digits = bytes.iter().filter(|byte| byte.is_ascii_digit()).count();
    if digits == length {
        return length == 3;
    }
    digits < 3
}

/// Glue's "Error Category: NAME", lowercased.
fn glue_error_category(text: &str) -> Option<String> {
    if !["ategory", "ATEGORY"].iter().any(|cue| text.contains(cue)) {
        return None;
    }
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
    fn hashes_are_the_hashes_of_the_string_features() {
        let text = "py4j.protocol.Py4JJavaError: Caused by: java.io.FileNotFoundException: No such file; Error Category: X_ERROR";
        let mut from_strings: Vec<u64> = features(text).iter().map(|feature| hash_feature(feature)).collect();
        from_strings.sort_unstable();
        assert_eq!(feature_hashes(text), from_strings);
    }

    #[test]
    fn each_feature_counts_once_and_the_output_is_sorted() {
        let found = features("error error error Error");
        assert_eq!(found, ["error", "error error"]);
    }
}

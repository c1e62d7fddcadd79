//! The features the learned model reads from a text: normalised words, word
//! pairs, the parts of identifiers, standard error codes, Glue's error
//! category, and the last exception of a chain.
//!
//! Rules read phrases; the model reads vocabulary, so that a phrasing no rule
//! knows still counts by the words it shares with labelled messages. What
//! is kept, and why:
//! - words are lowercased runs of letters and digits; an identifier in
//!   camel case (`OutOfMemoryError`) or snake case (`ACCESS_DENIED`) gives
//!   itself and its parts, so `KafkaTimeoutError` shares `timeout` with
//!   "timed out" messages and keeps its own name; a dotted name
//!   (`java.net.SocketTimeoutException`) gives each of its segments;
//! - numbers are noise (timestamps, sizes, ids) except three-digit codes
//!   (HTTP 403/404/503, exit 137/143), which are kept; tokens mixing three or
//!   more digits with letters are ids or hashes and dropped;
//! - adjacent word pairs ("not found", "timed out", "no space") carry the
//!   phrases that single words lose;
//! - standard codes are features of their own and of their family, because
//!   they are the same whatever the wording around them: a SQLSTATE
//!   (`sqlstate:42703` and its class `sqlstate:42`, after "SQLSTATE", "SQL
//!   state" or in MySQL's `ERROR 1045 (28000)`), an Oracle `ora:942`, a MySQL
//!   error number `mysql:1045`, and an HTTP status after "status", "code" or
//!   "HTTP" (`http:403` and `http:4xx`);
//! - `category:<name>` is Glue's "Error Category", and `root:<name>` the
//!   last exception or error class named in the text (the end of a Java
//!   "Caused by" chain, the exception line of a Python traceback, the JVM
//!   exception after a py4j wrapper).
//!
//! Each feature counts once per text (presence, not frequency): a stack
//! trace repeating a frame must not outvote the one line that says why.
//! Every feature carries the span of the text it was read from, so that a
//! signal can quote the words that weighed most without a second pass.

/// Longest token kept; longer runs are hashes, paths or base64.
const MAX_TOKEN_CHARS: usize = 40;
/// Bytes of a text read for features (the classifier bounds its input already).
const MAX_FEATURE_BYTES: usize = 16 * 1024;

/// One feature of a text: its hash (`hash_feature` of its string) and the
/// byte span of the text it was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct FeatureHit {
    pub hash: u64,
    pub start: u32,
    pub end: u32,
}

/// The distinct features of `text`, sorted (training, tests).
pub fn features(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    visit(text, |pieces, _, _, _, _| found.push(pieces.concat()));
    found.sort_unstable();
    found.dedup();
    found
}

/// The distinct features of `text` as hashes with the span of their first
/// occurrence, sorted by hash: the decision path, which allocates no string
/// per word.
pub fn feature_hits(text: &str) -> Vec<FeatureHit> {
    let mut found: Vec<FeatureHit> = Vec::new();
    visit(text, |pieces, known, state, start, end| {
        let hash = continue_hash(state, &pieces[known..]);
        found.push(FeatureHit { hash, start: start as u32, end: end as u32 })
    });
    found.sort_unstable();
    found.dedup_by_key(|hit| hit.hash);
    found
}

/// The distinct feature hashes of `text`, sorted.
#[cfg(test)]
pub fn feature_hashes(text: &str) -> Vec<u64> {
    feature_hits(text).into_iter().map(|hit| hit.hash).collect()
}

/// The hash of one feature, as `feature_hits` computes it.
pub fn hash_feature(feature: &str) -> u64 {
    hash_pieces(&[feature])
}

/// FNV-1a over the concatenation of `pieces`.
fn hash_pieces(pieces: &[&str]) -> u64 {
    continue_hash(FNV_OFFSET, pieces)
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a continued from `hash` (the state after some text) over `pieces`.
fn continue_hash(mut hash: u64, pieces: &[&str]) -> u64 {
    for piece in pieces {
        for byte in piece.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    hash
}

/// What the words just before the current one announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    None,
    /// "sql": "state" may follow.
    Sql,
    /// "sqlstate", "sql state": a five-character SQLSTATE follows.
    SqlState,
    /// "ora": an Oracle error number follows.
    Oracle,
    /// "error"/"errno": a MySQL error number may follow.
    ErrorNumber,
    /// A MySQL error number was just read: its SQLSTATE may follow.
    AfterErrorNumber,
    /// "status", "code", "http", "statuscode": an HTTP status may follow.
    Status,
}

/// Call `emit` with the pieces and the span of every feature of `text`
/// (duplicates included), and the FNV-1a state after the first `known`
/// pieces (`FNV_OFFSET` when `known` is 0): a word pair continues the hash of
/// its first word instead of hashing it again.
fn visit(text: &str, mut emit: impl FnMut(&[&str], usize, u64, usize, usize)) {
    let text = &text[..crate::core::diagnosis::text::floor_char_boundary(text, MAX_FEATURE_BYTES)];
    let mut whole = String::with_capacity(64);
    let mut previous = String::with_capacity(64);
    let mut previous_start = 0usize;
    let mut previous_hash = FNV_OFFSET;
    let mut has_previous = false;
    let mut part = String::with_capacity(64);
    let mut last_exception: Option<(usize, &str)> = None;
    let mut cue = Cue::None;
    for (start, raw) in raw_words(text) {
        let end = start + raw.len();
        whole.clear();
        whole.push_str(raw);
        whole.make_ascii_lowercase();
        cue = read_code(cue, &whole, start, end, &mut emit);
        if !keep(&whole) {
            has_previous = false;
            continue;
        }
        let has_parts = raw.contains('_') || raw.bytes().skip(1).any(|byte| byte.is_ascii_uppercase());
        if has_parts {
            for_each_part(raw, &mut part, |lowercase_part| {
                if lowercase_part != whole && keep(lowercase_part) {
                    emit(&[lowercase_part], 0, FNV_OFFSET, start, end);
                }
            });
        }
        // An exception class is one identifier (`FileNotFoundException`); a
        // snake-case name ending in `_ERROR` is a category or code, not a class.
        if whole.len() > 5 && !raw.contains('_') && (whole.ends_with("exception") || whole.ends_with("error")) {
            last_exception = Some((start, raw));
        }
        let whole_hash = hash_pieces(&[&whole]);
        if has_previous {
            emit(&[&previous, " ", &whole], 1, previous_hash, previous_start, end);
        }
        emit(&[&whole], 1, whole_hash, start, end);
        std::mem::swap(&mut previous, &mut whole);
        previous_hash = whole_hash;
        previous_start = start;
        has_previous = true;
    }
    if let Some((start, category)) = glue_error_category(text) {
        emit(&["category:", &category], 0, FNV_OFFSET, start, start + category.len());
    }
    if let Some((start, exception)) = last_exception {
        emit(&["root:", &exception.to_ascii_lowercase()], 0, FNV_OFFSET, start, start + exception.len());
    }
}

/// Emit the code features a word gives after `cue`, and return the cue it sets.
fn read_code(
    cue: Cue,
    word: &str,
    start: usize,
    end: usize,
    emit: &mut impl FnMut(&[&str], usize, u64, usize, usize),
) -> Cue {
    let digits = word.bytes().all(|byte| byte.is_ascii_digit());
    match cue {
        Cue::SqlState | Cue::AfterErrorNumber if is_sqlstate(word) => {
            emit(&["sqlstate:", word], 0, FNV_OFFSET, start, end);
            emit(&["sqlstate:", &word[..2]], 0, FNV_OFFSET, start, end);
            return Cue::None;
        }
        Cue::Oracle if digits && (1..=5).contains(&word.len()) => {
            emit(&["ora:", word.trim_start_matches('0')], 0, FNV_OFFSET, start, end);
            return Cue::None;
        }
        Cue::ErrorNumber if digits && word.len() == 4 => {
            emit(&["mysql:", word], 0, FNV_OFFSET, start, end);
            return Cue::AfterErrorNumber;
        }
        Cue::Status if digits && word.len() == 3 && matches!(word.as_bytes()[0], b'1'..=b'5') => {
            emit(&["http:", word], 0, FNV_OFFSET, start, end);
            emit(&["http:", &word[..1], "xx"], 0, FNV_OFFSET, start, end);
            return Cue::None;
        }
        _ => {}
    }
    match word {
        "sqlstate" => Cue::SqlState,
        "state" if cue == Cue::Sql => Cue::SqlState,
        "sql" => Cue::Sql,
        "ora" => Cue::Oracle,
        "error" | "errno" => Cue::ErrorNumber,
        "status" | "code" | "http" | "statuscode" => Cue::Status,
        _ => Cue::None,
    }
}

/// A SQLSTATE: five letters or digits, at least three of them digits
/// (`42703`, `08s01`, `hy000`, `22p02`).
fn is_sqlstate(word: &str) -> bool {
    word.len() == 5
        && word.bytes().all(|byte| byte.is_ascii_alphanumeric())
        && word.bytes().filter(u8::is_ascii_digit).count() >= 3
}

/// Runs of ASCII letters, digits and `_`, with their byte offsets (`$`
/// separates JVM inner classes, `.` package segments).
fn raw_words(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let bytes = text.as_bytes();
    let mut index = 0usize;
    std::iter::from_fn(move || {
        while index < bytes.len() && !is_word_byte(bytes[index]) {
            index += 1;
        }
        if index >= bytes.len() {
            return None;
        }
        let start = index;
        while index < bytes.len() && is_word_byte(bytes[index]) {
            index += 1;
        }
        // Both ends sit next to ASCII bytes (or the text's ends): char boundaries.
        Some((start, &text[start..index]))
    })
}

fn is_word_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
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

/// Glue's "Error Category: NAME", lowercased, with the byte offset of the name.
fn glue_error_category(text: &str) -> Option<(usize, String)> {
    if !["ategory", "ATEGORY"].iter().any(|cue| text.contains(cue)) {
        return None;
    }
    let lowercase = text.to_ascii_lowercase();
    let after = lowercase.find("error category:")? + "error category:".len();
    let start = after + (lowercase[after..].len() - lowercase[after..].trim_start().len());
    let name: String = lowercase[start..]
        .chars()
        .take_while(|character| character.is_ascii_alphanumeric() || *character == '_')
        .collect();
    (!name.is_empty()).then_some((start, name))
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
        let dotted = features("java.net.SocketTimeoutException: Read timed out");
        for expected in ["net", "socket", "timeout", "exception", "sockettimeoutexception", "timed out"] {
            assert!(dotted.iter().any(|feature| feature == expected), "{expected} missing from {dotted:?}");
        }
    }

    #[test]
    fn numbers_and_ids_are_dropped_but_codes_are_kept() {
        let found = features("Exit status: 137 at 2026-11-29 jr_0a1b2c3d4e5f run 12345 HTTP 403");
        assert!(found.iter().any(|feature| feature == "137") && found.iter().any(|feature| feature == "403"));
        assert!(!found.iter().any(|feature| feature.contains("12345") || feature.contains("0a1b2c")));
        assert!(!found.iter().any(|feature| feature == "2026"));
    }

    #[test]
    fn standard_codes_give_the_code_and_its_family() {
        let postgres =
            features("org.postgresql.util.PSQLException: ERROR: column \"x\" does not exist SQLState: 42703");
        assert!(postgres.contains(&"sqlstate:42703".to_string()) && postgres.contains(&"sqlstate:42".to_string()));
        assert!(has("SQL state [08S01]; error code [0]", "sqlstate:08"));
        let mysql = features("ERROR 1045 (28000): Access denied for user 'etl'@'10.0.0.1'");
        assert!(mysql.contains(&"mysql:1045".to_string()) && mysql.contains(&"sqlstate:28".to_string()), "{mysql:?}");
        assert!(has("ORA-00942: table or view does not exist", "ora:942"));
        let http = features("Status Code: 403; Error Code: AccessDenied");
        assert!(http.contains(&"http:403".to_string()) && http.contains(&"http:4xx".to_string()), "{http:?}");
        assert!(!has("took 403 ms", "http:403"));
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
    fn hits_are_the_hashes_of_the_string_features_with_their_spans() {
        let text = "py4j.protocol.Py4JJavaError: Caused by: java.io.FileNotFoundException: No such file; Error Category: X_ERROR";
        let mut from_strings: Vec<u64> = features(text).iter().map(|feature| hash_feature(feature)).collect();
        from_strings.sort_unstable();
        assert_eq!(feature_hashes(text), from_strings);
        let root = feature_hits(text).into_iter().find(|hit| hit.hash == hash_feature("root:filenotfoundexception"));
        let span = root.map(|hit| &text[hit.start as usize..hit.end as usize]);
        assert_eq!(span, Some("FileNotFoundException"));
        let category = feature_hits(text).into_iter().find(|hit| hit.hash == hash_feature("category:x_error"));
        assert_eq!(category.map(|hit| &text[hit.start as usize..hit.end as usize]), Some("X_ERROR"));
    }

    #[test]
    fn each_feature_counts_once_and_the_output_is_sorted() {
        let found = features("error error error Error");
        assert_eq!(found, ["error", "error error"]);
    }
}

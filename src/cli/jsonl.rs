//! The JSON-lines conversation of `classify` and `decide` (spec/decide.md):
//! one output line per input line, in order; a line that cannot be handled
//! gets `{"id": ..., "error": "..."}` and the loop goes on. Output is flushed
//! after every answer, so a caller holding a conversation over a pipe gets
//! each answer at once, even when it has already written part of its next
//! line (one write per line; the buffers are reused, nothing is allocated per
//! line). Lines are bounded: a longer line is answered with an error and
//! skipped without being held in memory. A blank line (only white space) is
//! no request: it gets no answer and is not counted. Every request is a JSON object: a
//! line holding another JSON value is answered with an error before any
//! parsing. A UTF-8 byte order mark before the first line is skipped.

use std::io::{self, BufRead, BufReader, Read, Write};

use crate::core::lenient::{bounded_json, bounds};

/// Longest input line handled; longer lines get an error answer.
pub const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;

/// Counts of what a conversation did, for the caller's exit status and logs.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LineStats {
    pub lines: u64,
    pub errors: u64,
}

/// What a handler made of one line.
pub enum Answer {
    /// A JSON object was appended to the output buffer.
    Written,
    /// The line is bad; the message says why. `id` is echoed when it could be read.
    Error { id: serde_json::Value, message: String },
}

enum LineRead {
    Line,
    TooLong { bytes: usize },
    End,
}

/// Run the conversation: read lines from `input`, answer each on `output`.
/// Fails only when reading the input or writing the output fails.
pub fn converse<R: Read, W: Write>(
    input: R,
    output: W,
    max_line_bytes: usize,
    mut handle: impl FnMut(&str, &mut Vec<u8>) -> Answer,
) -> io::Result<LineStats> {
    let mut reader = BufReader::with_capacity(64 * 1024, input);
    let mut writer = io::BufWriter::with_capacity(64 * 1024, output);
    let mut line = Vec::with_capacity(4096);
    let mut answer = Vec::with_capacity(4096);
    let mut stats = LineStats::default();
    loop {
        line.clear();
        answer.clear();
        let first_line = stats.lines == 0;
        let outcome = match read_bounded_line(&mut reader, &mut line, max_line_bytes)? {
            LineRead::End => break,
            LineRead::Line if trim_line_end(&line).iter().all(u8::is_ascii_whitespace) => continue,
            LineRead::TooLong { bytes } => Answer::Error {
                id: serde_json::Value::Null,
                message: format!("line of {bytes} bytes is longer than the limit of {max_line_bytes} bytes"),
            },
            LineRead::Line => {
                let mut bytes = trim_line_end(&line);
                if first_line {
                    bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
                }
                match std::str::from_utf8(bytes) {
                    Err(error) => Answer::Error {
                        id: serde_json::Value::Null,
                        message: format!("line is not valid UTF-8 ({error})"),
                    },
                    Ok(text) => match not_an_object(text) {
                        Some(kind) => Answer::Error {
                            id: serde_json::Value::Null,
                            message: format!("request must be a JSON object, got {kind}"),
                        },
                        None => handle(text, &mut answer),
                    },
                }
            }
        };
        stats.lines += 1;
        if let Answer::Error { id, message } = outcome {
            stats.errors += 1;
            answer.clear();
            write_error(&mut answer, id, &message);
        }
        answer.push(b'\n');
        writer.write_all(&answer)?;
        // Every answer goes out now: the caller may be waiting for it before
        // it writes the rest of its next line.
        writer.flush()?;
    }
    writer.flush()?;
    Ok(stats)
}

const UTF8_BOM: &[u8] = "\u{feff}".as_bytes();

/// The kind of JSON value a line holds when it plainly is not an object,
/// judged from its first byte without parsing (the handler's parse reports
/// anything malformed). `None` for an object, or for what is not JSON at all.
fn not_an_object(text: &str) -> Option<&'static str> {
    let trimmed = text.trim_ascii();
    match trimmed.as_bytes().first()? {
        b'{' => None,
        b'[' => Some("an array"),
        b'"' => Some("a string"),
        b'-' | b'0'..=b'9' => Some("a number"),
        _ => match trimmed {
            "true" | "false" => Some("a boolean"),
            "null" => Some("null"),
            _ => None,
        },
    }
}

/// An error answer, `id` first as the spec writes it.
#[derive(serde::Serialize)]
struct ErrorLine<'a> {
    id: &'a serde_json::Value,
    error: &'a str,
}

/// Append `{"id": id, "error": message}`.
pub fn write_error(buffer: &mut Vec<u8>, id: serde_json::Value, message: &str) {
    // Serialising a Value and a &str into a Vec cannot fail.
    let _ = serde_json::to_writer(buffer, &ErrorLine { id: &id, error: message });
}

/// Explain why `text` is not a valid `T`, naming the field path
/// (`history.attempt: invalid type ...`). Only called after the fast parse
/// failed, so the happy path pays nothing for it.
pub fn explain_parse_error<T: serde::de::DeserializeOwned>(text: &str, fallback: &serde_json::Error) -> String {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Err(error) if !error.path().to_string().is_empty() && error.path().to_string() != "." => {
            format!("{}: {}", error.path(), error.inner())
        }
        _ => fallback.to_string(),
    }
}

/// Best effort: the `id` of a line that failed typed parsing, if it is JSON at all.
pub fn salvage_id(text: &str) -> serde_json::Value {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default, deserialize_with = "bounded_json::<_, { bounds::JSON_NODES }>")]
        id: serde_json::Value,
    }
    serde_json::from_str::<IdOnly>(text).map(|only| only.id).unwrap_or(serde_json::Value::Null)
}

fn trim_line_end(line: &[u8]) -> &[u8] {
    let without_newline = line.strip_suffix(b"\n").unwrap_or(line);
    without_newline.strip_suffix(b"\r").unwrap_or(without_newline)
}

/// Read up to and including the next newline, keeping at most `limit` bytes.
fn read_bounded_line<R: Read>(reader: &mut BufReader<R>, line: &mut Vec<u8>, limit: usize) -> io::Result<LineRead> {
    let mut total_bytes = 0usize;
    loop {
        let available = match reader.fill_buf() {
            Ok(bytes) => bytes,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
            Err(error) => return Err(error),
        };
        if available.is_empty() {
            return Ok(match total_bytes {
                0 => LineRead::End,
                bytes if bytes > limit => LineRead::TooLong { bytes },
                _ => LineRead::Line,
            });
        }
        let (chunk_len, found_newline) = match available.iter().position(|&byte| byte == b'\n') {
            Some(index) => (index + 1, true),
            None => (available.len(), false),
        };
        if total_bytes + chunk_len <= limit {
            line.extend_from_slice(&available[..chunk_len]);
        }
        total_bytes += chunk_len;
        reader.consume(chunk_len);
        if found_newline {
            return Ok(if total_bytes > limit { LineRead::TooLong { bytes: total_bytes } } else { LineRead::Line });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo(text: &str, output: &mut Vec<u8>) -> Answer {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => {
                output.extend_from_slice(value.to_string().as_bytes());
                Answer::Written
            }
            Err(error) => Answer::Error { id: salvage_id(text), message: error.to_string() },
        }
    }

    fn run(input: &[u8], limit: usize) -> (String, LineStats) {
        let mut output = Vec::new();
        let stats = converse(input, &mut output, limit, echo).expect("in-memory I/O");
        (String::from_utf8(output).expect("utf-8 output"), stats)
    }

    #[test]
    fn one_answer_per_request_line_in_order_with_errors_in_place() {
        let (output, stats) = run(b"{\"id\":1}\nnot json\n\n \t\r\n{\"id\":3}\r\n", 1024);
        let lines: Vec<serde_json::Value> =
            output.lines().map(|line| serde_json::from_str(line).expect("each answer is JSON")).collect();
        assert_eq!(lines.len(), 3, "blank lines are no requests: {output}");
        assert_eq!(lines[0]["id"], 1);
        assert!(lines[1]["error"].as_str().expect("error").contains("expected"));
        assert_eq!(lines[2]["id"], 3);
        assert_eq!(stats, LineStats { lines: 3, errors: 1 });
    }

    #[test]
    fn last_line_without_newline_is_answered() {
        let (output, stats) = run(b"{\"id\":1}\n{\"id\":2}", 1024);
        assert_eq!(output.lines().count(), 2);
        assert_eq!(stats.lines, 2);
    }

    #[test]
    fn overlong_and_non_utf8_lines_get_clear_errors_and_the_next_line_works() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\n\xff\xfe\n{\"id\":\"after\"}\n");
        let (output, _) = run(&input, 100);
        let lines: Vec<serde_json::Value> =
            output.lines().map(|line| serde_json::from_str(line).expect("json")).collect();
        assert!(lines[0]["error"].as_str().expect("error").contains("longer than the limit of 100 bytes"));
        assert!(lines[1]["error"].as_str().expect("error").contains("not valid UTF-8"));
        assert_eq!(lines[2]["id"], "after");
    }

    #[test]
    fn json_that_is_not_an_object_is_refused_before_the_handler_sees_it() {
        let (output, stats) = run(b"[1,2]\n \"x\"\n-1\nfalse\nnull\n{\"id\":\"ok\"}\nnullish\n", 1024);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines[0], r#"{"id":null,"error":"request must be a JSON object, got an array"}"#);
        assert!(lines[1].ends_with("got a string\"}"), "{}", lines[1]);
        assert!(lines[2].ends_with("got a number\"}"), "{}", lines[2]);
        assert!(lines[3].ends_with("got a boolean\"}"), "{}", lines[3]);
        assert!(lines[4].ends_with("got null\"}"), "{}", lines[4]);
        assert_eq!(lines[5], r#"{"id":"ok"}"#);
        assert!(lines[6].contains("trailing characters"), "not JSON at all is the parser's to explain: {}", lines[6]);
        assert_eq!(stats, LineStats { lines: 7, errors: 6 });
    }

    #[test]
    fn a_byte_order_mark_is_skipped_on_the_first_line_only() {
        let (output, _) = run("\u{feff}{\"id\":1}\n\u{feff}{\"id\":2}\n".as_bytes(), 1024);
        let lines: Vec<&str> = output.lines().collect();
        assert_eq!(lines[0], r#"{"id":1}"#);
        assert!(lines[1].starts_with(r#"{"id":null,"error":"#), "{}", lines[1]);
    }

    #[test]
    fn error_lines_put_the_id_first() {
        let mut buffer = Vec::new();
        write_error(&mut buffer, serde_json::json!("inc-1"), "bad \"thing\"");
        assert_eq!(String::from_utf8(buffer).expect("utf-8"), r#"{"id":"inc-1","error":"bad \"thing\""}"#);
    }

    #[test]
    fn id_is_salvaged_from_a_line_that_fails_typed_parsing() {
        assert_eq!(salvage_id(r#"{"id":"inc-7","event":42}"#), serde_json::json!("inc-7"));
        assert_eq!(salvage_id("garbage"), serde_json::Value::Null);
    }
}

//! Bounding and cleaning of evidence text before any rule sees it.
//!
//! Log lines come from systems we do not control: they may be megabytes
//! long, carry ANSI colour codes, NUL bytes or a whole stack trace in one
//! CloudWatch event. Every piece of text is therefore cut to a fixed number
//! of bytes (keeping its head *and* its tail, because a Java trace puts the
//! root cause last and a Python one puts it first), stripped of escape
//! sequences and control characters, and its whitespace (newlines included,
//! and the escaped `\n` of traces embedded in JSON) collapsed to single
//! spaces so that a message wrapped over two lines still matches. An
//! incident as a whole is bounded too, so the cost of a diagnosis is linear
//! in a small constant, whatever the input.

use crate::core::model::TextSource;

/// Bytes of one piece of evidence (a message or a log line) that are read.
pub const MAX_ITEM_BYTES: usize = 8 * 1024;
/// Of `MAX_ITEM_BYTES`, how many come from the start; the rest from the end.
const ITEM_HEAD_BYTES: usize = 6 * 1024;
/// Bytes of text read for one incident, all sources together.
pub const MAX_INCIDENT_BYTES: usize = 64 * 1024;
/// Log lines read per source (error log, output log).
pub const MAX_LINES_PER_SOURCE: usize = 400;
/// Characters of evidence quoted in one signal.
const EXCERPT_CHARS_BEFORE: usize = 60;
const EXCERPT_CHARS_AFTER: usize = 120;
const EXCERPT_MAX_CHARS_AFTER: usize = 200;

/// One cleaned, bounded piece of evidence and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct EvidenceItem {
    pub source: TextSource,
    /// Position of the line within its source (0 for the JobRun message).
    pub index: usize,
    pub text: String,
}

/// Collects evidence items in priority order until the incident budget is spent.
#[derive(Debug)]
pub struct EvidenceCollector {
    items: Vec<EvidenceItem>,
    remaining_bytes: usize,
}

impl Default for EvidenceCollector {
    fn default() -> Self {
        EvidenceCollector { items: Vec::new(), remaining_bytes: MAX_INCIDENT_BYTES }
    }
}

impl EvidenceCollector {
    /// Add one raw text; returns false once the incident budget is exhausted.
    pub fn push(&mut self, source: TextSource, index: usize, raw: &str) -> bool {
        if self.remaining_bytes == 0 {
            return false;
        }
        let text = clean_bounded(raw, MAX_ITEM_BYTES.min(self.remaining_bytes));
        self.remaining_bytes = self.remaining_bytes.saturating_sub(text.len().max(1));
        if !text.is_empty() {
            self.items.push(EvidenceItem { source, index, text });
        }
        true
    }

    /// Add the lines of one log source, at most `MAX_LINES_PER_SOURCE` of them.
    pub fn push_lines(&mut self, source: TextSource, lines: &[String]) {
        for (index, line) in lines.iter().take(MAX_LINES_PER_SOURCE).enumerate() {
            if !self.push(source, index, line) {
                return;
            }
        }
    }

    pub fn into_items(self) -> Vec<EvidenceItem> {
        self.items
    }
}

/// Clean `raw` and keep at most `max_bytes` of it (head and tail).
pub fn clean_bounded(raw: &str, max_bytes: usize) -> String {
    if raw.len() <= max_bytes {
        return clean(raw);
    }
    let head_bytes = ITEM_HEAD_BYTES.min(max_bytes);
    let tail_bytes = max_bytes - head_bytes;
    let head_end = floor_char_boundary(raw, head_bytes);
    let tail_start = ceil_char_boundary(raw, raw.len() - tail_bytes).max(head_end);
    let mut cleaned = clean(&raw[..head_end]);
    if tail_start < raw.len() {
        cleaned.push_str(" ... ");
        cleaned.push_str(&clean(&raw[tail_start..]));
    }
    cleaned
}

/// Strip ANSI escape sequences and control characters; collapse whitespace.
pub fn clean(raw: &str) -> String {
    let mut cleaned = String::with_capacity(raw.len());
    let mut characters = raw.chars().peekable();
    let mut pending_space = false;
    while let Some(character) = characters.next() {
        if character == '\u{1b}' {
            skip_escape_sequence(&mut characters);
            continue;
        }
        if character.is_whitespace() || character.is_control() {
            pending_space = true;
            continue;
        }
        // A trace embedded in JSON (Glue's exception-analysis records) keeps
        // its line breaks as the two characters `\n`; they separate words too.
        if character == '\\' && matches!(characters.peek(), Some('n' | 'r' | 't')) {
            characters.next();
            pending_space = true;
            continue;
        }
        if pending_space && !cleaned.is_empty() {
            cleaned.push(' ');
        }
        pending_space = false;
        cleaned.push(character);
    }
    cleaned
}

/// Skip the rest of an escape sequence whose ESC was just consumed:
/// CSI (`ESC [ ... final`) and OSC (`ESC ] ... BEL`) fully, others by one char.
fn skip_escape_sequence(characters: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match characters.next() {
        Some('[') => {
            for character in characters.by_ref() {
                if ('\u{40}'..='\u{7e}').contains(&character) {
                    return;
                }
            }
        }
        Some(']') => {
            for character in characters.by_ref() {
                if character == '\u{07}' || character == '\u{1b}' {
                    return;
                }
            }
        }
        _ => {}
    }
}

/// A short quote of `text` around `start..end`, for a signal.
pub fn excerpt(text: &str, start: usize, end: usize) -> String {
    let start = floor_char_boundary(text, start);
    let end = ceil_char_boundary(text, end.max(start));
    let quote_start =
        text[..start].char_indices().rev().nth(EXCERPT_CHARS_BEFORE - 1).map_or(0, |(position, _)| position);
    let chars_after = text[start..end].chars().count().clamp(EXCERPT_CHARS_AFTER, EXCERPT_MAX_CHARS_AFTER);
    let quote_end = text[start..].char_indices().nth(chars_after).map_or(text.len(), |(position, _)| start + position);
    let mut quoted = String::with_capacity(quote_end - quote_start + 6);
    if quote_start > 0 {
        quoted.push_str("...");
    }
    quoted.push_str(&text[quote_start..quote_end]);
    if quote_end < text.len() {
        quoted.push_str("...");
    }
    quoted
}

/// The largest char boundary of `text` not above `index`.
pub fn floor_char_boundary(text: &str, index: usize) -> usize {
    let mut boundary = index.min(text.len());
    while !text.is_char_boundary(boundary) {
        boundary -= 1;
    }
    boundary
}

/// The smallest char boundary of `text` not below `index`.
pub fn ceil_char_boundary(text: &str, index: usize) -> usize {
    let mut boundary = index.min(text.len());
    while !text.is_char_boundary(boundary) {
        boundary += 1;
    }
    boundary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_escapes_and_control_characters_are_removed() {
        let raw = "\u{1b}[31mERROR\u{1b}[0m Executor\u{0}lost\r\n  twice\u{1b}]0;title\u{7}!";
        assert_eq!(clean(raw), "ERROR Executor lost twice!");
    }

    #[test]
    fn escaped_line_breaks_of_embedded_json_separate_words() {
        assert_eq!(clean(r"running beyond physical\nmemory\tlimits"), "running beyond physical memory limits");
    }

    #[test]
    fn wrapped_lines_are_joined_with_one_space() {
        assert_eq!(clean("running beyond physical\nmemory limits"), "running beyond physical memory limits");
    }

    #[test]
    fn long_text_keeps_head_and_tail_within_the_bound() {
        let raw = format!("HEAD {} Caused by: java.lang.OutOfMemoryError", "é".repeat(20_000));
        let bounded = clean_bounded(&raw, MAX_ITEM_BYTES);
        assert!(bounded.len() <= MAX_ITEM_BYTES + 8, "len {}", bounded.len());
        assert!(bounded.starts_with("HEAD"));
        assert!(bounded.ends_with("OutOfMemoryError"));
    }

    #[test]
    fn incident_budget_stops_collection() {
        let mut collector = EvidenceCollector::default();
        let lines: Vec<String> = (0..1000).map(|_| "x".repeat(1000)).collect();
        collector.push_lines(TextSource::ErrorLog, &lines);
        let total: usize = collector.into_items().iter().map(|item| item.text.len()).sum();
        assert!(total <= MAX_INCIDENT_BYTES);
    }

    #[test]
    fn excerpt_respects_char_boundaries() {
        let text = "ééééé boom ééééé";
        let quoted = excerpt(text, 11, 15);
        assert!(quoted.contains("boom"));
    }
}

//! The body of one escalation on a Slack-compatible incoming webhook:
//! `{"text": "..."}` in Slack's mrkdwn, which Slack, Mattermost, Rocket.Chat
//! and Google Chat all accept. There are no `blocks`: they would double the
//! size for the same content and some receivers reject keys they do not know.
//!
//! Everything that comes from a run or its event (the subject with the job
//! name, log lines, column names, signals, the reason a proposal was
//! replaced, which quotes the error text) is hostile until proven otherwise.
//! Only etl-medic's own labels are written outside code; every piece of job
//! text goes through [`code_span`] or the log block, and there:
//!
//! - control and bidirectional-override characters are removed (one line
//!   per span or log line);
//! - every backtick becomes `'`, so no span or block can end early and no
//!   fence can re-pair with the block's own (the log excerpt would then
//!   render outside its block);
//! - `&`, `<` and `>` are escaped as Slack asks, so no `<!channel>`,
//!   `<!here>`, `<@U123>`, `<#C123>`, `<url|text>` link or HTML tag reaches
//!   Slack or Google Chat, nor Mattermost's Slack-compatibility layer, which
//!   turns `<url|text>` and `<!channel>` into Markdown even inside code;
//! - an `@` before a word gets a zero-width space after it, so `@channel`,
//!   `@here`, `@all` or `@someone` notifies nobody on Mattermost or
//!   Rocket.Chat, whatever their handling of mentions inside code;
//! - inside code, Markdown links (`[Approve fix](https://...)`), emphasis
//!   and bare URLs are not rendered by any of the four.
//!
//! The text stays under [`MAX_TEXT_BYTES`]; the full packet is in the audit
//! trail and on SNS.

use serde_json::{Value, json};

use crate::ports::Escalation;

/// Slack truncates longer messages and recommends under 4,000 characters;
/// bytes are counted, which bounds characters as well.
pub const MAX_TEXT_BYTES: usize = 3_000;
/// Caps of the summary's fields, after escaping. With their labels they add
/// up to about 2,100 bytes, so the newest log lines always get the rest.
const SUBJECT_BYTES: usize = 150;
const ID_BYTES: usize = 120;
const LABEL_BYTES: usize = 60;
const REASON_BYTES: usize = 300;
const LIST_BYTES: usize = 200;
const DETAIL_BYTES: usize = 300;
/// Cap of each log line; a 10 KB stack-trace line costs no more than this.
const LOG_LINE_BYTES: usize = 240;
/// Room kept for the closing fence and the "lines left out" note.
const LOG_TAIL_RESERVE_BYTES: usize = 80;
const LOG_OPENING: &str = "log excerpt:\n```\n";
const FENCE: &str = "```";

/// The JSON body POSTed for `escalation`.
///
/// A pending proposal of `approve` mode also gets Approve and Reject buttons
/// (Slack blocks; a Slack app's incoming webhook delivers their clicks to
/// the app's Interactivity Request URL, the stack's approvals endpoint).
/// Each button carries the proposal's binding hash and the incident id.
pub fn webhook_body(escalation: &Escalation) -> Value {
    let text = webhook_text(escalation);
    let Some(approval) = escalation.packet.approval.as_ref().filter(|approval| approval.status == "pending") else {
        return json!({ "text": text });
    };
    let value = crate::approval::slack::button_value(&approval.binding, &escalation.packet.incident_id);
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "elements": [
                {"type": "button", "style": "primary", "text": {"type": "plain_text", "text": "Approve"},
                 "action_id": crate::approval::slack::APPROVE_ACTION_ID, "value": value},
                {"type": "button", "style": "danger", "text": {"type": "plain_text", "text": "Reject"},
                 "action_id": crate::approval::slack::REJECT_ACTION_ID, "value": value},
            ]},
        ],
    })
}

/// The mrkdwn text: a summary, then the newest log lines that fit.
pub fn webhook_text(escalation: &Escalation) -> String {
    let packet = &escalation.packet;
    let mut text = format!("*etl-medic escalation* {}\n", code_span(&escalation.subject, SUBJECT_BYTES));
    text.push_str(&format!(
        "job {} run {} incident {}\n",
        code_span(&packet.job_name, ID_BYTES),
        code_span(&packet.run_id, ID_BYTES),
        code_span(&packet.incident_id, ID_BYTES)
    ));
    text.push_str(&format!("diagnosis: {}\n", diagnosis_summary(&packet.diagnosis)));
    text.push_str(&format!("proposed: {}", code_span(&packet.proposal, LABEL_BYTES)));
    if let Some(reason) = &packet.blocked_because {
        text.push_str(&format!(", not carried out: {}", code_span(reason, REASON_BYTES)));
    }
    text.push('\n');
    if !packet.tried.is_empty() {
        text.push_str(&format!("tried: {}\n", code_span(&packet.tried.join(", "), LIST_BYTES)));
    }
    if let Some(drift) = &packet.drift {
        text.push_str(&format!("drift: {}\n", code_span(&drift.to_string(), DETAIL_BYTES)));
    }
    if let Some(approval) = &packet.approval {
        text.push_str(&format!(
            "approval {}: {} until {} ({})\n",
            code_span(&approval.status, 20),
            code_span(&approval.action.to_string(), ID_BYTES),
            code_span(&approval.expires_at, 40),
            code_span(&approval.approve_command, ID_BYTES)
        ));
    }
    text.push_str(&format!("audit: {}\n", code_span(&packet.audit_prefix, DETAIL_BYTES)));
    push_log_excerpt(&mut text, &packet.log_excerpt);
    debug_assert!(text.len() <= MAX_TEXT_BYTES, "webhook text of {} bytes", text.len());
    text
}

/// Class, confidence and signals, from the diagnosis as the decision recorded it.
fn diagnosis_summary(diagnosis: &Value) -> String {
    let class = diagnosis.get("class").and_then(Value::as_str).unwrap_or("unknown");
    let mut summary = code_span(class, LABEL_BYTES);
    if let Some(confidence) = diagnosis.get("confidence").and_then(Value::as_f64) {
        summary.push_str(&format!(" (confidence {confidence:.2})"));
    }
    let signals: Vec<&str> = diagnosis
        .get("signals")
        .and_then(Value::as_array)
        .map(|signals| signals.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !signals.is_empty() {
        summary.push_str(&format!(", signals {}", code_span(&signals.join("; "), DETAIL_BYTES)));
    }
    summary
}

/// The newest lines have priority; they are printed oldest first, in a code block.
fn push_log_excerpt(text: &mut String, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let budget = MAX_TEXT_BYTES.saturating_sub(text.len() + LOG_TAIL_RESERVE_BYTES);
    let mut kept: Vec<String> = Vec::new();
    let mut used = LOG_OPENING.len();
    for line in lines.iter().rev() {
        // A backtick inside a line could close the block and let the rest render.
        let cleaned = escaped_within(&neutral(line), LOG_LINE_BYTES);
        if used + cleaned.len() + 1 > budget {
            break;
        }
        used += cleaned.len() + 1;
        kept.push(cleaned);
    }
    if !kept.is_empty() {
        text.push_str(LOG_OPENING);
        for line in kept.iter().rev() {
            text.push_str(line);
            text.push('\n');
        }
        text.push_str(FENCE);
        text.push('\n');
    }
    let left_out = lines.len() - kept.len();
    if left_out > 0 {
        text.push_str(&format!("({left_out} log lines left out; all are in the audit trail)"));
    }
}

/// A one-line value as inline code, at most `max_bytes` inside the
/// backticks: the only way job text is written (see the module comment).
fn code_span(value: &str, max_bytes: usize) -> String {
    let cleaned = neutral(value);
    let trimmed = cleaned.trim();
    if trimmed.is_empty() {
        return "`-`".to_string();
    }
    format!("`{}`", escaped_within(trimmed, max_bytes))
}

/// One line of job text that can neither leave its code span or block nor
/// mention anyone: backticks become `'`, an `@` before a word is followed by
/// a zero-width space. (`&`, `<`, `>` are escaped by [`escaped_within`].)
fn neutral(value: &str) -> String {
    let line = single_line(value);
    let mut neutral = String::with_capacity(line.len() + 8);
    let mut characters = line.chars().peekable();
    while let Some(character) = characters.next() {
        match character {
            '`' => neutral.push('\''),
            '@' if characters.peek().is_some_and(|next| next.is_alphanumeric() || *next == '_') => {
                neutral.push_str("@\u{200B}");
            }
            character => neutral.push(character),
        }
    }
    neutral
}

/// Control characters (line breaks included) become spaces; bidirectional
/// overrides, which can make a log line read backwards, become U+FFFD.
fn single_line(value: &str) -> String {
    value
        .chars()
        .map(|character| match character {
            character if character.is_control() => ' ',
            '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' => '\u{FFFD}',
            character => character,
        })
        .collect()
}

/// `value` with Slack's three reserved characters escaped (as its
/// formatting guide asks), at most `max_bytes` after escaping: cut on a
/// character boundary, never inside an entity, and marked with `…`.
fn escaped_within(value: &str, max_bytes: usize) -> String {
    const ELLIPSIS: &str = "…";
    let whole = value.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    if whole.len() <= max_bytes {
        return whole;
    }
    let mut escaped = String::with_capacity(max_bytes);
    let mut buffer = [0_u8; 4];
    for character in value.chars() {
        let piece = match character {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            character => character.encode_utf8(&mut buffer),
        };
        if escaped.len() + piece.len() + ELLIPSIS.len() > max_bytes {
            break;
        }
        escaped.push_str(piece);
    }
    if escaped.len() + ELLIPSIS.len() <= max_bytes {
        escaped.push_str(ELLIPSIS);
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::EvidencePacket;

    fn escalation(log_excerpt: Vec<String>) -> Escalation {
        Escalation {
            subject: "etl-medic: orders_daily schema_drift needs a person".into(),
            packet: EvidencePacket {
                incident_id: "orders_daily/jr_1".into(),
                job_name: "orders_daily".into(),
                run_id: "jr_1".into(),
                diagnosis: json!({"class": "schema_drift", "confidence": 0.9, "signals": ["column `id` missing"]}),
                log_excerpt,
                drift: Some(json!({"kind": "column_removed", "column": "<b>id</b>"})),
                tried: vec!["retry".into()],
                proposal: "rollback_schema".into(),
                blocked_because: Some("critical_job_needs_approval: orders_daily is critical".into()),
                audit_prefix: "s3://etl-medic-audit/audit/orders_daily/jr_1/".into(),
                approval: None,
            },
        }
    }

    #[test]
    fn the_summary_names_job_run_diagnosis_proposal_and_audit() {
        let text = webhook_text(&escalation(vec!["Error: column id not found".into()]));
        let expected = [
            "`orders_daily`",
            "`jr_1`",
            "`schema_drift` (confidence 0.90)",
            "`rollback_schema`",
            "critical_job_needs_approval",
            "s3://etl-medic-audit/audit/orders_daily/jr_1/",
            "```\nError: column id not found\n```",
        ];
        for fragment in expected {
            assert!(text.contains(fragment), "{fragment:?} missing from {text}");
        }
        assert!(text.contains("column 'id' missing"), "backticks inside a code span are replaced: {text}");
        assert!(text.contains("&lt;b&gt;id&lt;/b&gt;"), "{text}");
    }

    #[test]
    fn hostile_lines_cannot_mention_link_or_break_out_of_the_code_block() {
        let hostile = vec!["<!channel> <https://evil.example|click> & ``` @here \u{202E}txt.exe\r\nsecond".to_string()];
        let text = webhook_text(&escalation(hostile));
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('\r'));
        assert!(text.contains("&lt;!channel&gt;") && text.contains("&amp;"));
        assert_eq!(text.matches(FENCE).count(), 2, "only the block's own fences: {text}");
        assert!(!text.contains('\u{202E}'));
    }

    #[test]
    fn long_excerpts_keep_the_newest_lines_within_the_bound() {
        let lines: Vec<String> = (0..500).map(|index| format!("{index:03} {}", "é<".repeat(5_000))).collect();
        let text = webhook_text(&escalation(lines));
        assert!(text.len() <= MAX_TEXT_BYTES, "{} bytes", text.len());
        assert!(text.contains("\n499 "), "the newest line is kept");
        assert!(text.contains("log lines left out"));
    }

    #[test]
    fn cutting_respects_characters_and_entities() {
        assert_eq!(escaped_within("ééé", 4), "…");
        assert_eq!(escaped_within("abcdef", 5), "ab…");
        assert_eq!(escaped_within("abcd", 4), "abcd");
        assert_eq!(escaped_within("a<b", 5), "a…", "no half `&lt;`");
        assert_eq!(escaped_within("a<b", 6), "a&lt;b");
    }

    #[test]
    fn every_field_at_its_worst_still_fits_with_some_log_lines() {
        let worst = "<&>".repeat(2_000);
        let mut hostile = escalation(vec![worst.clone(); 50]);
        hostile.subject = worst.clone();
        hostile.packet.job_name = worst.clone();
        hostile.packet.run_id = worst.clone();
        hostile.packet.incident_id = worst.clone();
        hostile.packet.proposal = worst.clone();
        hostile.packet.blocked_because = Some(worst.clone());
        hostile.packet.tried = vec![worst.clone(); 10];
        hostile.packet.drift = Some(json!({"column": worst.clone()}));
        hostile.packet.audit_prefix = worst.clone();
        hostile.packet.approval = Some(crate::ports::ApprovalRequest {
            status: "pending".into(),
            action: json!({"kind": "rollback_schema", "params": {"table": worst.clone()}}),
            expires_at: worst.clone(),
            approve_command: worst.clone(),
            ..Default::default()
        });
        hostile.packet.diagnosis =
            json!({"class": worst.clone(), "confidence": 1.0, "signals": [worst.clone(), worst]});
        let text = webhook_text(&hostile);
        assert!(text.contains("approval `pending`"), "{text}");
        let body = webhook_body(&hostile);
        assert_eq!(body["blocks"][1]["elements"][0]["action_id"], crate::approval::slack::APPROVE_ACTION_ID);
        assert!(text.len() <= MAX_TEXT_BYTES, "{} bytes", text.len());
        assert!(text.contains(LOG_OPENING), "some log lines still fit: {text}");
    }
}

#[cfg(test)]
#[path = "message_chat_tests.rs"]
mod chat_tests;

//! The escalation text read by each supported chat's rendering rules: job
//! text anywhere in the packet (subject, ids, signals, the reason a
//! proposal was replaced, drift, log lines) must render inside code, notify
//! nobody and link nowhere, on Slack (mrkdwn), Mattermost and Rocket.Chat
//! (CommonMark with Slack compatibility) and Google Chat.

use serde_json::json;

use super::*;
use crate::ports::EvidencePacket;

/// Job text as an attacker would write it: a Markdown link, every mention
/// syntax, Slack control sequences, HTML, and backticks that try to close
/// the code span or re-pair the log block's fences.
const ATTACK: &str = "[Approve fix](https://evil.example/sso) @channel @here @all @everyone @alice \
    <!channel> <!here> <@U0123> <#C0123> <!subteam^S01> <https://evil.example|click> <b>bold</b> &amp; \
    ` `` ``` ````";

fn hostile(marker: &str) -> String {
    format!("{marker} {ATTACK} {marker}-end")
}

fn escalation() -> Escalation {
    Escalation {
        subject: hostile("SUBJECT"),
        packet: EvidencePacket {
            incident_id: hostile("INCIDENT"),
            job_name: hostile("JOB"),
            run_id: hostile("RUN"),
            diagnosis: json!({"class": hostile("CLASS"), "confidence": 0.5, "signals": [hostile("SIGNAL")]}),
            log_excerpt: (0..4).map(|index| hostile(&format!("LOG{index}"))).collect(),
            drift: Some(json!({"column": hostile("DRIFT")})),
            tried: vec![hostile("TRIED")],
            proposal: hostile("PROPOSAL"),
            blocked_because: Some(hostile("REASON")),
            audit_prefix: hostile("AUDIT"),
            approval: None,
        },
    }
}

const MARKERS: [&str; 14] = [
    "SUBJECT", "INCIDENT", "JOB", "RUN", "CLASS", "SIGNAL", "LOG0", "LOG1", "LOG2", "LOG3", "DRIFT", "TRIED",
    "PROPOSAL", "REASON",
];

/// The length of the run of backticks starting at `start`.
fn run_length(characters: &[char], start: usize) -> usize {
    characters[start..].iter().take_while(|character| **character == '`').count()
}

/// CommonMark (Mattermost, Rocket.Chat): a line opening with ``` starts a
/// fenced block that the next such line ends; elsewhere a run of n
/// backticks opens a code span that the next run of exactly n closes, across
/// line breaks; an unmatched run is literal text. Returns what is rendered
/// as text (outside code).
fn outside_code_commonmark(text: &str) -> String {
    let mut prose = String::new();
    let mut in_fence = false;
    for line in text.split('\n') {
        if line.trim_start_matches(' ').starts_with("```") {
            in_fence = !in_fence;
            prose.push('\n');
        } else if !in_fence {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    let characters: Vec<char> = prose.chars().collect();
    let mut outside = String::new();
    let mut index = 0;
    while index < characters.len() {
        if characters[index] != '`' {
            outside.push(characters[index]);
            index += 1;
            continue;
        }
        let length = run_length(&characters, index);
        let mut close = index + length;
        let found = loop {
            match characters[close..].iter().position(|character| *character == '`') {
                None => break None,
                Some(offset) => {
                    let start = close + offset;
                    let run = run_length(&characters, start);
                    if run == length {
                        break Some(start + run);
                    }
                    close = start + run;
                }
            }
        };
        match found {
            Some(after) => index = after,
            None => {
                outside.extend(std::iter::repeat_n('`', length));
                index += length;
            }
        }
    }
    outside
}

/// Slack mrkdwn: ``` opens a block anywhere and the next ``` closes it;
/// outside blocks, a backtick opens a span that the next backtick on the
/// same line closes.
fn outside_code_slack(text: &str) -> String {
    let mut outside_blocks = String::new();
    for (index, piece) in text.split("```").enumerate() {
        if index % 2 == 0 {
            outside_blocks.push_str(piece);
        }
    }
    outside_blocks.split('\n').map(|line| line.split('`').step_by(2).collect::<String>()).collect::<Vec<_>>().join("\n")
}

/// `@` directly before a word: a mention on Mattermost and Rocket.Chat.
fn mentions(text: &str) -> Vec<String> {
    let characters: Vec<char> = text.chars().collect();
    characters
        .windows(2)
        .filter(|pair| pair[0] == '@' && (pair[1].is_alphanumeric() || pair[1] == '_'))
        .map(|pair| pair.iter().collect())
        .collect()
}

#[test]
fn job_text_renders_inside_code_on_every_chat_and_neither_links_nor_mentions() {
    let text = webhook_text(&escalation());
    assert!(text.len() <= MAX_TEXT_BYTES);
    for (chat, outside) in [("commonmark", outside_code_commonmark(&text)), ("slack", outside_code_slack(&text))] {
        for marker in MARKERS {
            assert!(!outside.contains(marker), "{chat}: {marker} renders outside code:\n{outside}\n---\n{text}");
        }
        for active in ["](", "http", "evil", "<", ">", "@", "*bold", "Approve"] {
            assert!(!outside.contains(active), "{chat}: {active:?} outside code:\n{outside}");
        }
    }
    // Slack and Google Chat: no control sequence, link or tag anywhere, and
    // every & is an entity Slack decodes (so `&amp;` in the text stays literal).
    assert!(!text.contains('<') && !text.contains('>'), "{text}");
    let ampersands = text.matches('&').count();
    let entities = text.matches("&amp;").count() + text.matches("&lt;").count() + text.matches("&gt;").count();
    assert_eq!(ampersands, entities, "{text}");
    // Mattermost and Rocket.Chat: no mention, even inside code.
    assert!(mentions(&text).is_empty(), "{:?}", mentions(&text));
    // The evidence is still there for a person to read.
    assert!(text.contains("[Approve fix](https://evil.example/sso)") && text.contains("&lt;!channel&gt;"), "{text}");
    assert!(text.contains("@\u{200B}channel"), "{text}");
}

#[test]
fn an_unbalanced_fence_in_the_reason_cannot_pull_the_log_excerpt_out_of_its_block() {
    let mut packet = escalation();
    packet.packet.blocked_because = Some("log_only_evidence: ```".to_string());
    packet.packet.log_excerpt = vec!["[Approve fix](https://evil.example/sso) LOGLINE".to_string()];
    let text = webhook_text(&packet);
    assert_eq!(text.matches("```").count(), 2, "only the block's own fences: {text}");
    for outside in [outside_code_commonmark(&text), outside_code_slack(&text)] {
        assert!(!outside.contains("LOGLINE") && !outside.contains("evil"), "{outside}\n---\n{text}");
    }
}

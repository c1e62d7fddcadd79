//! Slack's side of an approval: the request signature (`v0` HMAC-SHA256
//! over `v0:{timestamp}:{raw body}` with the app's signing secret, compared
//! in constant time, within a 5-minute replay window) and what a verified
//! request asks for: a button click (`payload=` JSON of a `block_actions`
//! interaction, bound to one proposal's hash) or a slash command
//! (`/etl-medic approve INCIDENT_ID`, bound to the proposal pending now).

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Slack's replay window: older (or further in the future) requests are refused.
pub const REPLAY_WINDOW_SECS: i64 = 300;

/// The `action_id`s of the buttons etl-medic posts.
pub const APPROVE_ACTION_ID: &str = "etl_medic_approve";
pub const REJECT_ACTION_ID: &str = "etl_medic_reject";

/// Why a request from Slack was refused; `label` is the metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackRefusal {
    #[error("the X-Slack-Signature or X-Slack-Request-Timestamp header is missing")]
    MissingHeaders,
    #[error("the request timestamp {0:?} is not within 5 minutes of now (replayed or stale)")]
    StaleTimestamp(String),
    #[error("the signature does not match the body (tampered, or another app's secret)")]
    BadSignature,
    #[error("the request is not an etl-medic approval: {0}")]
    Malformed(String),
}

impl SlackRefusal {
    pub fn label(&self) -> &'static str {
        match self {
            SlackRefusal::MissingHeaders => "missing_headers",
            SlackRefusal::StaleTimestamp(_) => "stale_timestamp",
            SlackRefusal::BadSignature => "bad_signature",
            SlackRefusal::Malformed(_) => "malformed",
        }
    }
}

/// Checks Slack's signature of `body` (the raw bytes as Slack sent them).
/// `now_secs` is the current Unix time.
pub fn verify_signature(
    signing_secret: &str,
    timestamp: Option<&str>,
    body: &str,
    signature: Option<&str>,
    now_secs: i64,
) -> Result<(), SlackRefusal> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SlackRefusal::MissingHeaders);
    };
    let sent_at: i64 = timestamp.trim().parse().map_err(|_| SlackRefusal::StaleTimestamp(timestamp.to_string()))?;
    if (now_secs - sent_at).abs() > REPLAY_WINDOW_SECS {
        return Err(SlackRefusal::StaleTimestamp(timestamp.to_string()));
    }
    let expected = signature.trim().strip_prefix("v0=").ok_or(SlackRefusal::BadSignature)?;
    let expected = hex::decode(expected).map_err(|_| SlackRefusal::BadSignature)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).map_err(|_| SlackRefusal::BadSignature)?;
    mac.update(format!("v0:{}:", timestamp.trim()).as_bytes());
    mac.update(body.as_bytes());
    // `verify_slice` compares in constant time.
    mac.verify_slice(&expected).map_err(|_| SlackRefusal::BadSignature)
}

/// The `v0=` signature of `body` at `timestamp` (what Slack sends; tests and
/// the local tooling sign with it).
pub fn sign(signing_secret: &str, timestamp: &str, body: &str) -> String {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(format!("v0:{timestamp}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// What a verified Slack request asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackRequest {
    pub user_id: String,
    pub incident_id: String,
    pub approve: bool,
    /// The proposal's hash (buttons carry it); `None` for a slash command,
    /// which approves whatever is pending now.
    pub binding: Option<String>,
    /// Where to answer in the thread.
    pub response_url: Option<String>,
}

/// Reads a form-encoded Slack request: a `block_actions` interaction whose
/// action is one of etl-medic's buttons (value `"<binding> <incident id>"`),
/// or a slash command whose text is `approve|reject INCIDENT_ID`.
pub fn parse_request(body: &str) -> Result<SlackRequest, SlackRefusal> {
    let fields: Vec<(String, String)> = form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let field = |name: &str| fields.iter().find(|(key, _)| key == name).map(|(_, value)| value.clone());
    if let Some(payload) = field("payload") {
        return parse_interaction(&payload);
    }
    let user_id = field("user_id").ok_or_else(|| malformed("no payload and no user_id"))?;
    let text = field("text").unwrap_or_default();
    let mut words = text.split_whitespace();
    let approve = match words.next() {
        Some("approve") => true,
        Some("reject") => false,
        _ => return Err(malformed("the command text must be `approve INCIDENT_ID` or `reject INCIDENT_ID`")),
    };
    let incident_id = words.next().ok_or_else(|| malformed("the command names no incident id"))?.to_string();
    Ok(SlackRequest { user_id, incident_id, approve, binding: None, response_url: field("response_url") })
}

fn parse_interaction(payload: &str) -> Result<SlackRequest, SlackRefusal> {
    let value: serde_json::Value =
        serde_json::from_str(payload).map_err(|error| malformed(&format!("payload is not JSON: {error}")))?;
    let user_id = value
        .pointer("/user/id")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| malformed("payload names no user.id"))?;
    let action = value.pointer("/actions/0").ok_or_else(|| malformed("payload carries no action"))?;
    let approve = match action.get("action_id").and_then(serde_json::Value::as_str) {
        Some(APPROVE_ACTION_ID) => true,
        Some(REJECT_ACTION_ID) => false,
        _ => return Err(malformed("the action is not an etl-medic approve or reject button")),
    };
    let button_value = action.get("value").and_then(serde_json::Value::as_str).unwrap_or_default();
    let (binding, incident_id) =
        button_value.split_once(' ').ok_or_else(|| malformed("the button value is not `<binding> <incident id>`"))?;
    Ok(SlackRequest {
        user_id: user_id.to_string(),
        incident_id: incident_id.to_string(),
        approve,
        binding: Some(binding.to_string()),
        response_url: value.get("response_url").and_then(serde_json::Value::as_str).map(str::to_string),
    })
}

fn malformed(why: &str) -> SlackRefusal {
    SlackRefusal::Malformed(why.to_string())
}

/// The button value of a proposal: what `parse_request` reads back.
pub fn button_value(binding: &str, incident_id: &str) -> String {
    format!("{binding} {incident_id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slack's documented example (api.slack.com, "Verifying requests from Slack").
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TIMESTAMP: &str = "1531420618";
    const BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
    const SENT: i64 = 1_531_420_618;

    #[test]
    fn slacks_documented_example_verifies() {
        assert_eq!(sign(SECRET, TIMESTAMP, BODY), SIGNATURE);
        assert_eq!(verify_signature(SECRET, Some(TIMESTAMP), BODY, Some(SIGNATURE), SENT + 10), Ok(()));
    }

    #[test]
    fn a_tampered_body_or_another_secret_is_refused() {
        let tampered = BODY.replace("U2CERLKJA", "U2CERLKJB");
        assert_eq!(
            verify_signature(SECRET, Some(TIMESTAMP), &tampered, Some(SIGNATURE), SENT),
            Err(SlackRefusal::BadSignature)
        );
        let other = "8f742231b10e8888abcd99yyyzzz85a6";
        assert_eq!(
            verify_signature(other, Some(TIMESTAMP), BODY, Some(SIGNATURE), SENT),
            Err(SlackRefusal::BadSignature)
        );
        assert_eq!(
            verify_signature(SECRET, Some(TIMESTAMP), BODY, Some("a2114d57"), SENT),
            Err(SlackRefusal::BadSignature)
        );
        assert_eq!(
            verify_signature(SECRET, Some(TIMESTAMP), BODY, Some("v0=zz"), SENT),
            Err(SlackRefusal::BadSignature)
        );
    }

    #[test]
    fn a_request_outside_the_five_minute_window_is_refused_even_when_signed() {
        let refused = verify_signature(SECRET, Some(TIMESTAMP), BODY, Some(SIGNATURE), SENT + 301);
        assert!(matches!(refused, Err(SlackRefusal::StaleTimestamp(_))), "{refused:?}");
        let future = verify_signature(SECRET, Some(TIMESTAMP), BODY, Some(SIGNATURE), SENT - 301);
        assert!(matches!(future, Err(SlackRefusal::StaleTimestamp(_))), "{future:?}");
        assert_eq!(verify_signature(SECRET, Some(TIMESTAMP), BODY, Some(SIGNATURE), SENT + 300), Ok(()));
        assert_eq!(verify_signature(SECRET, None, BODY, Some(SIGNATURE), SENT), Err(SlackRefusal::MissingHeaders));
        assert!(matches!(
            verify_signature(SECRET, Some("yesterday"), BODY, Some(SIGNATURE), SENT),
            Err(SlackRefusal::StaleTimestamp(_))
        ));
    }

    #[test]
    fn the_documented_slash_command_has_no_approval_in_it() {
        let refused = parse_request(BODY);
        assert!(matches!(refused, Err(SlackRefusal::Malformed(_))), "{refused:?}");
    }

    #[test]
    fn a_button_click_names_user_incident_binding_and_where_to_answer() {
        let payload = serde_json::json!({
            "type": "block_actions",
            "user": {"id": "U2CERLKJA", "username": "roadrunner"},
            "actions": [{"action_id": APPROVE_ACTION_ID, "value": button_value("abc123", "orders/jr_1")}],
            "response_url": "https://hooks.slack.com/actions/T1/2/3",
        });
        let body: String =
            form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish();
        let request = parse_request(&body).expect("a click");
        assert_eq!(request.user_id, "U2CERLKJA");
        assert_eq!(request.incident_id, "orders/jr_1");
        assert_eq!(request.binding.as_deref(), Some("abc123"));
        assert!(request.approve);
        assert_eq!(request.response_url.as_deref(), Some("https://hooks.slack.com/actions/T1/2/3"));
        let command = BODY.replace("text=&", "text=reject+orders%2Fjr_1&");
        let request = parse_request(&command).expect("a command");
        assert_eq!((request.approve, request.incident_id.as_str(), request.binding), (false, "orders/jr_1", None));
    }
}

//! The precision ledger: what each incident's audit trail says about the
//! proposal made for it, per (job, failure class). A proposal of `approve`
//! mode is scored once its outcome is known: approved and the run we started
//! succeeded (correct), approved and it did not, or rejected (wrong); one
//! that expired unanswered is not scored. In `auto` mode the outcome of the
//! action scores it the same way. Shadow proposals are counted, not scored
//! (matching what fixed the job to the proposal is not built yet).

use std::collections::BTreeMap;

use serde_json::Value;

/// One incident's trail, as (stage, body) in sequence order.
pub type Trail = Vec<(String, Value)>;

/// Per (job, class).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerRow {
    pub decisions: u32,
    pub scored: u32,
    pub correct: u32,
    /// Scored proposals that were wrong, in a row, most recent last.
    pub failure_streak: u32,
}

/// Scores every trail; the key is (job, class).
pub fn ledger(trails: &[(String, Trail)]) -> BTreeMap<(String, String), LedgerRow> {
    let mut rows: BTreeMap<(String, String), LedgerRow> = BTreeMap::new();
    for (job, trail) in trails {
        let Some(decision) = trail.iter().find(|(stage, _)| stage == "decision").map(|(_, body)| body) else {
            continue;
        };
        let class = decision.pointer("/diagnosis/class").and_then(Value::as_str).unwrap_or("unknown").to_string();
        let mode = decision.get("mode").and_then(Value::as_str).unwrap_or("shadow");
        let row = rows.entry((job.clone(), class)).or_default();
        row.decisions += 1;
        if let Some(correct) = score(mode, trail) {
            row.scored += 1;
            if correct {
                row.correct += 1;
                row.failure_streak = 0;
            } else {
                row.failure_streak += 1;
            }
        }
    }
    rows
}

fn score(mode: &str, trail: &Trail) -> Option<bool> {
    let approval = trail
        .iter()
        .rev()
        .find(|(stage, body)| stage == "approval" && body.get("status").and_then(Value::as_str) != Some("pending"))
        .and_then(|(_, body)| body.get("status").and_then(Value::as_str));
    let closed = trail
        .iter()
        .rev()
        .find(|(stage, _)| stage == "closed")
        .and_then(|(_, body)| body.get("outcome").and_then(Value::as_str));
    let acted = trail.iter().any(|(stage, _)| stage == "permit");
    match (mode, approval, closed) {
        ("approve", Some("rejected"), _) => Some(false),
        ("approve", Some("approved"), Some(outcome)) => Some(outcome == "resolved"),
        ("auto", _, Some(outcome)) if acted => Some(outcome == "resolved"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn trail(mode: &str, approval: Option<&str>, acted: bool, outcome: &str) -> Trail {
        let mut trail =
            vec![("decision".to_string(), json!({"mode": mode, "diagnosis": {"class": "transient_infra"}}))];
        if let Some(status) = approval {
            trail.push(("approval".into(), json!({"status": "pending"})));
            trail.push(("approval".into(), json!({"status": status})));
        }
        if acted {
            trail.push(("permit".into(), json!({})));
        }
        trail.push(("closed".into(), json!({"outcome": outcome})));
        trail
    }

    #[test]
    fn approved_and_resolved_is_correct_rejected_is_wrong_expired_and_shadow_are_not_scored() {
        let job = "orders_daily".to_string();
        let trails = vec![
            (job.clone(), trail("approve", Some("approved"), true, "resolved")),
            (job.clone(), trail("approve", Some("rejected"), false, "escalated")),
            (job.clone(), trail("approve", Some("approved"), true, "escalated")),
            (job.clone(), trail("approve", None, false, "escalated")),
            (job.clone(), trail("shadow", None, false, "shadowed")),
            (job.clone(), trail("auto", None, true, "resolved")),
        ];
        let rows = ledger(&trails);
        let row = &rows[&(job, "transient_infra".to_string())];
        assert_eq!((row.decisions, row.scored, row.correct, row.failure_streak), (6, 4, 2, 0));
    }
}

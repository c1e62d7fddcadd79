//! The binding of an approval: a SHA-256 over (incident, action, parameters,
//! policy version). A proposal stores it; a Slack button carries it; an
//! approval naming another hash is refused, so a click on an older
//! proposal can never approve a newer, different one.

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::core::model::Action;

/// Hex SHA-256 of the canonical JSON `[incident_id, action, policy_version]`
/// (the action as `{"kind": .., "params": {..}}`, fields in declaration
/// order, so the same proposal always hashes the same).
pub fn binding_hash(incident_id: &str, action: &Action, policy_version: &str) -> String {
    let canonical = json!([incident_id, action, policy_version]).to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_change_of_incident_action_params_or_version_changes_the_hash() {
        let retry = Action::Retry {};
        let base = binding_hash("orders/jr_1", &retry, "v3");
        assert_eq!(base.len(), 64);
        assert_eq!(base, binding_hash("orders/jr_1", &retry, "v3"));
        assert_ne!(base, binding_hash("orders/jr_2", &retry, "v3"));
        assert_ne!(base, binding_hash("orders/jr_1", &retry, "v4"));
        assert_ne!(base, binding_hash("orders/jr_1", &Action::WaitAndRetry { delay_s: 300 }, "v3"));
        let capacity = |workers| Action::RetryWithMoreCapacity { number_of_workers: workers, worker_type: None };
        assert_ne!(binding_hash("orders/jr_1", &capacity(10), "v3"), binding_hash("orders/jr_1", &capacity(20), "v3"));
    }
}

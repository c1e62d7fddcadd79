//! The permit: proof that the safety layer reviewed an action in `auto` mode
//! and let it through. Code that changes anything in Glue, the catalog or S3
//! takes a `&Permit`, so an action that skipped the review cannot compile
//! into an effect.
//!
//! Only this module tree can make one: the fields are private, there is no
//! public constructor, and it is neither `Clone` nor `Deserialize`, so it
//! can be neither copied for a second use nor forged from a message.

use crate::core::model::Action;

#[derive(Debug, PartialEq)]
pub struct Permit {
    action: Action,
    job_name: String,
    run_id: String,
}

impl Permit {
    /// Issued by [`crate::core::safety::review`] only.
    pub(in crate::core::safety) fn issue(action: Action, job_name: String, run_id: String) -> Permit {
        debug_assert!(action.kind().mutates(), "a permit is only needed for an action that changes something");
        Permit { action, job_name, run_id }
    }

    /// The action permitted, exactly as reviewed.
    pub fn action(&self) -> &Action {
        &self.action
    }

    /// The Glue job the action may touch.
    pub fn job_name(&self) -> &str {
        &self.job_name
    }

    /// The failed run the action remedies.
    pub fn run_id(&self) -> &str {
        &self.run_id
    }
}

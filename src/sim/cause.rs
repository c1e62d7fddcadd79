//! The ground truth of a simulated incident: what really broke. The simulator
//! knows it, the policies under evaluation do not (only the oracle does), and
//! evaluation compares what each policy did against it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::core::model::{ActionKind, FailureClass};

/// One cause per failure class of the diagnosis taxonomy (`unknown` is not a
/// cause: it is what a diagnosis says when the evidence is too thin).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SimCause {
    TransientInfra,
    ResourceExhaustion,
    SchemaDrift,
    DataQuality,
    SourceUnavailable,
    PermissionConfig,
    CodeBug,
    Timeout,
}

impl SimCause {
    pub const ALL: [SimCause; 8] = [
        SimCause::TransientInfra,
        SimCause::ResourceExhaustion,
        SimCause::SchemaDrift,
        SimCause::DataQuality,
        SimCause::SourceUnavailable,
        SimCause::PermissionConfig,
        SimCause::CodeBug,
        SimCause::Timeout,
    ];

    pub fn failure_class(self) -> FailureClass {
        match self {
            SimCause::TransientInfra => FailureClass::TransientInfra,
            SimCause::ResourceExhaustion => FailureClass::ResourceExhaustion,
            SimCause::SchemaDrift => FailureClass::SchemaDrift,
            SimCause::DataQuality => FailureClass::DataQuality,
            SimCause::SourceUnavailable => FailureClass::SourceUnavailable,
            SimCause::PermissionConfig => FailureClass::PermissionConfig,
            SimCause::CodeBug => FailureClass::CodeBug,
            SimCause::Timeout => FailureClass::Timeout,
        }
    }

    pub fn as_str(self) -> &'static str {
        self.failure_class().as_str()
    }

    /// Whether `kind` is harmful (not merely useless) for this cause: it
    /// changes the catalog or moves data when that is not what broke. These
    /// count as unsafe actions in evaluation even when the safety layer
    /// would have let them through.
    pub fn is_harmful(self, kind: ActionKind) -> bool {
        match kind {
            ActionKind::RollbackSchema => self != SimCause::SchemaDrift,
            ActionKind::QuarantineBadRecords => self != SimCause::DataQuality,
            _ => false,
        }
    }
}

impl fmt::Display for SimCause {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

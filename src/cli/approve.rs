//! `etl-medic approve INCIDENT_ID [--reject] [--by NAME]`: answer a proposal
//! of `approve` mode with nothing but IAM credentials. The answer goes
//! through the daemon's own `daemon::approval::settle` (the same conditional
//! write, the same safety review and executor as a Slack click), run here
//! in-process on the configured AWS resources.

use clap::Args;

use crate::adapters::aws::AwsConnection;
use crate::adapters::wiring::aws_ports;
use crate::cli::run::{LogFormat, init_tracing, runtime};
use crate::config::Settings;
use crate::daemon::app::Application;
use crate::daemon::approval::{Answer, AnswerRefused, Channel, Settled, settle};

/// Longest incident id taken (a Glue job name is at most 255 characters, a run id about 70).
const MAX_INCIDENT_ID_CHARS: usize = 400;
const MAX_APPROVER_CHARS: usize = 128;

#[derive(Debug, Clone, Args)]
pub struct ApproveArgs {
    /// The incident, `JOB_NAME/RUN_ID`, as the approval request names it.
    #[arg(value_name = "INCIDENT_ID")]
    pub incident_id: String,
    /// Reject the proposal instead: it is escalated, nothing runs.
    #[arg(long)]
    pub reject: bool,
    /// Who answers, for the audit (default: $USER).
    #[arg(long, value_name = "NAME")]
    pub by: Option<String>,
    /// Answer only if the pending proposal is still this one (its hash, as
    /// the approval request shows it).
    #[arg(long, value_name = "HASH")]
    pub binding: Option<String>,
}

/// Why the command stopped; the caller maps `Usage` to exit 64.
pub enum ApproveFailure {
    Usage(String),
    Refused(String),
}

/// Checks the arguments before any AWS call.
pub fn answer_from(args: &ApproveArgs, user: Option<&str>) -> Result<Answer, String> {
    let incident_id = args.incident_id.trim();
    let well_formed =
        incident_id.split_once('/').is_some_and(|(job, run)| !job.is_empty() && !run.is_empty() && !run.contains('/'))
            && incident_id.chars().count() <= MAX_INCIDENT_ID_CHARS
            && !incident_id.chars().any(|character| character.is_control() || character.is_whitespace());
    if !well_formed {
        return Err(format!(
            "INCIDENT_ID {:?} is not an incident id: expected JOB_NAME/RUN_ID, e.g. orders_daily/jr_0123abcd",
            args.incident_id
        ));
    }
    let by = args.by.as_deref().or(user).map(str::trim).unwrap_or_default();
    if by.is_empty() || by.chars().count() > MAX_APPROVER_CHARS || by.chars().any(char::is_control) {
        return Err(format!("--by {by:?}: name who answers (1 to {MAX_APPROVER_CHARS} printable characters)"));
    }
    if let Some(binding) = &args.binding
        && (binding.len() != 64 || !binding.chars().all(|character| character.is_ascii_hexdigit()))
    {
        return Err(format!("--binding {binding:?} is not a proposal hash (64 hex digits)"));
    }
    Ok(Answer {
        incident_id: incident_id.to_string(),
        approve: !args.reject,
        by: by.to_string(),
        channel: Channel::Cli,
        binding: args.binding.clone(),
    })
}

/// Apply the answer on AWS and print what it led to. `Ok` when the answer
/// was applied and (for an approval) the action ran.
pub fn run_approve(answer: Answer, settings: Settings) -> Result<(), ApproveFailure> {
    init_tracing(LogFormat::Pretty, "warn");
    let runtime = runtime().map_err(|error| ApproveFailure::Refused(format!("{error:#}")))?;
    runtime.block_on(async move {
        let connection = AwsConnection::from_environment().await;
        let ports = aws_ports(&connection, &settings).map_err(|error| ApproveFailure::Usage(error.to_string()))?;
        let application = Application::build(settings, ports, None)
            .await
            .map_err(|error| ApproveFailure::Refused(format!("{error:#}")))?;
        match settle(application.context(), &answer).await {
            Ok(Settled::Ran { action, started_run_id }) => {
                let run = started_run_id.map(|run| format!(", run {run} started")).unwrap_or_default();
                println!("approved {} by {}: {} carried out{run}", answer.incident_id, answer.by, action.kind());
                Ok(())
            }
            Ok(Settled::Rejected) => {
                println!("rejected {} by {}: escalated, nothing ran", answer.incident_id, answer.by);
                Ok(())
            }
            Ok(Settled::Escalated { action, reason }) => Err(ApproveFailure::Refused(format!(
                "approved {}, but {} did not run: {reason}",
                answer.incident_id,
                action.kind()
            ))),
            Err(AnswerRefused::Step(error)) => {
                Err(ApproveFailure::Refused(format!("could not apply the answer to {}: {error}", answer.incident_id)))
            }
            Err(refused) => Err(ApproveFailure::Refused(refused.to_string())),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(incident_id: &str, by: Option<&str>) -> ApproveArgs {
        ApproveArgs { incident_id: incident_id.into(), reject: false, by: by.map(str::to_string), binding: None }
    }

    #[test]
    fn malformed_ids_and_names_are_refused_before_any_call() {
        for bad in ["", "orders_daily", "/jr_1", "orders_daily/", "a/b/c", "orders daily/jr_1", "orders\u{7}/jr_1"] {
            assert!(answer_from(&args(bad, Some("alice")), None).is_err(), "{bad:?}");
        }
        assert!(answer_from(&args("orders_daily/jr_1", None), None).is_err(), "someone must answer");
        assert!(answer_from(&args("orders_daily/jr_1", Some("\u{1b}[31m")), None).is_err());
        let answer = answer_from(&args("orders_daily/jr_1", None), Some("bob")).expect("well formed");
        assert_eq!((answer.by.as_str(), answer.approve, answer.channel), ("bob", true, Channel::Cli));
        let bad_hash = ApproveArgs { binding: Some("abc".into()), ..args("orders_daily/jr_1", Some("alice")) };
        assert!(answer_from(&bad_hash, None).is_err());
    }
}

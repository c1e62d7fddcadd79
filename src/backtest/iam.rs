//! The IAM policy a backtest needs, derived from the calls it makes: every
//! outside call goes through a port, each port call names its `Operation`,
//! and the backtest makes only those in [`BACKTEST_OPERATIONS`]. Each maps
//! to the IAM action that permits it; all of them only read. A test runs the
//! backtest and checks that every call it made is in the list.

use serde_json::json;

use crate::config::Settings;
use crate::ports::Operation;

/// Every operation a backtest calls (the port decorator reports a call under
/// one of these; CloudWatch reads report as GetLogEvents and make
/// DescribeLogStreams calls too).
pub const BACKTEST_OPERATIONS: [Operation; 6] = [
    Operation::GetJobs,
    Operation::GetJobRuns,
    Operation::GetTableVersions,
    Operation::DescribeLogStreams,
    Operation::GetLogEvents,
    Operation::ListObjectsV2,
];

/// The IAM action that permits `operation`.
pub fn iam_action(operation: Operation) -> Option<&'static str> {
    Some(match operation {
        Operation::GetJobs => "glue:GetJobs",
        Operation::GetJobRuns => "glue:GetJobRuns",
        Operation::GetJobRun => "glue:GetJobRun",
        Operation::GetJob => "glue:GetJob",
        Operation::GetTable => "glue:GetTable",
        Operation::GetTableVersion => "glue:GetTableVersion",
        Operation::GetTableVersions => "glue:GetTableVersions",
        Operation::DescribeLogStreams => "logs:DescribeLogStreams",
        Operation::GetLogEvents => "logs:GetLogEvents",
        Operation::ListObjectsV2 => "s3:ListBucket",
        Operation::GetObject => "s3:GetObject",
        _ => return None,
    })
}

/// Whether an IAM action only reads (by the verbs AWS uses for reads).
pub fn is_read_only(action: &str) -> bool {
    let verb = action.split_once(':').map_or(action, |(_, verb)| verb);
    ["Get", "List", "Describe"].iter().any(|prefix| verb.starts_with(prefix))
}

fn actions(operations: &[Operation]) -> Vec<&'static str> {
    operations.iter().filter_map(|operation| iam_action(*operation)).collect()
}

/// The policy document, scoped where the resources are known: the log
/// groups of `[logs]`. Jobs, tables and source buckets are the account's
/// own and not known in advance.
pub fn policy(settings: &Settings) -> serde_json::Value {
    let log_group = |group: &str| format!("arn:aws:logs:*:*:log-group:{group}:*");
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ReadGlueJobHistory",
                "Effect": "Allow",
                "Action": actions(&[Operation::GetJobs, Operation::GetJobRuns]),
                "Resource": "*"
            },
            {
                "Sid": "ReadCatalogVersions",
                "Effect": "Allow",
                "Action": actions(&[Operation::GetTableVersions]),
                "Resource": [
                    "arn:aws:glue:*:*:catalog",
                    "arn:aws:glue:*:*:database/*",
                    "arn:aws:glue:*:*:table/*/*"
                ]
            },
            {
                "Sid": "ReadRunLogs",
                "Effect": "Allow",
                "Action": actions(&[Operation::DescribeLogStreams, Operation::GetLogEvents]),
                "Resource": [log_group(&settings.logs.error_group), log_group(&settings.logs.output_group)]
            },
            {
                "Sid": "ListJobSources",
                "Effect": "Allow",
                "Action": actions(&[Operation::ListObjectsV2]),
                "Resource": "arn:aws:s3:::*"
            }
        ]
    })
}

/// Every action of a policy document.
pub fn policy_actions(document: &serde_json::Value) -> Vec<String> {
    document["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|statement| statement["Action"].as_array().cloned().unwrap_or_default())
        .filter_map(|action| action.as_str().map(str::to_string))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_grants_exactly_the_backtests_calls_and_only_reads() {
        let document = policy(&Settings::default());
        let mut granted = policy_actions(&document);
        granted.sort();
        let mut needed: Vec<String> = actions(&BACKTEST_OPERATIONS).into_iter().map(str::to_string).collect();
        needed.sort();
        needed.dedup();
        assert_eq!(granted, needed);
        assert_eq!(needed.len(), BACKTEST_OPERATIONS.len(), "every operation has its action");
        assert!(granted.iter().all(|action| is_read_only(action)), "{granted:?}");
        assert!(document.to_string().contains("log-group:/aws-glue/jobs/error:*"));
    }

    #[test]
    fn writes_are_not_read_only() {
        for write in [Operation::StartJobRun, Operation::UpdateTable, Operation::PutObject, Operation::CopyObject] {
            assert_eq!(iam_action(write), None, "{write} is no backtest call");
        }
        assert!(!is_read_only("glue:StartJobRun"));
        assert!(!is_read_only("glue:UpdateTable"));
        assert!(is_read_only("logs:DescribeLogStreams"));
    }
}

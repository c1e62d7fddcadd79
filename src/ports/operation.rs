//! The closed set of outside calls etl-medic makes: every AWS operation an
//! adapter issues, and the escalation webhook's POST. One declaration, used
//! by every `PortError` (which call failed), by the timing of calls at the
//! port border (`ports::observed`) and by the `operation` label of the
//! metrics, which registers every value up front so a dashboard sees a zero
//! series before the first call.

use std::fmt;

/// One outside call, named as the service names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    // SQS
    ReceiveMessage,
    DeleteMessageBatch,
    ChangeMessageVisibility,
    SendMessage,
    GetQueueAttributes,
    GetQueueUrl,
    // Glue jobs
    GetJobs,
    GetJobRun,
    GetJob,
    GetJobRuns,
    StartJobRun,
    // Glue Data Catalog
    GetTable,
    GetTableVersion,
    GetTableVersions,
    UpdateTable,
    // CloudWatch Logs
    DescribeLogStreams,
    GetLogEvents,
    // S3
    ListObjectsV2,
    GetObject,
    PutObject,
    CopyObject,
    DeleteObject,
    // DynamoDB
    GetItem,
    PutItem,
    UpdateItem,
    DeleteItem,
    Query,
    Scan,
    // SNS
    Publish,
    /// The escalation webhook: not AWS, but an outside call that fails and
    /// is watched the same way.
    WebhookPost,
    // Secrets Manager (the Slack signing secret, read at start-up)
    GetSecretValue,
    // SQS, the approvals queue (one request at a time)
    DeleteMessage,
}

impl Operation {
    /// Every operation, in declaration order.
    pub const ALL: [Operation; 32] = [
        Operation::ReceiveMessage,
        Operation::DeleteMessageBatch,
        Operation::ChangeMessageVisibility,
        Operation::SendMessage,
        Operation::GetQueueAttributes,
        Operation::GetQueueUrl,
        Operation::GetJobs,
        Operation::GetJobRun,
        Operation::GetJob,
        Operation::GetJobRuns,
        Operation::StartJobRun,
        Operation::GetTable,
        Operation::GetTableVersion,
        Operation::GetTableVersions,
        Operation::UpdateTable,
        Operation::DescribeLogStreams,
        Operation::GetLogEvents,
        Operation::ListObjectsV2,
        Operation::GetObject,
        Operation::PutObject,
        Operation::CopyObject,
        Operation::DeleteObject,
        Operation::GetItem,
        Operation::PutItem,
        Operation::UpdateItem,
        Operation::DeleteItem,
        Operation::Query,
        Operation::Scan,
        Operation::Publish,
        Operation::WebhookPost,
        Operation::GetSecretValue,
        Operation::DeleteMessage,
    ];

    /// The name as the service spells it: the `operation` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::ReceiveMessage => "ReceiveMessage",
            Operation::DeleteMessageBatch => "DeleteMessageBatch",
            Operation::ChangeMessageVisibility => "ChangeMessageVisibility",
            Operation::SendMessage => "SendMessage",
            Operation::GetQueueAttributes => "GetQueueAttributes",
            Operation::GetQueueUrl => "GetQueueUrl",
            Operation::GetJobs => "GetJobs",
            Operation::GetJobRun => "GetJobRun",
            Operation::GetJob => "GetJob",
            Operation::GetJobRuns => "GetJobRuns",
            Operation::StartJobRun => "StartJobRun",
            Operation::GetTable => "GetTable",
            Operation::GetTableVersion => "GetTableVersion",
            Operation::GetTableVersions => "GetTableVersions",
            Operation::UpdateTable => "UpdateTable",
            Operation::DescribeLogStreams => "DescribeLogStreams",
            Operation::GetLogEvents => "GetLogEvents",
            Operation::ListObjectsV2 => "ListObjectsV2",
            Operation::GetObject => "GetObject",
            Operation::PutObject => "PutObject",
            Operation::CopyObject => "CopyObject",
            Operation::DeleteObject => "DeleteObject",
            Operation::GetItem => "GetItem",
            Operation::PutItem => "PutItem",
            Operation::UpdateItem => "UpdateItem",
            Operation::DeleteItem => "DeleteItem",
            Operation::Query => "Query",
            Operation::Scan => "Scan",
            Operation::Publish => "Publish",
            Operation::WebhookPost => "WebhookPost",
            Operation::GetSecretValue => "GetSecretValue",
            Operation::DeleteMessage => "DeleteMessage",
        }
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_listed_once_with_a_distinct_name() {
        let mut names: Vec<&str> = Operation::ALL.iter().map(|operation| operation.as_str()).collect();
        let listed = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), listed);
        assert_eq!(Operation::StartJobRun.to_string(), "StartJobRun");
    }
}

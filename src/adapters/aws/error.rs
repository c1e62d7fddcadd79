//! SDK errors of every AWS service, turned into the port error a caller
//! decides on: retry later, give up on this item, or re-read and decide again.
//!
//! All AWS SDK crates share the smithy `SdkError` and error-metadata types,
//! so one mapping serves every adapter. The service error code decides
//! first; the HTTP status decides when the code is unknown (moto answers an
//! unimplemented call with a bare HTTP 500 page).

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::ports::Operation;
use crate::ports::PortError;

const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "KMSThrottlingException",
    "AWS.SimpleQueueService.RequestThrottled",
];

const NOT_FOUND_CODES: &[&str] = &[
    "EntityNotFoundException",
    "ResourceNotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
    "NotFound",
    "NotFoundException",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ReceiptHandleIsInvalid",
    "MessageNotInflight",
    "AWS.SimpleQueueService.MessageNotInflight",
];

const CONFLICT_CODES: &[&str] = &[
    "ConditionalCheckFailedException",
    "ConcurrentModificationException",
    "TransactionConflictException",
    "VersionMismatchException",
];

const TRANSIENT_CODES: &[&str] = &[
    "InternalFailure",
    "InternalError",
    "InternalServerError",
    "InternalServiceException",
    "InternalServiceError",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "OperationTimeoutException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// Map any SDK call error into a [`PortError`] labelled with `operation`.
pub(super) fn port_error<E>(operation: Operation, error: SdkError<E, Response>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let message = readable(&error);
    match &error {
        SdkError::ConstructionFailure(_) => PortError::Rejected { operation, message },
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => PortError::Transient { operation, message },
        SdkError::ResponseError(response_error) => {
            let status = response_error.raw().status().as_u16();
            classify_status(operation, status, message)
        }
        SdkError::ServiceError(service_error) => {
            let status = service_error.raw().status().as_u16();
            let code = service_error.err().code().unwrap_or_default();
            classify_code(operation, code, status, message)
        }
        // SdkError is non-exhaustive: an unknown kind is safest retried once
        // by the caller rather than dropped.
        _ => PortError::Transient { operation, message },
    }
}

/// Longest error message kept: one readable line, not the SDK's dump.
const MAX_MESSAGE_CHARS: usize = 300;

/// One readable sentence: the service's code and message when AWS
/// answered, else the chain of causes (deduplicated, on one line), with a
/// hint when the cause is that no credentials could be found.
fn readable<E>(error: &SdkError<E, Response>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    if let SdkError::ServiceError(service_error) = error {
        let metadata = service_error.err();
        if let Some(code) = metadata.code() {
            return shorten(&format!("{code}: {}", metadata.message().unwrap_or("no message")));
        }
    }
    let mut causes: Vec<String> = Vec::new();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        let text = current.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        if !text.is_empty() && !causes.iter().any(|seen| seen.contains(&text)) {
            causes.push(text);
        }
        cause = current.source();
    }
    let chain = if causes.is_empty() { DisplayErrorContext(error).to_string() } else { causes.join(": ") };
    let lowered = chain.to_ascii_lowercase();
    if lowered.contains("credential") || lowered.contains("imds") {
        return shorten(&format!(
            "no usable AWS credentials (set AWS_REGION and credentials in the environment, or run with an ECS task role): {chain}"
        ));
    }
    shorten(&chain)
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_MESSAGE_CHARS {
        return text.to_string();
    }
    let kept: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
    format!("{kept}...")
}

/// Decide on a service error code, falling back to its HTTP status.
pub(super) fn classify_code(operation: Operation, code: &str, status: u16, message: String) -> PortError {
    if THROTTLING_CODES.contains(&code) {
        return PortError::Throttled { operation, message };
    }
    if CONFLICT_CODES.contains(&code) {
        return PortError::Conflict { operation, message };
    }
    if NOT_FOUND_CODES.contains(&code) || is_sqs_missing_receipt(code, &message) {
        return PortError::NotFound { operation, message };
    }
    if TRANSIENT_CODES.contains(&code) {
        return PortError::Transient { operation, message };
    }
    classify_status(operation, status, message)
}

fn classify_status(operation: Operation, status: u16, message: String) -> PortError {
    match status {
        429 => PortError::Throttled { operation, message },
        404 => PortError::NotFound { operation, message },
        409 => PortError::Conflict { operation, message },
        500..=599 => PortError::Transient { operation, message },
        _ => PortError::Rejected { operation, message },
    }
}

/// SQS reports a deleted or re-received message's handle as a generic
/// `InvalidParameterValue` whose text names the receipt handle.
fn is_sqs_missing_receipt(code: &str, message: &str) -> bool {
    code == "InvalidParameterValue" && message.contains("ReceiptHandle")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_what_the_caller_must_do() {
        let throttled = classify_code(Operation::PutItem, "ProvisionedThroughputExceededException", 400, String::new());
        assert!(throttled.is_throttled() && throttled.is_retryable());
        assert!(classify_code(Operation::PutItem, "ConditionalCheckFailedException", 400, String::new()).is_conflict());
        assert!(
            classify_code(Operation::UpdateTable, "ConcurrentModificationException", 400, String::new()).is_conflict()
        );
        assert!(classify_code(Operation::GetTable, "EntityNotFoundException", 400, String::new()).is_not_found());
        assert!(classify_code(Operation::GetObject, "NoSuchKey", 404, String::new()).is_not_found());
        assert!(classify_code(Operation::StartJobRun, "InternalServiceException", 500, String::new()).is_retryable());
        let denied = classify_code(Operation::StartJobRun, "AccessDeniedException", 400, String::new());
        assert_eq!(denied, PortError::rejected(Operation::StartJobRun, ""));
    }

    #[test]
    fn unknown_codes_fall_back_to_the_http_status() {
        // moto answers unimplemented calls with an HTML 500 page and no code.
        assert!(classify_code(Operation::GetTableVersion, "", 500, String::new()).is_retryable());
        assert!(classify_code(Operation::GetObject, "", 404, String::new()).is_not_found());
        assert!(classify_code(Operation::Publish, "", 429, String::new()).is_throttled());
        assert!(!classify_code(Operation::Publish, "InvalidParameter", 400, String::new()).is_retryable());
    }

    #[test]
    fn sqs_stale_receipt_handles_are_not_found() {
        let message = "Value abc for parameter ReceiptHandle is invalid. Reason: Message does not exist".to_string();
        assert!(
            classify_code(Operation::ChangeMessageVisibility, "InvalidParameterValue", 400, message).is_not_found()
        );
        let other = "Value 99999 for parameter VisibilityTimeout is invalid".to_string();
        assert!(!classify_code(Operation::ChangeMessageVisibility, "InvalidParameterValue", 400, other).is_not_found());
    }
}

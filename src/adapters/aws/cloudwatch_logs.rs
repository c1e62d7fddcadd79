//! Run logs from CloudWatch Logs: Glue writes a run's driver log to the
//! stream named after the run id and executor logs to `<run id>-<suffix>`
//! streams, in the error and output groups the daemon is configured with.
//!
//! Only the tail of each stream is fetched (GetLogEvents from the end), the
//! streams are merged by time and bounded in lines and bytes here, in Rust:
//! CloudWatch filter patterns (and moto's emulation of them) are not relied on.

use async_trait::async_trait;
use aws_sdk_cloudwatchlogs::types::OutputLogEvent;

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::ports::logs::bound_lines;
use crate::ports::{LogLimits, LogLines, Operation, PortError, RunLogs};

/// Streams of one run read at most (the driver stream and some executors).
const MAX_STREAMS_PER_RUN: i32 = 16;
/// GetLogEvents' largest page.
const MAX_EVENTS_PER_CALL: usize = 10_000;

pub struct CloudWatchRunLogs {
    client: aws_sdk_cloudwatchlogs::Client,
}

impl CloudWatchRunLogs {
    pub fn new(connection: &AwsConnection) -> CloudWatchRunLogs {
        CloudWatchRunLogs { client: connection.logs_client() }
    }

    /// The run's streams, the driver stream (named exactly the run id) first.
    async fn run_streams(&self, group: &str, run_id: &str) -> Result<Vec<String>, PortError> {
        let described = self
            .client
            .describe_log_streams()
            .log_group_name(group)
            .log_stream_name_prefix(run_id)
            .limit(MAX_STREAMS_PER_RUN)
            .send()
            .await;
        let output = match described {
            Ok(output) => output,
            Err(error) => {
                let port_failure = port_error(Operation::DescribeLogStreams, error);
                // A missing group is absent evidence, not a failure.
                return if port_failure.is_not_found() { Ok(Vec::new()) } else { Err(port_failure) };
            }
        };
        let mut streams: Vec<String> = output
            .log_streams
            .unwrap_or_default()
            .into_iter()
            .filter_map(|stream| stream.log_stream_name)
            .filter(|name| belongs_to_run(name, run_id))
            .collect();
        streams.sort_by_key(|name| name != run_id);
        Ok(streams)
    }

    async fn stream_tail(
        &self,
        group: &str,
        stream: &str,
        max_events: usize,
    ) -> Result<Vec<OutputLogEvent>, PortError> {
        let fetched = self
            .client
            .get_log_events()
            .log_group_name(group)
            .log_stream_name(stream)
            .start_from_head(false)
            .limit(max_events.clamp(1, MAX_EVENTS_PER_CALL) as i32)
            .send()
            .await;
        match fetched {
            Ok(output) => Ok(output.events.unwrap_or_default()),
            Err(error) => {
                let port_failure = port_error(Operation::GetLogEvents, error);
                if port_failure.is_not_found() { Ok(Vec::new()) } else { Err(port_failure) }
            }
        }
    }
}

/// Glue names a run's streams `<run id>` and `<run id>-<suffix>`.
fn belongs_to_run(stream_name: &str, run_id: &str) -> bool {
    stream_name == run_id || stream_name.strip_prefix(run_id).is_some_and(|rest| rest.starts_with('-'))
}

/// Merge the tails of several streams into one time-ordered list of lines.
fn merge_by_time(mut events: Vec<(usize, OutputLogEvent)>) -> Vec<String> {
    // Stable on (timestamp, stream order) so lines of one stream keep their order.
    events.sort_by_key(|(stream_index, event)| (event.timestamp.unwrap_or(0), *stream_index));
    events
        .into_iter()
        .filter_map(|(_, event)| event.message)
        .map(|message| message.trim_end_matches(['\n', '\r']).to_string())
        .collect()
}

#[async_trait]
impl RunLogs for CloudWatchRunLogs {
    async fn run_lines(&self, group: &str, run_id: &str, limits: LogLimits) -> Result<LogLines, PortError> {
        if limits.max_lines == 0 || run_id.is_empty() {
            return Ok(LogLines::default());
        }
        let streams = self.run_streams(group, run_id).await?;
        let mut events = Vec::new();
        for (stream_index, stream) in streams.iter().enumerate() {
            let tail = self.stream_tail(group, stream, limits.max_lines).await?;
            events.extend(tail.into_iter().map(|event| (stream_index, event)));
        }
        Ok(bound_lines(merge_by_time(events), limits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_runs_own_streams_belong_to_it() {
        assert!(belongs_to_run("jr_abc", "jr_abc"));
        assert!(belongs_to_run("jr_abc-executor-1", "jr_abc"));
        assert!(!belongs_to_run("jr_abcd", "jr_abc"));
        assert!(!belongs_to_run("jr_ab", "jr_abc"));
    }

    #[test]
    fn streams_merge_in_time_order_without_trailing_newlines() {
        let event =
            |timestamp: i64, message: &str| OutputLogEvent::builder().timestamp(timestamp).message(message).build();
        let merged = merge_by_time(vec![
            (0, event(30, "driver: failed\n")),
            (1, event(10, "executor: start")),
            (0, event(20, "driver: reading")),
        ]);
        assert_eq!(merged, vec!["executor: start", "driver: reading", "driver: failed"]);
    }
}

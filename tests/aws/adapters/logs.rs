//! CloudWatchRunLogs: the lines of one run's streams, bounded in lines and
//! bytes, in time order, and absent logs as empty evidence.

use etl_medic::adapters::aws::CloudWatchRunLogs;
use etl_medic::ports::{LogLimits, RunLogs};

use crate::support::Moto;

async fn put_lines(logs: &aws_sdk_cloudwatchlogs::Client, group: &str, stream: &str, lines: &[(i64, &str)]) {
    logs.create_log_stream().log_group_name(group).log_stream_name(stream).send().await.unwrap();
    let mut request = logs.put_log_events().log_group_name(group).log_stream_name(stream);
    for (timestamp, message) in lines {
        request = request.log_events(
            aws_sdk_cloudwatchlogs::types::InputLogEvent::builder()
                .timestamp(*timestamp)
                .message(*message)
                .build()
                .unwrap(),
        );
    }
    request.send().await.unwrap();
}

#[tokio::test]
async fn a_runs_lines_come_from_its_own_streams_bounded_and_in_time_order() {
    let moto = Moto::start();
    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config());
    let group = "/aws-glue/jobs/error";
    logs.create_log_group().log_group_name(group).send().await.unwrap();
    let base = 1_795_917_600_000_i64;
    let long_line = format!("py4j.protocol.Py4JJavaError: {}", "x".repeat(500));
    put_lines(&logs, group, "jr_1", &[(base, "driver starting"), (base + 3_000, &long_line)]).await;
    put_lines(&logs, group, "jr_1-executor-1", &[(base + 1_000, "executor lost"), (base + 2_000, "retrying task 7")])
        .await;
    put_lines(&logs, group, "jr_10", &[(base + 4_000, "another run's line")]).await;

    let run_logs = CloudWatchRunLogs::new(&moto.connection());
    let limits = LogLimits { max_lines: 3, max_line_bytes: 40 };
    let lines = run_logs.run_lines(group, "jr_1", limits).await.unwrap();
    assert_eq!(lines.lines.len(), 3);
    assert_eq!(lines.lines[0], "executor lost");
    assert_eq!(lines.lines[1], "retrying task 7");
    assert!(lines.lines[2].starts_with("py4j.protocol.Py4JJavaError"));
    assert!(lines.lines[2].len() <= 40);
    assert!(lines.truncated, "a line was dropped and one was cut");
    assert!(!lines.lines.iter().any(|line| line.contains("another run")));

    let roomy = run_logs.run_lines(group, "jr_10", LogLimits { max_lines: 10, max_line_bytes: 1_000 }).await.unwrap();
    assert_eq!(roomy.lines, vec!["another run's line".to_string()]);
    assert!(!roomy.truncated);
}

#[tokio::test]
async fn missing_groups_and_streams_are_absent_evidence() {
    let moto = Moto::start();
    let run_logs = CloudWatchRunLogs::new(&moto.connection());
    let limits = LogLimits { max_lines: 10, max_line_bytes: 100 };
    let no_group = run_logs.run_lines("/aws-glue/jobs/output", "jr_1", limits).await.unwrap();
    assert!(no_group.lines.is_empty() && !no_group.truncated);

    let logs = aws_sdk_cloudwatchlogs::Client::new(&moto.sdk_config());
    logs.create_log_group().log_group_name("/aws-glue/jobs/output").send().await.unwrap();
    let no_stream = run_logs.run_lines("/aws-glue/jobs/output", "jr_1", limits).await.unwrap();
    assert!(no_stream.lines.is_empty());
}

//! In-memory CloudWatch Logs: lines per (log group, stream).

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::adapters::memory::lock;
use crate::ports::logs::bound_lines;
use crate::ports::{LogLimits, LogLines, PortError, RunLogs};

#[derive(Debug, Default)]
pub struct MemoryLogs {
    /// (group, stream) -> lines in time order.
    streams: Mutex<BTreeMap<(String, String), Vec<String>>>,
}

impl MemoryLogs {
    pub fn new() -> MemoryLogs {
        MemoryLogs::default()
    }

    pub fn append(&self, group: &str, stream: &str, lines: impl IntoIterator<Item = String>) {
        lock(&self.streams).entry((group.to_string(), stream.to_string())).or_default().extend(lines);
    }
}

#[async_trait]
impl RunLogs for MemoryLogs {
    async fn run_lines(&self, group: &str, run_id: &str, limits: LogLimits) -> Result<LogLines, PortError> {
        let streams = lock(&self.streams);
        let executor_prefix = format!("{run_id}-");
        let all_lines: Vec<String> = streams
            .iter()
            .filter(|((stream_group, stream), _)| {
                stream_group == group && (stream == run_id || stream.starts_with(&executor_prefix))
            })
            .flat_map(|(_, lines)| lines.iter().cloned())
            .collect();
        Ok(bound_lines(all_lines, limits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_the_runs_streams_of_the_group_are_read_and_bounded() {
        let logs = MemoryLogs::new();
        logs.append("/err", "jr_1", vec!["a".into(), "b".into()]);
        logs.append("/err", "jr_1-exec-2", vec!["c".into()]);
        logs.append("/err", "jr_10", vec!["other run".into()]);
        logs.append("/out", "jr_1", vec!["other group".into()]);
        let limits = LogLimits { max_lines: 2, max_line_bytes: 100 };
        let lines = logs.run_lines("/err", "jr_1", limits).await.unwrap();
        assert_eq!(lines.lines, vec!["b".to_string(), "c".to_string()]);
        assert!(lines.truncated);
        assert!(logs.run_lines("/none", "jr_1", limits).await.unwrap().lines.is_empty());
    }
}

//! The logs port (CloudWatch Logs): the lines one Glue job run wrote to a
//! log group (Glue names the streams after the run id).

use async_trait::async_trait;

use crate::ports::PortError;

/// Bounds on what one read returns, so evidence stays small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    pub max_lines: usize,
    /// Longer lines are cut to this many bytes (at a char boundary).
    pub max_line_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogLines {
    pub lines: Vec<String>,
    /// Whether lines were dropped or cut to respect the limits.
    pub truncated: bool,
}

/// Contract:
/// - `run_lines(group, run_id, limits)` returns the lines of the streams of
///   `group` that belong to run `run_id` (stream name equal to the run id or
///   starting with `<run_id>-`), in time order; when there are more than
///   `limits.max_lines`, the LAST `max_lines` are kept (errors come at the
///   end), and `truncated` says so. Each line is at most `max_line_bytes`.
/// - A group or run without streams gives an empty `LogLines`, not an error:
///   absent logs are absent evidence.
#[async_trait]
pub trait RunLogs: Send + Sync {
    async fn run_lines(&self, group: &str, run_id: &str, limits: LogLimits) -> Result<LogLines, PortError>;
}

/// Cut `line` to at most `max_bytes` bytes on a char boundary; shared by
/// adapters so they bound lines identically.
pub fn bound_line(line: &str, max_bytes: usize) -> (String, bool) {
    if line.len() <= max_bytes {
        return (line.to_string(), false);
    }
    let mut end = max_bytes;
    while end > 0 && !line.is_char_boundary(end) {
        end -= 1;
    }
    (line[..end].to_string(), true)
}

/// Keep the last `limits.max_lines` lines, each bounded; shared by adapters.
pub fn bound_lines(all_lines: Vec<String>, limits: LogLimits) -> LogLines {
    let mut truncated = all_lines.len() > limits.max_lines;
    let skip = all_lines.len().saturating_sub(limits.max_lines);
    let lines = all_lines
        .into_iter()
        .skip(skip)
        .map(|line| {
            let (bounded, cut) = bound_line(&line, limits.max_line_bytes);
            truncated |= cut;
            bounded
        })
        .collect();
    LogLines { lines, truncated }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounding_keeps_the_last_lines_and_cuts_on_char_boundaries() {
        let limits = LogLimits { max_lines: 2, max_line_bytes: 3 };
        let bounded = bound_lines(vec!["first".into(), "ab".into(), "héllo".into()], limits);
        assert_eq!(bounded.lines, vec!["ab".to_string(), "hé".to_string()]);
        assert!(bounded.truncated);
        let untouched = bound_lines(vec!["ok".into()], limits);
        assert!(!untouched.truncated);
    }
}

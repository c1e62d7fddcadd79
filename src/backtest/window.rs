//! Which failures a backtest looks at: the time window (`--since 30d`, or
//! `--from DATE --to DATE`) and the jobs (`--jobs GLOB`). Parsing and
//! matching are pure; a problem is a message for the user (exit 64).

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// Failures whose run ended at or after `from` and before `to` are backtested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

impl Window {
    pub fn contains(&self, at: DateTime<Utc>) -> bool {
        self.from <= at && at < self.to
    }
}

/// The window as the user gave it, resolved against a clock once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum WindowSpec {
    /// The last `text` (e.g. `30d`) before now.
    Since { text: String, seconds: i64 },
    /// From one date or time to another; a bare date `--to` means the end of that day.
    Range { from: DateTime<Utc>, to: DateTime<Utc> },
}

impl WindowSpec {
    /// From the command line: `--since`, or `--from` with an optional `--to`
    /// (default: now). Neither means the default `--since`.
    pub fn from_arguments(
        since: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
        default_since: &str,
    ) -> Result<WindowSpec, String> {
        match (since, from, to) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                Err("give either --since or --from/--to, not both".to_string())
            }
            (None, None, Some(_)) => Err("--to needs --from".to_string()),
            (None, Some(from), to) => {
                let from = parse_time(from, false).map_err(|error| format!("--from: {error}"))?;
                let to = match to {
                    Some(text) => Some(parse_time(text, true).map_err(|error| format!("--to: {error}"))?),
                    None => None,
                };
                Ok(WindowSpec::Range { from, to: to.unwrap_or(DateTime::<Utc>::MAX_UTC) })
            }
            (since, None, None) => {
                let text = since.unwrap_or(default_since);
                let seconds = parse_since(text).map_err(|error| format!("--since: {error}"))?;
                Ok(WindowSpec::Since { text: text.to_string(), seconds })
            }
        }
    }

    /// The concrete window at `now`; an empty or future window is refused.
    pub fn resolve(&self, now: DateTime<Utc>) -> Result<Window, String> {
        let window = match self {
            WindowSpec::Since { seconds, .. } => Window { from: now - Duration::seconds(*seconds), to: now },
            WindowSpec::Range { from, to } => Window { from: *from, to: (*to).min(now) },
        };
        if window.from >= now {
            return Err(format!("the window starts at {} which is not in the past", window.from.to_rfc3339()));
        }
        if window.from >= window.to {
            return Err(format!(
                "the window is empty: {} is not before {}",
                window.from.to_rfc3339(),
                window.to.to_rfc3339()
            ));
        }
        Ok(window)
    }
}

/// `30d`, `12h`, `2w`, `90m` -> seconds.
pub fn parse_since(text: &str) -> Result<i64, String> {
    let text = text.trim();
    let split = text.find(|character: char| !character.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let count: i64 = number.parse().map_err(|_| format!("{text:?} is not a duration like 30d, 12h, 2w or 90m"))?;
    let unit_seconds = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => return Err(format!("{text:?} is not a duration like 30d, 12h, 2w or 90m")),
    };
    if count == 0 {
        return Err(format!("{text:?} is an empty window"));
    }
    if count > 3_650 * 86_400 / unit_seconds {
        return Err(format!("{text:?} reaches back more than ten years"));
    }
    Ok(count * unit_seconds)
}

/// An RFC 3339 time, or a date (`2026-11-02`): its start, or with
/// `end_of_day` the start of the next day, so `--to 2026-11-30` includes it.
pub fn parse_time(text: &str, end_of_day: bool) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|_| format!("{text:?} is neither a date (2026-11-02) nor an RFC 3339 time"))?;
    let day = if end_of_day { date.succ_opt().unwrap_or(date) } else { date };
    Ok(day.and_time(chrono::NaiveTime::MIN).and_utc())
}

/// A shell-style pattern over job names: `*` any run of characters, `?` one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobGlob(pub String);

impl JobGlob {
    pub fn any() -> JobGlob {
        JobGlob("*".to_string())
    }

    pub fn matches(&self, name: &str) -> bool {
        glob_match(self.0.as_bytes(), name.as_bytes())
    }
}

/// Iterative wildcard matching with one backtrack point (linear in practice).
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut pattern_index, mut text_index) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while text_index < text.len() {
        match pattern.get(pattern_index) {
            Some(b'*') => {
                star = Some((pattern_index, text_index));
                pattern_index += 1;
            }
            Some(&expected) if expected == b'?' || expected == text[text_index] => {
                pattern_index += 1;
                text_index += 1;
            }
            _ => match star {
                Some((star_pattern, star_text)) => {
                    pattern_index = star_pattern + 1;
                    text_index = star_text + 1;
                    star = Some((star_pattern, star_text + 1));
                }
                None => return false,
            },
        }
    }
    pattern[pattern_index..].iter().all(|&byte| byte == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).map(|time| time.with_timezone(&Utc)).unwrap()
    }

    #[test]
    fn durations_parse_with_their_unit_and_nonsense_is_refused() {
        assert_eq!(parse_since("30d"), Ok(30 * 86_400));
        assert_eq!(parse_since("12h"), Ok(12 * 3_600));
        assert_eq!(parse_since("2w"), Ok(14 * 86_400));
        assert_eq!(parse_since("90m"), Ok(5_400));
        for bad in ["30", "d", "30days", "-3d", "0d", "99999w", ""] {
            assert!(parse_since(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn windows_resolve_against_now_and_empty_ones_are_refused() {
        let now = at("2026-12-01T00:00:00Z");
        let since = WindowSpec::from_arguments(Some("30d"), None, None, "30d").unwrap();
        assert_eq!(since.resolve(now).unwrap(), Window { from: at("2026-11-01T00:00:00Z"), to: now });
        let range = WindowSpec::from_arguments(None, Some("2026-11-02"), Some("2026-11-30"), "30d").unwrap();
        assert_eq!(range.resolve(now).unwrap(), Window { from: at("2026-11-02T00:00:00Z"), to: now });
        let open = WindowSpec::from_arguments(None, Some("2026-11-20T12:00:00Z"), None, "30d").unwrap();
        assert_eq!(open.resolve(now).unwrap().to, now);
        let backwards = WindowSpec::from_arguments(None, Some("2026-11-10"), Some("2026-11-09"), "30d").unwrap();
        assert!(backwards.resolve(now).unwrap_err().contains("empty"));
        let future = WindowSpec::from_arguments(None, Some("2027-01-01"), None, "30d").unwrap();
        assert!(future.resolve(now).is_err());
        assert!(WindowSpec::from_arguments(Some("3d"), Some("2026-11-01"), None, "30d").is_err());
        assert!(WindowSpec::from_arguments(None, None, Some("2026-11-01"), "30d").is_err());
        assert!(WindowSpec::from_arguments(None, Some("yesterday"), None, "30d").unwrap_err().contains("--from"));
    }

    #[test]
    fn globs_match_whole_names() {
        let glob = |pattern: &str| JobGlob(pattern.to_string());
        assert!(glob("*").matches("orders_daily"));
        assert!(glob("orders_*").matches("orders_daily"));
        assert!(!glob("orders_*").matches("finance_orders_daily"));
        assert!(glob("*_daily").matches("orders_daily"));
        assert!(glob("*ders*ly").matches("orders_daily"));
        assert!(glob("orders_dail?").matches("orders_daily"));
        assert!(!glob("orders").matches("orders_daily"));
        assert!(!glob("?").matches(""));
        assert!(glob("").matches(""));
    }
}

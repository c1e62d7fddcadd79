//! The autonomy ladder's arithmetic: precision of the proposals made for
//! one (job, failure class) with a Wilson lower bound, and the mode that
//! evidence supports.

use crate::core::model::Mode;

/// z for a one-sided 95% bound.
pub const WILSON_Z: f64 = 1.644_853_626_951_472_2;

/// Wilson score lower bound of a proportion `successes / trials` at `z`;
/// 0 without trials.
pub fn wilson_lower_bound(successes: u32, trials: u32, z: f64) -> f64 {
    if trials == 0 {
        return 0.0;
    }
    let n = f64::from(trials);
    let p = f64::from(successes.min(trials)) / n;
    let z2 = z * z;
    let centre = p + z2 / (2.0 * n);
    let margin = z * ((p * (1.0 - p) + z2 / (4.0 * n)) / n).sqrt();
    ((centre - margin) / (1.0 + z2 / n)).max(0.0)
}

/// Thresholds of the ladder (`[safety] promote_*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LadderRule {
    pub threshold: f64,
    pub min_decisions: u32,
    pub demote_failure_streak: u32,
    /// Never suggest past this mode.
    pub cap: Mode,
}

/// The mode the evidence supports, one step at a time from `current`:
/// up one rung when at least `min_decisions` were scored and the lower
/// bound reaches `threshold`; down one rung on a streak of failures; never
/// above `cap`, never `auto` for a critical job.
pub fn suggested_mode(
    current: Mode,
    decisions: u32,
    lower_bound: f64,
    failure_streak: u32,
    critical: bool,
    rule: &LadderRule,
) -> Mode {
    let ceiling = if critical { rule.cap.min(Mode::Approve) } else { rule.cap };
    let next = if rule.demote_failure_streak > 0 && failure_streak >= rule.demote_failure_streak {
        match current {
            Mode::Auto => Mode::Approve,
            Mode::Approve | Mode::Shadow => Mode::Shadow,
        }
    } else if decisions >= rule.min_decisions && lower_bound >= rule.threshold {
        match current {
            Mode::Shadow => Mode::Approve,
            Mode::Approve | Mode::Auto => Mode::Auto,
        }
    } else {
        current
    };
    next.min(ceiling)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_worked_values() {
        // 1.96 (two-sided 95%): 8 of 10 -> 0.4902; 80 of 100 -> 0.7112 (textbook values).
        assert!((wilson_lower_bound(8, 10, 1.96) - 0.4902).abs() < 1e-4);
        assert!((wilson_lower_bound(80, 100, 1.96) - 0.7112).abs() < 1e-4);
        assert_eq!(wilson_lower_bound(0, 0, WILSON_Z), 0.0);
        assert_eq!(wilson_lower_bound(0, 5, WILSON_Z), 0.0);
        // Perfect records: the bound grows with the evidence, never reaching 1.
        let small = wilson_lower_bound(5, 5, WILSON_Z);
        let large = wilson_lower_bound(50, 50, WILSON_Z);
        assert!(small < large && large < 1.0, "{small} {large}");
    }

    #[test]
    fn the_ladder_climbs_one_rung_within_its_cap_and_falls_on_a_streak() {
        let rule = LadderRule { threshold: 0.8, min_decisions: 20, demote_failure_streak: 3, cap: Mode::Auto };
        assert_eq!(suggested_mode(Mode::Shadow, 30, 0.9, 0, false, &rule), Mode::Approve);
        assert_eq!(suggested_mode(Mode::Approve, 30, 0.9, 0, false, &rule), Mode::Auto);
        assert_eq!(suggested_mode(Mode::Shadow, 10, 0.95, 0, false, &rule), Mode::Shadow);
        assert_eq!(suggested_mode(Mode::Shadow, 30, 0.7, 0, false, &rule), Mode::Shadow);
        assert_eq!(suggested_mode(Mode::Approve, 30, 0.9, 0, true, &rule), Mode::Approve);
        let capped = LadderRule { cap: Mode::Approve, ..rule };
        assert_eq!(suggested_mode(Mode::Approve, 30, 0.99, 0, false, &capped), Mode::Approve);
        assert_eq!(suggested_mode(Mode::Auto, 30, 0.99, 3, false, &rule), Mode::Approve);
        assert_eq!(suggested_mode(Mode::Approve, 30, 0.99, 4, false, &rule), Mode::Shadow);
    }
}

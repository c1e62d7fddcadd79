//! The demo's closing summary: how many incidents, what was done, how many
//! were fixed without a person, and the time to fix against the manual
//! policy (every failure handed to a person) played on the same incidents:
//! the same people with the same delays, so the comparison is like for like.
//! Every share and mean is over the incidents that finished.

use std::collections::BTreeMap;
use std::fmt;

use crate::core::model::{ActionKind, Mode};
use crate::demo::driver::DemoIncident;
use crate::sim::Resolution;

#[derive(Debug, Clone, PartialEq)]
pub struct DemoSummary {
    pub mode: Mode,
    pub policy_version: String,
    pub seed: u64,
    pub incidents: usize,
    pub finished: usize,
    pub fixed_without_a_person: usize,
    /// Of those, how many healed by the job's next run after log_and_wait.
    pub healed_by_waiting: usize,
    pub fixed_by_a_person: usize,
    pub actions: BTreeMap<ActionKind, usize>,
    pub safety_replacements: BTreeMap<String, u64>,
    /// Minutes to fix, incidents fixed without a person.
    pub automatic_minutes: Vec<f64>,
    /// Minutes to fix, every finished incident.
    pub all_minutes: Vec<f64>,
    /// Minutes the manual policy takes on the same finished incidents.
    pub manual_minutes: Vec<f64>,
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let middle = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        count if count % 2 == 1 => Some(sorted[middle]),
        _ => Some((sorted[middle - 1] + sorted[middle]) / 2.0),
    }
}

fn readable_minutes(minutes: f64) -> String {
    if minutes < 120.0 { format!("{minutes:.0} min") } else { format!("{:.1} h", minutes / 60.0) }
}

impl DemoSummary {
    pub fn from_incidents(
        finished: &[DemoIncident],
        incidents: usize,
        mode: Mode,
        policy_version: String,
        seed: u64,
        safety_replacements: BTreeMap<String, u64>,
    ) -> DemoSummary {
        let mut actions: BTreeMap<ActionKind, usize> = BTreeMap::new();
        let mut automatic_minutes = Vec::new();
        let mut all_minutes = Vec::new();
        let mut manual_minutes = Vec::new();
        let mut fixed_by_a_person = 0;
        let mut healed_by_waiting = 0;
        for incident in finished {
            for kind in &incident.actions {
                *actions.entry(*kind).or_default() += 1;
            }
            let escalated_after_a_failed_action =
                incident.outcome == Some("escalated") && !incident.actions.contains(&ActionKind::Escalate);
            if escalated_after_a_failed_action {
                *actions.entry(ActionKind::Escalate).or_default() += 1;
            }
            let Some(minutes) = incident.minutes_to_fix else { continue };
            all_minutes.push(minutes);
            manual_minutes.push(incident.manual_minutes);
            match incident.resolution {
                Some(Resolution::Remediated) => {
                    automatic_minutes.push(minutes);
                    healed_by_waiting += usize::from(incident.healed_by_waiting());
                }
                Some(Resolution::Human) => fixed_by_a_person += 1,
                None => {}
            }
        }
        DemoSummary {
            mode,
            policy_version,
            seed,
            incidents,
            finished: finished.len(),
            fixed_without_a_person: automatic_minutes.len(),
            healed_by_waiting,
            fixed_by_a_person,
            actions,
            safety_replacements,
            automatic_minutes,
            all_minutes,
            manual_minutes,
        }
    }

    /// Share of the finished incidents fixed without a person.
    pub fn auto_resolution_rate(&self) -> f64 {
        if self.finished == 0 { 0.0 } else { self.fixed_without_a_person as f64 / self.finished as f64 }
    }

    /// Incidents the time limit cut off.
    pub fn unfinished(&self) -> usize {
        self.incidents - self.finished
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, out: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            out,
            "etl-medic demo: {} incidents on the simulated Glue estate (seed {}, {} mode, policy {})",
            self.incidents,
            self.seed,
            self.mode.as_str(),
            self.policy_version
        )?;
        if self.unfinished() > 0 {
            writeln!(
                out,
                "  UNFINISHED: {} of {} (the time limit ran out); every figure below covers the {} that finished",
                self.unfinished(),
                self.incidents,
                self.finished
            )?;
        }
        writeln!(
            out,
            "  fixed without a person:  {} of {} ({:.0}%): {} by an action, {} by the job's next run after log_and_wait",
            self.fixed_without_a_person,
            self.finished,
            100.0 * self.auto_resolution_rate(),
            self.fixed_without_a_person - self.healed_by_waiting,
            self.healed_by_waiting
        )?;
        writeln!(out, "  fixed by a person:       {}", self.fixed_by_a_person)?;
        let actions: Vec<String> = self.actions.iter().map(|(kind, count)| format!("{kind} {count}")).collect();
        let verb = if self.mode == Mode::Shadow { "would have done" } else { "actions" };
        writeln!(out, "  {verb}: {}", if actions.is_empty() { "none".to_string() } else { actions.join(", ") })?;
        if !self.safety_replacements.is_empty() {
            let rules: Vec<String> =
                self.safety_replacements.iter().map(|(rule, count)| format!("{rule} {count}")).collect();
            writeln!(out, "  safety replaced proposals: {}", rules.join(", "))?;
        }
        if let (Some(median_minutes), Some(mean_minutes)) =
            (median(&self.automatic_minutes), mean(&self.automatic_minutes))
        {
            writeln!(
                out,
                "  time to fix without a person: median {}, mean {}",
                readable_minutes(median_minutes),
                readable_minutes(mean_minutes)
            )?;
        }
        if let (Some(mean_all), Some(mean_manual)) = (mean(&self.all_minutes), mean(&self.manual_minutes)) {
            let comparison = if self.mode == Mode::Shadow {
                "shadow mode touched nothing, so every incident went to a person as under the manual policy".to_string()
            } else {
                format!("{:.1}x faster", mean_manual / mean_all.max(1.0))
            };
            writeln!(
                out,
                "  time to fix, every incident (people included): mean {} vs {} for the manual policy on the same incidents ({comparison})",
                readable_minutes(mean_all),
                readable_minutes(mean_manual),
            )?;
        }
        write!(
            out,
            "  (manual policy: every failure handed to a person, with the simulated people's delays; `etl-medic evaluate` compares more policies)"
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_are_computed_over_what_they_say() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), Some(2.5), "an even count takes the middle two");
        assert_eq!(median(&[]), None);
        assert_eq!(mean(&[1.0, 3.0]), Some(2.0));
        assert_eq!(mean(&[]), None);
        assert_eq!(readable_minutes(90.0), "90 min");
        assert_eq!(readable_minutes(180.0), "3.0 h");
    }
}

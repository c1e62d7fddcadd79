//! Settings: safe defaults, hard limits, and the shipped `[safety]` section.

use super::*;

#[test]
fn defaults_are_valid_and_shadow() {
    let settings = SafetySettings::default();
    assert_eq!(settings.validate(), Ok(()));
    assert_eq!(settings.mode, Some(Mode::Shadow));
    let missing: Result<SafetySettings, _> = serde_json::from_str("{}");
    assert!(missing.is_err(), "no key has a default of its own in code: config/default.toml sets every one");
}

#[test]
fn widening_past_a_hard_limit_is_refused_naming_the_key() {
    let mut settings = SafetySettings { max_attempts_per_incident: 11, ..SafetySettings::default() };
    assert_eq!(settings.validate().map_err(|error| error.key().to_string()), Err("max_attempts_per_incident".into()));
    settings = SafetySettings { max_workers_ceiling: 501, ..SafetySettings::default() };
    let error = settings.validate().expect_err("ceiling above 500 refused");
    assert!(error.to_string().contains("safety.max_workers_ceiling = 501"), "{error}");
    settings = SafetySettings { quarantine_max_fraction: 0.25, ..SafetySettings::default() };
    assert_eq!(settings.validate().map_err(|error| error.key().to_string()), Err("quarantine_max_fraction".into()));
    settings = SafetySettings { job_budget_window_s: 60, ..SafetySettings::default() };
    assert_eq!(settings.validate().map_err(|error| error.key().to_string()), Err("job_budget_window_s".into()));
    settings = SafetySettings { wait_for_source_max_s: 86_401, ..SafetySettings::default() };
    let error = settings.validate().expect_err("a wait past 24 h refused");
    assert!(error.to_string().contains("safety.wait_for_source_max_s = 86401"), "{error}");
    settings = SafetySettings { wait_for_source_default_s: 30_000, ..SafetySettings::default() };
    assert_eq!(settings.validate().map_err(|error| error.key().to_string()), Err("wait_for_source_default_s".into()));
    settings = SafetySettings { max_attempts_per_incident: 10, max_workers_ceiling: 500, ..SafetySettings::default() };
    assert_eq!(settings.validate(), Ok(()), "the hard limit itself is allowed");
}

fn shipped_section(extra: &str) -> SafetySettings {
    let shipped = include_str!("../../config/default.toml");
    config::Config::builder()
        .add_source(config::File::from_str(shipped, config::FileFormat::Toml))
        .add_source(config::File::from_str(extra, config::FileFormat::Toml))
        .build()
        .and_then(|merged| merged.get::<SafetySettings>("safety"))
        .expect("the shipped [safety] section loads")
}

#[test]
fn the_defaults_are_the_shipped_section_which_lists_every_class() {
    let shipped = shipped_section("");
    assert_eq!(shipped.validate(), Ok(()));
    assert_eq!(shipped, SafetySettings::default(), "config/default.toml is the one place defaults live");
    assert_eq!(shipped.mode, Some(Mode::Shadow));
    for class in FailureClass::ALL {
        assert!(shipped.allowlist.contains_key(&class), "{class} has an allowlist in config/default.toml");
    }
    assert!(!shipped.allows(FailureClass::CodeBug, ActionKind::Retry));
    assert!(shipped.allows(FailureClass::CodeBug, ActionKind::Escalate), "escalate is always allowed");
}

#[test]
fn per_job_and_per_class_modes_load_from_toml() {
    let loaded =
        shipped_section("[safety]\njob_modes = { Orders_Daily = \"auto\" }\nclass_modes = { code_bug = \"shadow\" }\n");
    assert_eq!(loaded.job_modes.get("Orders_Daily"), Some(&Mode::Auto));
    assert_eq!(loaded.class_modes.get(&FailureClass::CodeBug), Some(&Mode::Shadow));
}

#[test]
fn unknown_keys_are_refused() {
    let result: Result<SafetySettings, _> = serde_json::from_str(r#"{"max_attempt": 3}"#);
    assert!(result.is_err());
}

#[test]
fn configured_allowlist_replaces_only_its_class() {
    let settings = shipped_section("[safety.allowlist]\ntransient_infra = [\"retry\"]\n");
    assert!(settings.allows(FailureClass::TransientInfra, ActionKind::Retry));
    assert!(!settings.allows(FailureClass::TransientInfra, ActionKind::WaitAndRetry));
    assert!(settings.allows(FailureClass::TransientInfra, ActionKind::Escalate));
    assert!(settings.allows(FailureClass::SourceUnavailable, ActionKind::WaitAndRetry));
    assert!(!settings.allows(FailureClass::CodeBug, ActionKind::Retry));
}

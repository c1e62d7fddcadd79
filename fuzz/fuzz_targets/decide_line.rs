//! Any bytes as a `decide` input line, and any well-formed request built from
//! them: the decision core never panics, and its answer is always one of the
//! named actions under the default (shadow) settings.
#![no_main]

use etl_medic::config::Settings;
use etl_medic::core::decide::decide;
use etl_medic::core::evidence::DecideRequest;
use etl_medic::core::policy::Policy;
use etl_medic::core::evidence::FleetContext;
use libfuzzer_sys::fuzz_target;

static SETTINGS: std::sync::LazyLock<Settings> =
    std::sync::LazyLock::new(|| Settings::embedded_default().expect("embedded defaults are valid"));

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let Ok(request) = serde_json::from_str::<DecideRequest>(&text) else { return };
    let outcome = decide(&request, &Policy::rules(), &SETTINGS.safety, &FleetContext::default());
    let _ = serde_json::to_string(&outcome.decision);
});

//! One `decide` call on a realistic request (schema drift with two catalog
//! versions, logs and history), parse to answer, as the JSON-lines path does
//! it; and the decision core alone on an already-parsed request.

use criterion::{Criterion, criterion_group, criterion_main};

use etl_medic::config::Settings;
use etl_medic::core::decide::decide;
use etl_medic::core::evidence::DecideRequest;
use etl_medic::core::evidence::FleetContext;
use etl_medic::core::policy::Policy;

const INCIDENTS: &str = include_str!("../examples/incidents.jsonl");

fn bench_decide(criterion: &mut Criterion) {
    let line = INCIDENTS.lines().next().unwrap_or_default();
    let settings = Settings::embedded_default().unwrap_or_else(|error| panic!("default settings: {error}"));
    let policy_text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/policy.json")).ok();
    let policy = policy_text.and_then(|text| Policy::from_json(&text).ok()).unwrap_or_else(Policy::rules);
    let fleet = FleetContext::default();
    criterion.bench_function("decide_line_parse_to_answer", |bencher| {
        let mut output = Vec::with_capacity(4096);
        bencher.iter(|| {
            output.clear();
            let request: DecideRequest = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}"));
            let outcome = decide(&request, &policy, &settings.safety, &fleet);
            serde_json::to_writer(&mut output, &outcome.decision).unwrap_or_else(|error| panic!("{error}"));
            output.len()
        })
    });
    let request: DecideRequest = serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}"));
    criterion.bench_function("decide_core_only", |bencher| {
        bencher.iter(|| decide(&request, &policy, &settings.safety, &fleet).decision.action.kind())
    });
}

criterion_group!(benches, bench_decide);
criterion_main!(benches);

//! Any bytes as an SQS message body: parsing and interpreting the
//! EventBridge envelope never panics; it answers with an event or an error.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    if let Ok(envelope) = etl_medic::core::event::parse_envelope(&body) {
        let _ = etl_medic::core::event::interpret(&envelope);
    }
});

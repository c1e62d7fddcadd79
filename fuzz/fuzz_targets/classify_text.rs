//! Any text, from any source: the classifier never panics and always answers
//! with a confidence in [0, 1].
#![no_main]

use etl_medic::core::diagnosis::classify_text;
use etl_medic::core::model::TextSource;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for source in [None, Some(TextSource::JobRunErrorMessage), Some(TextSource::ErrorLog), Some(TextSource::OutputLog)]
    {
        let classification = classify_text(&text, source);
        assert!((0.0..=1.0).contains(&classification.confidence));
    }
});

//! What the diagnosis commands share: the labelled corpora the model is
//! trained on, how a training set is assembled from them, and a SHA-256 to
//! record exactly which file a figure comes from.
// Shared by two commands, each of which uses only part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use etl_medic::core::diagnosis::training::{Example, LabelledMessage, parse_corpus, parse_rule_scores};

/// Every labelled corpus of the repository, as (file, calibrate on it).
/// The public dev corpus is the population the blind set was drawn from, so
/// the calibrator is fitted on it; the older fixtures only train the words.
pub const TRAINING_CORPORA: [(&str, bool); 5] = [
    ("tests/fixtures/glue_errors_public_dev.jsonl", true),
    ("tests/fixtures/glue_errors_dev.jsonl", false),
    ("tests/fixtures/glue_errors_extra.jsonl", false),
    ("tests/fixtures/glue_errors_blind.jsonl", false),
    ("tests/fixtures/glue_errors_blind2.jsonl", false),
];

/// The rules' scores on the public dev corpus before any rule was written
/// against it (the classifier of fde27d5), for an honest calibration.
pub const HONEST_RULE_SCORES: &str = "tests/fixtures/glue_errors_public_dev.round0.jsonl";

pub fn repository_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|error| format!("read {}: {error}", path.display()))
}

/// The training examples of every corpus, with the recorded honest rule scores attached.
pub fn training_examples() -> Result<(Vec<Example>, String), String> {
    let honest = parse_rule_scores(&read(&repository_path(HONEST_RULE_SCORES))?)?;
    let mut examples = Vec::new();
    let mut described = Vec::new();
    for (file, calibrate) in TRAINING_CORPORA {
        let messages = parse_corpus(&read(&repository_path(file))?).map_err(|error| format!("{file}: {error}"))?;
        described.push(format!("{}:{}", file.rsplit('/').next().unwrap_or(file), messages.len()));
        for message in messages {
            let honest_rule_scores = if calibrate {
                honest.iter().find(|(id, _)| *id == message.id).map(|(_, scores)| *scores)
            } else {
                None
            };
            examples.push(Example { message, calibrate, honest_rule_scores });
        }
    }
    Ok((examples, described.join(" ")))
}

/// The training examples minus those whose id or text is among `held_out`.
pub fn without(examples: &[Example], held_out: &[&LabelledMessage]) -> Vec<Example> {
    examples
        .iter()
        .filter(|example| {
            !held_out.iter().any(|message| message.id == example.message.id || message.text == example.message.text)
        })
        .cloned()
        .collect()
}

/// SHA-256 of `bytes`, lowercase hex (FIPS 180-4).
pub fn sha256_hex(bytes: &[u8]) -> String {
    const K: [u32; 64] = [
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5, 0xd807aa98,
        0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
        0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8,
        0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
        0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819,
        0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
        0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
    ];
    let mut state: [u32; 8] =
        [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    let mut message = bytes.to_vec();
    let bit_length = (bytes.len() as u64).wrapping_mul(8);
    message.push(0x80);
    while message.len() % 64 != 56 {
        message.push(0);
    }
    message.extend_from_slice(&bit_length.to_be_bytes());
    for block in message.chunks_exact(64) {
        let mut words = [0u32; 64];
        for (index, word) in block.chunks_exact(4).enumerate() {
            words[index] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for index in 16..64 {
            let s0 = words[index - 15].rotate_right(7) ^ words[index - 15].rotate_right(18) ^ (words[index - 15] >> 3);
            let s1 = words[index - 2].rotate_right(17) ^ words[index - 2].rotate_right(19) ^ (words[index - 2] >> 10);
            words[index] = words[index - 16].wrapping_add(s0).wrapping_add(words[index - 7]).wrapping_add(s1);
        }
        let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut h] = state;
        for index in 0..64 {
            let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
            let choice = (e & f) ^ (!e & g);
            let temporary1 = h.wrapping_add(s1).wrapping_add(choice).wrapping_add(K[index]).wrapping_add(words[index]);
            let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
            let majority = (a & b) ^ (a & c) ^ (b & c);
            let temporary2 = s0.wrapping_add(majority);
            (h, g, f, e, d, c, b, a) =
                (g, f, e, d.wrapping_add(temporary1), c, b, a, temporary1.wrapping_add(temporary2));
        }
        for (slot, value) in state.iter_mut().zip([a, b, c, d, e, f, g, h]) {
            *slot = slot.wrapping_add(value);
        }
    }
    state.iter().map(|word| format!("{word:08x}")).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn sha256_of_known_inputs() {
        assert_eq!(super::sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
        assert_eq!(super::sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}

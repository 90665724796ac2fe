//! Bundle parsing never panics: thousands of mutated bundles (bit flips,
//! truncations, spliced lines, random bytes) must each parse or fail with an
//! error. Deterministic, so a failure reproduces.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use signed_headers_keys::Bundle;

/// xorshift64*: tiny, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds() -> Vec<Vec<u8>> {
    let dir = format!("{}/testdata", env!("CARGO_MANIFEST_DIR"));
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| std::fs::read(entry.unwrap().path()).unwrap())
        .collect();
    seeds.sort();
    seeds
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !out.is_empty() => {
                let at = rng.below(out.len());
                out[at] ^= 1 << rng.below(8);
            }
            1 => out.truncate(rng.below(out.len() + 1)),
            2 if !out.is_empty() => {
                let at = rng.below(out.len());
                out.insert(at, b"-\n=A \r0/+"[rng.below(9)]);
            }
            3 if !out.is_empty() => {
                let at = rng.below(out.len());
                out.remove(at);
            }
            4 => {
                let from = rng.below(out.len() + 1);
                let piece = out[from..].to_vec();
                out.extend_from_slice(&piece);
            }
            _ => out.push(rng.next() as u8),
        }
    }
    out
}

#[test]
fn mutated_bundles_never_panic() {
    let seeds = seeds();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut accepted = 0;
    for round in 0..20_000 {
        let seed = &seeds[round % seeds.len()];
        let input = mutate(&mut rng, seed);
        let text = String::from_utf8_lossy(&input);
        if Bundle::parse(&text).is_ok() {
            accepted += 1;
        }
    }
    // Sanity: the mutations are not so destructive that nothing parses, nor so
    // mild that everything does.
    assert!(accepted > 0 && accepted < 20_000, "accepted {accepted}");
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = Rng(42);
    for _ in 0..5_000 {
        let len = rng.below(512);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let text = String::from_utf8_lossy(&bytes);
        assert!(Bundle::parse(&text).is_err());
    }
}

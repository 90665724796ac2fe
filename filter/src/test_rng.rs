//! A deterministic pseudo-random source for the mutation tests: the same
//! inputs on every run, so a failure reproduces.

/// Xorshift64: each call gives the next value. `seed` must not be 0.
pub fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    }
}

//! Fuzz target `sealed`: see `signed_headers::fuzzing::sealed` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::sealed(data));

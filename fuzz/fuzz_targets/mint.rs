//! Fuzz target `mint`: see `signed_headers::fuzzing::mint` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::mint(data));

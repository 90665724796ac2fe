//! Fuzz target `headers`: see `signed_headers::fuzzing::headers` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::headers(data));

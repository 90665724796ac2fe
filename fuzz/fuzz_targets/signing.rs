//! Fuzz target `signing`: see `signed_headers::fuzzing::signing` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::signing(data));

//! Fuzz target `authority`: see `signed_headers::fuzzing::authority` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::authority(data));

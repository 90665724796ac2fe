//! Fuzz target `bundle`: see `signed_headers::fuzzing::bundle` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::bundle(data));

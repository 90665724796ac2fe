//! Fuzz target `identity`: see `signed_headers::fuzzing::identity` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::identity(data));

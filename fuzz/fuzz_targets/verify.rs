//! Fuzz target `verify`: see `signed_headers_verifier::fuzzing::verify` for
//! the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers_verifier::fuzzing::verify(data));

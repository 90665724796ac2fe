//! Fuzz target `header_map`: see `signed_headers::fuzzing::header_map` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::header_map(data));

//! Fuzz target `plugin_config`: see `signed_headers::fuzzing::plugin_config` for the invariants.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| signed_headers::fuzzing::plugin_config(data));

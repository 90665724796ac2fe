//! Decoding what Envoy hands the filter, by its real type.

pub mod header_map;
pub mod json;
mod protobuf;
pub mod value;

pub use value::{Metadata, Struct, Value};

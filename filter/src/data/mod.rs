//! Decoding what Envoy hands the filter, by its real type.

pub mod header_map;
mod protobuf;
pub mod value;

pub use value::{Metadata, Struct, Value};

//! Decoding what Envoy hands the filter, by its real type.

mod protobuf;
pub mod value;

pub use value::{Metadata, Struct, Value};

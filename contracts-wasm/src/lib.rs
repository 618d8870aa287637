//! The Productivist contract host.
//!
//! The core Productivist applications run here natively, in Rust, through
//! the engine's [`Contract`](productivist_engine::Contract) trait; WASM user
//! contracts (wasmi) will run behind the same trait.
#![deny(missing_docs)]

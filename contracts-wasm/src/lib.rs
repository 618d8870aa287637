//! The Productivist contract host.
//!
//! The core Productivist applications run here natively, in Rust, through
//! the engine's [`Contract`](productivist_engine::Contract) trait; WASM user
//! contracts (wasmi) will run behind the same trait.
//!
//! [`register_natives`] installs the five core contracts (`token`, `model`,
//! `market`, `certify`, `reputation`); [`native::api`] holds every argument,
//! output and event type a client needs to call them and read their results.
#![deny(missing_docs)]

use productivist_engine::contract::Contracts;
use std::sync::Arc;

pub mod native;
pub mod wasm;

pub use native::api;
pub use wasm::register_wasm;

/// Registers the native Productivist contracts under their stable names
/// ([`api::TOKEN`], [`api::MODEL`], [`api::MARKET`], [`api::CERTIFY`],
/// [`api::REPUTATION`]).
pub fn register_natives(contracts: &mut Contracts) {
    contracts
        .register(api::TOKEN, Arc::new(native::token::Token))
        .register(api::MODEL, Arc::new(native::model::Model))
        .register(api::MARKET, Arc::new(native::market::Market))
        .register(api::CERTIFY, Arc::new(native::certification::Certify))
        .register(
            api::REPUTATION,
            Arc::new(native::reputation::ReputationContract),
        );
}

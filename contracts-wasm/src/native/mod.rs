//! The core Productivist applications as native Rust contracts.
//!
//! | name         | concern                                                    |
//! |--------------|------------------------------------------------------------|
//! | `token`      | fiat-pegged service token, escrow for the market           |
//! | `model`      | model authentication, versions, license terms, fitness     |
//! | `market`     | orders, offers, print licenses, delivery, settlement       |
//! | `certify`    | expert accreditation, production records, certificates, provenance |
//! | `reputation` | facts, ratings, scores, rankings, labster levels           |
//!
//! Arguments, outputs and events are the borsh types of [`api`]; the key
//! layout of each contract is in its module's documentation and in
//! `docs/CONTRACTS.md`.

pub mod api;
pub mod certification;
pub mod keys;
pub mod kit;
pub mod market;
pub mod model;
pub mod reputation;
pub mod token;

//! Productivist: a permissioned ledger for distributed manufacturing.
//!
//! This crate is the facade over the workspace: the engine (one channel's
//! ledger), consensus, the network transport and the contracts, plus the
//! embedded single-node ledger and the on-disk network layout that the CLI
//! uses.
#![deny(missing_docs)]

pub mod apps;
pub mod channels;
pub mod client;
pub mod embedded;
pub mod explorer;
pub mod loadgen;
pub mod memory;
pub mod network;
pub mod node;
pub mod sim_ledger;
pub mod story;
pub mod workload;

pub use productivist_consensus as consensus;
pub use productivist_contracts as contracts;
pub use productivist_engine as engine;
pub use productivist_net as net;

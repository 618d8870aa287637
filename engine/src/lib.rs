//! The ledger of one Productivist channel.
//!
//! A transaction travels: bytes from a client ([`tx`]) → admission checks
//! ([`admission`]: decode, certificate against the channel's membership
//! ([`identity`], [`config`]), ed25519 signature, replay) → ordered into a
//! block → executed deterministically by the contracts ([`contract`],
//! [`executor`]) → committed with its state writes, tx index and key history
//! in one atomic, durable store write ([`store`]), under a state root that
//! two nodes can compare ([`state_root`]). [`ledger::Ledger`] ties it together.
#![deny(missing_docs)]

pub mod admission;
pub mod block;
pub mod block_writes;
pub mod codec;
pub mod config;
pub mod context;
pub mod contract;
pub mod crypto;
pub mod devnet;
pub mod executor;
pub mod identity;
pub mod ledger;
pub mod merkle;
pub mod parallel;
pub mod policy;
pub mod proposal;
pub mod sigverify;
pub mod state;
pub mod state_root;
pub mod store;
pub mod system;
pub mod tx;

pub use block::{Block, BlockHeader, InvalidCode, TxResult, TxStatus};
pub use config::{ChannelConfig, ConsensusKind};
pub use contract::{Context, Contract, ContractError};
pub use crypto::{Hash, KeyPair, PublicKey};
pub use identity::{Certificate, Role};
pub use ledger::{Ledger, LedgerError};
pub use store::{Store, StoreError};
pub use tx::{Transaction, TxId};

//! Raft (Ongaro & Ousterhout) as a deterministic, sans-IO state machine.
//!
//! Features: leader election with pre-vote and leader lease (check quorum),
//! pipelined log replication with bounded inflight appends, the current-term
//! commit rule, persist-before-send outputs, log compaction and snapshot
//! catch-up, single-server membership changes effective on append, and
//! leadership transfer (`TimeoutNow`).
//!
//! Files: [`message`] (wire types, codec), [`log`] (in-memory log),
//! [`progress`] (leader's view of followers), [`membership`] (config
//! history), [`storage`] (persist actions, durable state), [`config`],
//! [`error`], `node.rs` (state machine and outputs), `election.rs`,
//! `replication.rs`.

pub mod config;
mod election;
pub mod error;
pub mod log;
pub mod membership;
pub mod message;
mod node;
pub mod progress;
mod replication;
pub mod storage;

#[cfg(feature = "mutations")]
pub use config::Mutation;
pub use config::RaftConfig;
pub use error::Error;
pub use message::{
    ConfChange, Entry, EntryPayload, Membership, Message, MessageBody, Snapshot, decode_message,
    encode_message,
};
pub use node::{MAX_PENDING_MESSAGES, Raft, Role};
pub use storage::{DurableState, HardState, Persist};

/// Whether a deliberate safety bug is switched on (always false without the
/// `mutations` feature, so release builds carry no trace of it).
macro_rules! mutated {
    ($cfg:expr, $mutation:ident) => {{
        #[cfg(feature = "mutations")]
        let on = $cfg.mutation($crate::raft::config::Mutation::$mutation);
        #[cfg(not(feature = "mutations"))]
        let on = false;
        on
    }};
}
pub(crate) use mutated;

//! Sans-IO consensus for Productivist channels.
//!
//! Each channel picks Raft (crash faults, one organization's cluster) or
//! Simplex BFT (Byzantine faults, the consortium). Both are deterministic
//! state machines: inputs are messages, ticks and proposals; outputs are
//! messages to send, state to persist and entries to commit. No tokio, no
//! sockets, no clock, no global randomness.
#![deny(missing_docs)]

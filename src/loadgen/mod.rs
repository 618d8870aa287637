//! The cluster load generator behind `productivist bench cluster`: it
//! starts (or targets) a cluster of node processes, pre-signs token
//! transfers, offers them over the HTTP API at a fixed rate or in a closed
//! loop, and measures, from the client side, committed transactions per
//! second and commit latency (submission to the first committed-block
//! event that lists the transaction), per second and overall. It writes a
//! CSV timeline and an SVG plot, and can kill and restart a node mid-run.
//! [`footprint`] measures a single node's size, memory and start time.

pub mod cluster;
pub mod events;
pub mod footprint;
pub mod http;
pub mod metrics;
pub mod plot;
pub mod run;
pub mod schedule;
pub mod state;
pub mod submit;
pub mod timeline;
pub mod transfers;

pub use run::{Kill, Options, Report, Target, run};
pub use schedule::Load;

/// Why a benchmark could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadgenError {
    /// Setting up the cluster, the network or the transactions failed.
    #[error("{0}")]
    Setup(String),
}

//! The transport between Productivist nodes.
//!
//! Today: the length-prefixed frame codec that every stream uses, with a
//! hard size limit so a peer cannot make a node allocate without bound.
//! Next (cluster issue): QUIC over quinn with mutual TLS 1.3, certificates
//! pinned to the consenter keys in the channel config, per-peer bounded
//! queues and reconnection with backoff.
#![deny(missing_docs)]

pub mod frame;

//! The transport between Productivist nodes.
//!
//! QUIC (quinn) with mutual TLS 1.3. Every node presents a self-signed
//! certificate for its ed25519 node key; a peer is accepted only if that key
//! is in the channel config's consenter set (an [`Allowlist`] the node keeps
//! current), and a dialer accepts only the exact key it meant to reach. There
//! is no certificate authority: the channel config is the trust root.
//!
//! Messages are length-prefixed frames ([`frame`]) with a hard size limit.
//! Each peer has a bounded outbound queue: a full queue is reported to the
//! caller as [`SendError::Busy`] (backpressure), never buffered without bound.
//! Dropped connections are re-established with exponential backoff; a
//! restarted peer resets its predecessor's connections at once ([`reset`]).
#![deny(missing_docs)]

pub mod allowlist;
pub mod frame;
pub mod reset;
pub mod tls;
pub mod transport;

pub use allowlist::Allowlist;
pub use transport::{Inbound, NetConfig, NetError, Network, SendError};

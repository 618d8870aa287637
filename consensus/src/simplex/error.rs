//! Why Simplex refused an input.

use crate::NodeId;

/// Errors returned by the Simplex state machine. None of them leaves the
/// state machine inconsistent: the input is simply not applied. A correct
/// peer never causes one, so every error is either a local misuse
/// (configuration, proposal) or a faulty peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Bytes from the wire are not a canonical message.
    #[error("cannot decode message: {0}")]
    Decode(String),
    /// A decoded message breaks a structural rule of the protocol.
    #[error("invalid message: {0}")]
    InvalidMessage(&'static str),
    /// The sender (or a signer) is not a participant of this channel.
    #[error("node {0} is not a participant")]
    NotParticipant(NodeId),
    /// A vote or certificate signature does not verify (`verify_strict`).
    #[error("bad signature from {signer}")]
    BadSignature {
        /// Claimed signer.
        signer: NodeId,
    },
    /// A certificate without 2f+1 distinct valid signers.
    #[error("certificate has {signers} signers, quorum is {quorum}")]
    NoQuorum {
        /// Distinct signers in the certificate.
        signers: usize,
        /// Required.
        quorum: usize,
    },
    /// A proposal not signed by the leader of its view.
    #[error("proposal for view {view} not from its leader")]
    NotLeader {
        /// The view of the proposal.
        view: u64,
    },
    /// `propose` with an empty payload (empty blocks are the leader's
    /// filler and carry no application data).
    #[error("empty payload")]
    EmptyPayload,
    /// `propose` with a payload above `max_payload_bytes`.
    #[error("payload of {bytes} bytes exceeds {limit_bytes}")]
    PayloadTooLarge {
        /// Payload size.
        bytes: usize,
        /// Configured limit.
        limit_bytes: usize,
    },
    /// Too many payloads wait for this node's next leader view.
    #[error("proposal dropped: {pending} payloads pending (limit {limit})")]
    Backpressure {
        /// Payloads waiting.
        pending: usize,
        /// Configured limit.
        limit: usize,
    },
    /// Durable state handed to `restart` is not self-consistent.
    #[error("corrupt durable state: {0}")]
    CorruptStorage(&'static str),
    /// Configuration values make no sense together.
    #[error("invalid config: {0}")]
    InvalidConfig(&'static str),
}

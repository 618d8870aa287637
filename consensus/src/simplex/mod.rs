//! Simplex consensus (Chan and Pass, 2023) as a deterministic, sans-IO
//! state machine for n = 3f + 1 replicas tolerating f Byzantine ones.
//!
//! Each view has one leader (round robin over the sorted participants). The
//! leader proposes a block extending the latest notarized block such that
//! every view in between is nullified (the Simplex rule). Replicas check
//! that rule and the application's [`Validator`], then vote:
//!
//! - **notarize** the first valid proposal of the view;
//! - **nullify** the view when it times out (or the proposal is invalid);
//! - **finalize** the view's block on seeing its notarization, unless they
//!   nullified the view.
//!
//! 2f + 1 votes of one kind make a certificate. A notarization or
//! nullification of view v moves every replica to v + 1; a finalization
//! commits the block and its ancestors. Happy path: propose, notarize,
//! finalize: three message delays to finality. Certificates are forwarded,
//! re-sent on timeouts and served on request, so lagging replicas catch up;
//! missing blocks are fetched by digest.
//!
//! Safety across crashes rests on [`storage::VoteRecord`]: a replica's
//! votes in its latest view are persisted before any of them is sent.
//! Conflicting signed votes are kept as verifiable [`Evidence`].
//!
//! Files: [`message`] (wire types, codec, signed bytes), [`participants`]
//! (keys, quorum, leader rotation, signatures), [`view`] (per-view votes
//! and certificates), [`evidence`], [`storage`], [`config`], [`error`],
//! `node.rs` (state, inputs, outputs), `voting.rs` (proposals, votes,
//! certificates, view changes), `sync.rs` (fetching, commit, pruning).

pub mod config;
pub mod error;
pub mod evidence;
pub mod message;
mod node;
pub mod participants;
pub mod storage;
mod sync;
pub mod view;
mod voting;

#[cfg(feature = "mutations")]
pub use config::Mutation;
pub use config::SimplexConfig;
pub use error::Error;
pub use evidence::{Evidence, Offense};
pub use message::{
    Block, Certificate, Digest, Message, SignatureBytes, View, Vote, VoteKind, decode_message,
    encode_message,
};
pub use node::{Simplex, Tip};
pub use participants::{Participants, sign_vote};
pub use storage::{DurableState, Persist, VoteRecord};

/// The application's block validity rule. Replicas notarize a proposal
/// only if this returns true; an honest leader never proposes a payload it
/// rejects. Must be deterministic: every honest replica has to reach the
/// same verdict on the same (parent, payload).
pub trait Validator: Send {
    /// `parent` is the parent block's payload (`None` for the genesis
    /// block); `payload` the proposed bytes (empty for a filler block).
    fn validate(&self, parent: Option<&[u8]>, payload: &[u8]) -> bool;
}

impl<F> Validator for F
where
    F: Fn(Option<&[u8]>, &[u8]) -> bool + Send,
{
    fn validate(&self, parent: Option<&[u8]>, payload: &[u8]) -> bool {
        self(parent, payload)
    }
}

/// A validator accepting every payload (for tests and channels whose
/// payloads are checked elsewhere).
pub fn accept_all() -> Box<dyn Validator> {
    Box::new(|_: Option<&[u8]>, _: &[u8]| true)
}

/// Whether a deliberate safety bug is switched on (always false without the
/// `mutations` feature, so release builds carry no trace of it).
macro_rules! mutated {
    ($cfg:expr, $mutation:ident) => {{
        #[cfg(feature = "mutations")]
        let on = $cfg.mutation($crate::simplex::config::Mutation::$mutation);
        #[cfg(not(feature = "mutations"))]
        let on = false;
        on
    }};
}
pub(crate) use mutated;

//! Proof that a replica broke the protocol: two votes signed by the same
//! replica in the same view that no honest replica ever signs together.
//! Anyone holding the participants' public keys can check it.

use ed25519_dalek::VerifyingKey;

use crate::NodeId;
use crate::simplex::message::{View, Vote, VoteKind};
use crate::simplex::participants::verify_with;

/// Which rule the two votes break.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Offense {
    /// Two notarize votes for different blocks in one view. A leader that
    /// proposes two blocks in one view commits exactly this offense, since a
    /// proposal carries the leader's notarize vote.
    ConflictingNotarize,
    /// Two finalize votes for different blocks in one view.
    ConflictingFinalize,
    /// Finalize and nullify in the same view (either order): honest
    /// replicas finalize only views they never nullified, and stop timing
    /// out a view once they finalize it.
    NullifyFinalize,
    /// Notarize one block and finalize another in one view: an honest
    /// replica finalizes only a notarized block, and no block other than the
    /// one it notarized can be notarized while at most f replicas lie.
    NotarizeFinalize,
}

/// Two conflicting signed votes of one replica in one view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// The vote seen first.
    pub first: Vote,
    /// The conflicting vote.
    pub second: Vote,
}

impl Evidence {
    /// What the votes prove, if they conflict at all (same signer and view
    /// required).
    pub fn offense(&self) -> Option<Offense> {
        conflict(&self.first, &self.second)
    }

    /// The offender.
    pub fn signer(&self) -> NodeId {
        self.first.signer
    }

    /// The view of the offense.
    pub fn view(&self) -> View {
        self.first.view
    }

    /// Whether this is a real, signed offense by the holder of `key`: the
    /// votes conflict and both signatures verify (`verify_strict`) under
    /// `namespace`.
    pub fn verify(&self, namespace: &[u8], key: &VerifyingKey) -> bool {
        self.offense().is_some()
            && verify_with(key, namespace, &self.first).is_ok()
            && verify_with(key, namespace, &self.second).is_ok()
    }
}

/// The offense two votes prove together, if any.
pub fn conflict(a: &Vote, b: &Vote) -> Option<Offense> {
    if a.signer != b.signer || a.view != b.view {
        return None;
    }
    let (first, second) = if a.kind <= b.kind { (a, b) } else { (b, a) };
    match (first.kind, second.kind) {
        (VoteKind::Notarize, VoteKind::Notarize) if a.digest != b.digest => {
            Some(Offense::ConflictingNotarize)
        }
        (VoteKind::Finalize, VoteKind::Finalize) if a.digest != b.digest => {
            Some(Offense::ConflictingFinalize)
        }
        (VoteKind::Nullify, VoteKind::Finalize) => Some(Offense::NullifyFinalize),
        (VoteKind::Notarize, VoteKind::Finalize) if first.digest != second.digest => {
            Some(Offense::NotarizeFinalize)
        }
        _ => None,
    }
}

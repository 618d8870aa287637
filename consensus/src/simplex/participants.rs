//! The consenters of a channel: ids, ed25519 keys, quorum size and the
//! leader rotation. Signing and strict verification of votes live here.

use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};

use crate::NodeId;
use crate::simplex::error::Error;
use crate::simplex::message::{
    Digest, MAX_PARTICIPANTS, SignatureBytes, View, Vote, VoteKind, vote_signing_bytes,
};

/// The fixed set of replicas, sorted by id. With n = 3f + 1 replicas the
/// protocol tolerates f Byzantine ones.
#[derive(Clone, Debug)]
pub struct Participants {
    ids: Vec<NodeId>,
    keys: Vec<VerifyingKey>,
}

impl Participants {
    /// Builds the set from (id, ed25519 public key) pairs in any order.
    pub fn new(members: &[(NodeId, [u8; 32])]) -> Result<Self, Error> {
        if members.is_empty() || members.len() > MAX_PARTICIPANTS {
            return Err(Error::InvalidConfig("participant count out of range"));
        }
        let mut sorted = members.to_vec();
        sorted.sort_unstable_by_key(|(id, _)| *id);
        if sorted.windows(2).any(|w| w[0].0 == w[1].0) || sorted[0].0 == 0 {
            return Err(Error::InvalidConfig(
                "participant ids must be unique and non-zero",
            ));
        }
        let mut ids = Vec::with_capacity(sorted.len());
        let mut keys = Vec::with_capacity(sorted.len());
        for (id, key) in sorted {
            let key = VerifyingKey::from_bytes(&key)
                .map_err(|_| Error::InvalidConfig("participant key is not a valid point"))?;
            if key.is_weak() {
                return Err(Error::InvalidConfig("participant key is weak"));
            }
            ids.push(id);
            keys.push(key);
        }
        Ok(Self { ids, keys })
    }

    /// Participant ids, ascending.
    pub fn ids(&self) -> &[NodeId] {
        &self.ids
    }

    /// Number of participants n.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Always false (a set is never empty); for clippy's `len` rule.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// Byzantine replicas tolerated: f = (n - 1) / 3.
    pub fn max_faulty(&self) -> usize {
        (self.len() - 1) / 3
    }

    /// Votes needed for a certificate: n - f (2f + 1 when n = 3f + 1). Any
    /// two quorums share at least f + 1 replicas, so at least one honest.
    pub fn quorum(&self) -> usize {
        self.len() - self.max_faulty()
    }

    /// Whether `id` participates.
    pub fn contains(&self, id: NodeId) -> bool {
        self.ids.binary_search(&id).is_ok()
    }

    /// Public key of `id`.
    pub fn key(&self, id: NodeId) -> Option<&VerifyingKey> {
        self.ids.binary_search(&id).ok().map(|i| &self.keys[i])
    }

    /// Leader of `view`: round robin over the sorted ids. Deterministic, so
    /// every replica agrees without communication.
    pub fn leader(&self, view: View) -> NodeId {
        self.ids[(view % self.len() as u64) as usize]
    }

    /// Checks a vote's signature with `verify_strict` (no malleable or
    /// small-order encodings). Refuses non-participants.
    pub fn verify_vote(&self, namespace: &[u8], vote: &Vote) -> Result<(), Error> {
        let key = self
            .key(vote.signer)
            .ok_or(Error::NotParticipant(vote.signer))?;
        verify_with(key, namespace, vote)
    }
}

/// Checks `vote`'s signature under `key` with `verify_strict`.
pub fn verify_with(key: &VerifyingKey, namespace: &[u8], vote: &Vote) -> Result<(), Error> {
    let bytes = vote_signing_bytes(namespace, vote.kind, vote.view, &vote.digest);
    key.verify_strict(&bytes, &Signature::from_bytes(&vote.signature))
        .map_err(|_| Error::BadSignature {
            signer: vote.signer,
        })
}

/// Signs a vote (deterministic: the same vote always has the same bytes,
/// which lets replicas skip re-verifying votes they already hold).
pub fn sign_vote(
    key: &SigningKey,
    namespace: &[u8],
    signer: NodeId,
    kind: VoteKind,
    view: View,
    digest: Digest,
) -> Vote {
    let bytes = vote_signing_bytes(namespace, kind, view, &digest);
    let signature: SignatureBytes = key.sign(&bytes).to_bytes();
    Vote {
        kind,
        view,
        digest,
        signer,
        signature,
    }
}

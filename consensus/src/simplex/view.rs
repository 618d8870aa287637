//! Per-view state: votes by signer and kind, certificates, the leader's
//! proposal. At most one vote per (signer, kind) is kept, so a view holds
//! at most 3n votes whatever faulty peers send.

use std::collections::BTreeMap;

use crate::NodeId;
use crate::simplex::message::{Certificate, Digest, Vote, VoteKind};

/// What one replica knows about one view.
#[derive(Clone, Debug, Default)]
pub struct ViewState {
    /// Digest of the first proposal received from the leader (the block is
    /// in the replica's block store).
    pub proposal: Option<Digest>,
    /// The proposal failed validation (or the Simplex extension rule).
    pub proposal_refused: bool,
    /// First notarize vote of each signer.
    pub notarizes: BTreeMap<NodeId, Vote>,
    /// First nullify vote of each signer.
    pub nullifies: BTreeMap<NodeId, Vote>,
    /// First finalize vote of each signer.
    pub finalizes: BTreeMap<NodeId, Vote>,
    /// 2f+1 notarize votes for one block.
    pub notarization: Option<Certificate>,
    /// 2f+1 nullify votes.
    pub nullification: Option<Certificate>,
    /// 2f+1 finalize votes for one block.
    pub finalization: Option<Certificate>,
}

impl ViewState {
    /// Votes of `kind`, by signer.
    pub fn votes(&self, kind: VoteKind) -> &BTreeMap<NodeId, Vote> {
        match kind {
            VoteKind::Notarize => &self.notarizes,
            VoteKind::Nullify => &self.nullifies,
            VoteKind::Finalize => &self.finalizes,
        }
    }

    pub(crate) fn votes_mut(&mut self, kind: VoteKind) -> &mut BTreeMap<NodeId, Vote> {
        match kind {
            VoteKind::Notarize => &mut self.notarizes,
            VoteKind::Nullify => &mut self.nullifies,
            VoteKind::Finalize => &mut self.finalizes,
        }
    }

    /// Certificate of `kind`, if held.
    pub fn certificate(&self, kind: VoteKind) -> Option<&Certificate> {
        match kind {
            VoteKind::Notarize => self.notarization.as_ref(),
            VoteKind::Nullify => self.nullification.as_ref(),
            VoteKind::Finalize => self.finalization.as_ref(),
        }
    }

    pub(crate) fn certificate_slot(&mut self, kind: VoteKind) -> &mut Option<Certificate> {
        match kind {
            VoteKind::Notarize => &mut self.notarization,
            VoteKind::Nullify => &mut self.nullification,
            VoteKind::Finalize => &mut self.finalization,
        }
    }

    /// The block known to be notarized in this view: from a notarization,
    /// or from a finalization (which honest replicas only sign after seeing
    /// a notarization of the same block).
    pub fn notarized_digest(&self) -> Option<Digest> {
        self.notarization
            .as_ref()
            .or(self.finalization.as_ref())
            .map(|c| c.digest)
    }

    /// Whether the view is known to be nullified.
    pub fn is_nullified(&self) -> bool {
        self.nullification.is_some()
    }

    /// Builds a certificate of `kind` for `digest` from held votes, if a
    /// quorum of them agree.
    pub fn assemble(
        &self,
        kind: VoteKind,
        view: u64,
        digest: Digest,
        quorum: usize,
    ) -> Option<Certificate> {
        let signatures: Vec<_> = self
            .votes(kind)
            .values()
            .filter(|v| v.digest == digest)
            .map(|v| (v.signer, v.signature))
            .collect();
        (signatures.len() >= quorum).then_some(Certificate {
            kind,
            view,
            digest,
            signatures,
        })
    }
}

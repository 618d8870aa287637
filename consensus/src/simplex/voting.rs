//! Proposals, votes, certificates and view changes.

use crate::NodeId;
use crate::simplex::error::Error;
use crate::simplex::evidence::{Evidence, conflict};
use crate::simplex::message::{Block, Certificate, Digest, Message, View, Vote, VoteKind};
use crate::simplex::mutated;
use crate::simplex::node::Simplex;
use crate::simplex::participants::sign_vote;
use crate::simplex::storage::VoteRecord;

/// Whether a proposal satisfies the Simplex extension rule.
pub(crate) enum Extension {
    /// Yes; the parent block is attached.
    Valid(Block),
    /// Certificates or the parent block are missing (fetches are queued).
    Wait,
    /// No: an honest replica never notarizes it.
    Invalid,
}

impl Simplex {
    /// Lowest view whose state is kept: nothing below the last finalized
    /// view matters for new proposals, and a bounded window of the past is
    /// enough for the Simplex rule checks.
    pub(crate) fn floor(&self) -> View {
        self.tip
            .view
            .max(self.view.saturating_sub(self.cfg.max_past_views))
    }

    fn in_vote_window(&self, view: View) -> bool {
        view >= self.floor() && view <= self.view.saturating_add(self.cfg.max_future_views)
    }

    /// Votes needed for a certificate of `kind`.
    pub(crate) fn quorum_for(&self, kind: VoteKind) -> usize {
        let quorum = self.participants.quorum();
        if kind == VoteKind::Finalize && mutated!(self.cfg, FinalizeWithoutQuorum) {
            return quorum.saturating_sub(1).max(1);
        }
        quorum
    }

    // ----- receiving -----

    pub(crate) fn on_proposal(
        &mut self,
        from: NodeId,
        block: Block,
        vote: Vote,
    ) -> Result<(), Error> {
        let view = block.view;
        let leader = self.participants.leader(view);
        if vote.signer != leader || from != leader {
            return Err(Error::NotLeader { view });
        }
        if block.payload.len() > self.cfg.max_payload_bytes {
            return Err(Error::InvalidMessage("proposal payload too large"));
        }
        let digest = block.digest();
        if vote.digest != digest {
            return Err(Error::InvalidMessage("proposal vote is for another block"));
        }
        if !self.in_vote_window(view) {
            return Ok(());
        }
        let known = self.views.get(&view).and_then(|s| s.proposal);
        if known == Some(digest) {
            return Ok(());
        }
        self.accept_vote(vote)?;
        let replace = known.is_some() && mutated!(self.cfg, NotarizeTwice);
        if (known.is_none() || replace) && self.store_block(block) {
            let state = self.views.entry(view).or_default();
            state.proposal = Some(digest);
            state.proposal_refused = false;
        }
        Ok(())
    }

    pub(crate) fn on_vote(&mut self, from: NodeId, vote: Vote) -> Result<(), Error> {
        if vote.signer != from {
            return Err(Error::InvalidMessage("vote not sent by its signer"));
        }
        if vote.view < self.view {
            // The sender lags behind: the certificate that moved us on
            // brings it to our view (it costs the sender a signature to
            // trigger, and we send one message back).
            if let Some(cert) = self.entry_certificate.clone() {
                self.send(from, Message::Certificate(cert));
            }
        }
        self.accept_vote(vote)
    }

    /// Verifies and records a vote from the network; counts it.
    fn accept_vote(&mut self, vote: Vote) -> Result<(), Error> {
        if !self.participants.contains(vote.signer) {
            return Err(Error::NotParticipant(vote.signer));
        }
        if !self.in_vote_window(vote.view) {
            return Ok(());
        }
        let duplicate = self
            .views
            .get(&vote.view)
            .and_then(|s| s.votes(vote.kind).get(&vote.signer))
            .is_some_and(|held| *held == vote);
        if duplicate {
            return Ok(());
        }
        self.participants.verify_vote(&self.cfg.namespace, &vote)?;
        self.insert_verified_vote(vote, true);
        Ok(())
    }

    /// Records a vote whose signature is known good: evidence if it
    /// conflicts with a held vote of the same signer, counted if it is the
    /// signer's first of its kind in the view.
    pub(crate) fn insert_verified_vote(&mut self, vote: Vote, count: bool) {
        let state = self.views.entry(vote.view).or_default();
        let mut conflicts = Vec::new();
        for kind in [VoteKind::Notarize, VoteKind::Nullify, VoteKind::Finalize] {
            if let Some(held) = state.votes(kind).get(&vote.signer)
                && conflict(held, &vote).is_some()
            {
                conflicts.push(held.clone());
            }
        }
        let first_of_kind = !state.votes(vote.kind).contains_key(&vote.signer);
        if first_of_kind {
            state.votes_mut(vote.kind).insert(vote.signer, vote.clone());
        }
        for held in conflicts {
            self.record_evidence(held, vote.clone());
        }
        if first_of_kind && count {
            self.check_quorum(vote.view, vote.kind, vote.digest);
        }
    }

    fn record_evidence(&mut self, first: Vote, second: Vote) {
        let Some(offense) = conflict(&first, &second) else {
            return;
        };
        if self.evidence.len() >= self.cfg.max_evidence {
            return;
        }
        // One proof per offender and offense is enough to act on; keeping
        // more would let one faulty replica fill the list.
        let known = self
            .evidence
            .iter()
            .any(|e| e.signer() == first.signer && e.offense() == Some(offense));
        if !known {
            self.evidence.push(Evidence { first, second });
        }
    }

    fn check_quorum(&mut self, view: View, kind: VoteKind, digest: Digest) {
        let quorum = self.quorum_for(kind);
        let Some(state) = self.views.get(&view) else {
            return;
        };
        if state.certificate(kind).is_some() {
            return;
        }
        if let Some(cert) = state.assemble(kind, view, digest, quorum) {
            self.on_new_certificate(cert);
        }
    }

    pub(crate) fn on_certificate(&mut self, cert: Certificate) -> Result<(), Error> {
        let view = cert.view;
        if view < self.floor() {
            return Ok(());
        }
        if let Some(held) = self.views.get(&view).and_then(|s| s.certificate(cert.kind)) {
            if held.digest == cert.digest {
                return Ok(());
            }
            self.verify_certificate(&cert)?;
            // Two valid certificates for different blocks in one view need
            // more than f faulty replicas: nothing is safe any more.
            self.safety_fault = Some(format!(
                "conflicting {:?} certificates in view {view}",
                cert.kind
            ));
            return Ok(());
        }
        self.verify_certificate(&cert)?;
        for (signer, signature) in &cert.signatures {
            self.insert_verified_vote(cert.vote(*signer, *signature), false);
        }
        self.on_new_certificate(cert);
        Ok(())
    }

    /// Checks a certificate: distinct participants (ascending order checked
    /// by decoding), a quorum of them, every signature valid. Signatures we
    /// already hold byte for byte were verified when they arrived.
    fn verify_certificate(&self, cert: &Certificate) -> Result<(), Error> {
        let quorum = self.quorum_for(cert.kind);
        if cert.signatures.len() < quorum || cert.signatures.len() > self.participants.len() {
            return Err(Error::NoQuorum {
                signers: cert.signatures.len(),
                quorum,
            });
        }
        let state = self.views.get(&cert.view);
        for (signer, signature) in &cert.signatures {
            let vote = cert.vote(*signer, *signature);
            let held = state
                .and_then(|s| s.votes(cert.kind).get(signer))
                .is_some_and(|v| *v == vote);
            if !held {
                self.participants.verify_vote(&self.cfg.namespace, &vote)?;
            }
        }
        Ok(())
    }

    /// A certificate we did not hold: store, forward, act.
    fn on_new_certificate(&mut self, cert: Certificate) {
        let (view, kind, digest) = (cert.view, cert.kind, cert.digest);
        let state = self.views.entry(view).or_default();
        if state.certificate(kind).is_some() {
            return;
        }
        *state.certificate_slot(kind) = Some(cert.clone());
        self.pending_persist_certs.push(cert.clone());
        if let (Some(a), Some(b)) = (&state.notarization, &state.finalization)
            && a.digest != b.digest
        {
            self.safety_fault = Some(format!(
                "notarization and finalization of different blocks in view {view}"
            ));
        }
        // Forward: replicas that missed votes catch up from certificates.
        self.broadcast(&Message::Certificate(cert.clone()));
        match kind {
            VoteKind::Notarize => {
                if view >= self.view {
                    self.maybe_finalize(view, digest);
                    self.advance_to(view + 1, cert);
                }
            }
            VoteKind::Nullify => {
                if view >= self.view {
                    self.advance_to(view + 1, cert);
                }
            }
            VoteKind::Finalize => {
                if self
                    .latest_finalization
                    .as_ref()
                    .is_none_or(|held| held.view < view)
                {
                    self.latest_finalization = Some(cert.clone());
                }
                if view > self.tip.view && self.finalize_target.is_none_or(|(v, _)| v < view) {
                    self.finalize_target = Some((view, digest));
                }
                if view >= self.view {
                    self.advance_to(view + 1, cert);
                }
            }
        }
    }

    /// On a notarization of `view` (current or later): vote finalize unless
    /// we nullified the view or notarized another block in it.
    fn maybe_finalize(&mut self, view: View, digest: Digest) {
        let record = if self.record.view == view {
            self.record.clone()
        } else {
            VoteRecord::default()
        };
        if record.nullified && !mutated!(self.cfg, FinalizeAfterNullify) {
            return;
        }
        if record.finalized.is_some() || record.notarized.is_some_and(|d| d != digest) {
            return;
        }
        self.cast_vote(VoteKind::Finalize, view, digest);
    }

    fn advance_to(&mut self, view: View, cert: Certificate) {
        if view <= self.view {
            return;
        }
        self.view = view;
        self.view_elapsed_ticks = 0;
        self.retransmit_elapsed_ticks = 0;
        self.entry_certificate = Some(cert);
        let floor = self.floor();
        self.views = self.views.split_off(&floor);
    }

    // ----- voting -----

    /// Signs a vote in `view` (the current view, or for a finalize a view
    /// we are leaving), records it durably and sends it. The record is
    /// persisted in the same output, before the message leaves.
    pub(crate) fn cast_vote(&mut self, kind: VoteKind, view: View, digest: Digest) -> Vote {
        assert!(view >= self.view, "votes are only cast in the current view");
        self.begin_record(view);
        match kind {
            VoteKind::Notarize => {
                self.record.notarized = Some(digest);
                if let Some(block) = self.blocks.get(&digest) {
                    self.pending_persist_voted.push(block.clone());
                }
            }
            VoteKind::Nullify => self.record.nullified = true,
            VoteKind::Finalize => {
                self.record.finalized = Some(digest);
                // Finalizing leaves the view: the notarization proves the
                // next one.
                let notarization = self.views.get(&view).and_then(|s| s.notarization.clone());
                if notarization.is_some() {
                    self.record.certificate = notarization;
                }
            }
        }
        let vote = sign_vote(
            &self.key,
            &self.cfg.namespace,
            self.cfg.id,
            kind,
            view,
            digest,
        );
        self.broadcast(&Message::Vote(vote.clone()));
        self.insert_verified_vote(vote.clone(), true);
        vote
    }

    /// Starts the vote record of `view` (if not already), carrying the
    /// certificate that moved us into it.
    fn begin_record(&mut self, view: View) {
        assert!(view >= self.record.view, "vote records never go back");
        if self.record.view != view {
            self.record = VoteRecord {
                view,
                certificate: self.entry_certificate.clone(),
                ..VoteRecord::default()
            };
        }
    }

    /// Leader of the current view: propose once a parent is known.
    pub(crate) fn try_propose(&mut self) {
        let view = self.view;
        if self.participants.leader(view) != self.cfg.id || self.safety_fault.is_some() {
            return;
        }
        if self.record.view == view && (self.record.notarized.is_some() || self.record.nullified) {
            return;
        }
        if self.views.get(&view).is_some_and(|s| s.proposal.is_some()) {
            return;
        }
        if self.blocks.len() >= self.cfg.max_unfinalized_blocks {
            return;
        }
        if self.mempool.is_empty() && self.view_elapsed_ticks < self.cfg.empty_block_delay_ticks {
            return;
        }
        let Some((parent_view, parent)) = self.select_parent(view) else {
            return;
        };
        let Some(parent_block) = self.block(&parent) else {
            return;
        };
        let height = parent_block.height + 1;
        let parent_payload = (parent_block.height > 0).then(|| parent_block.payload.clone());
        // Bounded by the mempool size: invalid payloads are dropped.
        let mut payload = Vec::new();
        while let Some(candidate) = self.mempool.pop_front() {
            if self
                .validator
                .validate(parent_payload.as_deref(), &candidate)
            {
                payload = candidate;
                break;
            }
        }
        let block = Block {
            view,
            height,
            parent_view,
            parent,
            payload,
        };
        let digest = block.digest();
        self.blocks.insert(digest, block.clone());
        self.views.entry(view).or_default().proposal = Some(digest);
        self.begin_record(view);
        self.record.notarized = Some(digest);
        self.pending_persist_voted.push(block.clone());
        let vote = sign_vote(
            &self.key,
            &self.cfg.namespace,
            self.cfg.id,
            VoteKind::Notarize,
            view,
            digest,
        );
        self.broadcast(&Message::Propose {
            block,
            vote: vote.clone(),
        });
        self.insert_verified_vote(vote, true);
    }

    /// The block a proposal in `view` must extend: the latest notarized
    /// block such that every view after it (before `view`) is nullified.
    /// `None` while certificates or the block are missing (fetches queued).
    fn select_parent(&mut self, view: View) -> Option<(View, Digest)> {
        let mut w = view.checked_sub(1)?;
        // Bounded by the past-view window.
        for _ in 0..=self.cfg.max_past_views {
            if w <= self.tip.view {
                return Some((self.tip.view, self.tip.digest));
            }
            let state = self.views.get(&w);
            let notarized = state.and_then(|s| s.notarized_digest());
            let nullified = state.is_some_and(|s| s.is_nullified());
            match notarized {
                Some(digest) if self.block(&digest).is_some() => return Some((w, digest)),
                Some(digest) if !nullified => {
                    self.want_block(digest);
                    return None;
                }
                _ if nullified => {}
                _ => {
                    self.want_view(w);
                    return None;
                }
            }
            w -= 1;
        }
        None
    }

    /// Vote on the current view's proposal once it can be checked.
    pub(crate) fn try_notarize(&mut self) {
        let view = self.view;
        let Some(state) = self.views.get(&view) else {
            return;
        };
        let Some(digest) = state.proposal else {
            return;
        };
        if state.proposal_refused || self.safety_fault.is_some() {
            return;
        }
        if self.record.view == view {
            if self.record.nullified || self.record.notarized == Some(digest) {
                return;
            }
            if self.record.notarized.is_some() && !mutated!(self.cfg, NotarizeTwice) {
                return;
            }
        }
        let Some(block) = self.blocks.get(&digest).cloned() else {
            return;
        };
        let accept = match self.check_extension(&block) {
            Extension::Wait => return,
            Extension::Invalid => false,
            Extension::Valid(parent) => {
                let parent_payload = (parent.height > 0).then_some(parent.payload.as_slice());
                self.validator.validate(parent_payload, &block.payload)
            }
        };
        if accept {
            self.cast_vote(VoteKind::Notarize, view, digest);
        } else {
            // An invalid proposal will never be notarized by an honest
            // quorum: skip the view now instead of waiting for the timeout.
            if let Some(state) = self.views.get_mut(&view) {
                state.proposal_refused = true;
            }
            self.cast_vote(VoteKind::Nullify, view, [0; 32]);
        }
    }

    /// The Simplex rule: the parent is notarized (or the finalized tip) in
    /// `parent_view`, every view strictly between is nullified, and the
    /// height follows the parent's.
    pub(crate) fn check_extension(&mut self, block: &Block) -> Extension {
        let (view, parent_view) = (block.view, block.parent_view);
        if parent_view < self.tip.view || view - parent_view > self.cfg.max_past_views {
            return Extension::Invalid;
        }
        let mut wait = false;
        if parent_view == self.tip.view {
            if block.parent != self.tip.digest {
                return Extension::Invalid;
            }
        } else {
            match self
                .views
                .get(&parent_view)
                .and_then(|s| s.notarized_digest())
            {
                Some(d) if d == block.parent => {}
                Some(_) => return Extension::Invalid,
                None => {
                    self.want_view(parent_view);
                    wait = true;
                }
            }
        }
        for w in parent_view + 1..view {
            if !self.views.get(&w).is_some_and(|s| s.is_nullified()) {
                self.want_view(w);
                wait = true;
            }
        }
        if wait {
            return Extension::Wait;
        }
        let Some(parent) = self.block(&block.parent).cloned() else {
            self.want_block(block.parent);
            return Extension::Wait;
        };
        if block.height != parent.height + 1 {
            return Extension::Invalid;
        }
        Extension::Valid(parent)
    }

    /// After a timeout, every `retransmit_interval_ticks`: own votes of the
    /// current view, own proposal, and the certificates that let others
    /// reach our view and commit what we committed.
    pub(crate) fn retransmit(&mut self) {
        let view = self.view;
        let me = self.cfg.id;
        let mut out = Vec::new();
        if let Some(state) = self.views.get(&view) {
            for kind in [VoteKind::Notarize, VoteKind::Nullify, VoteKind::Finalize] {
                if let Some(vote) = state.votes(kind).get(&me) {
                    out.push(Message::Vote(vote.clone()));
                }
            }
            if self.participants.leader(view) == me
                && let Some(digest) = state.proposal
                && let Some(block) = self.blocks.get(&digest)
                && let Some(vote) = state.notarizes.get(&me)
                && vote.digest == digest
            {
                out.push(Message::Propose {
                    block: block.clone(),
                    vote: vote.clone(),
                });
            }
        }
        if let Some(cert) = &self.entry_certificate {
            out.push(Message::Certificate(cert.clone()));
        }
        if let Some(cert) = &self.latest_finalization
            && self.entry_certificate.as_ref() != Some(cert)
        {
            out.push(Message::Certificate(cert.clone()));
        }
        for msg in out {
            self.broadcast(&msg);
        }
    }
}

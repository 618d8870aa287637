//! Leader election (Raft §5.2) with pre-vote (dissertation §9.6) and the
//! leader's quorum check.

use crate::NodeId;
use crate::raft::message::{Entry, EntryPayload, MessageBody};
use crate::raft::node::{CampaignKind, Raft, Role};

/// Outcome of counting election answers.
#[derive(Debug, PartialEq, Eq)]
enum Tally {
    Won,
    Lost,
    Pending,
}

impl Raft {
    /// Starts an election of the given kind.
    pub(crate) fn campaign(&mut self, kind: CampaignKind) {
        if !self.promotable() {
            return;
        }
        // A term of u64::MAX can only come from a corrupt peer; refusing to
        // campaign beyond it keeps arithmetic total.
        let Some(next_term) = self.term.checked_add(1) else {
            return;
        };
        let (request_term, pre_vote) = match kind {
            CampaignKind::PreVote => {
                self.become_pre_candidate();
                (next_term, true)
            }
            CampaignKind::Election | CampaignKind::Transfer => {
                self.become_candidate();
                (self.term, false)
            }
        };
        let me = self.cfg.id;
        self.votes.insert(me, true);
        match self.tally() {
            Tally::Won if pre_vote => return self.campaign(CampaignKind::Election),
            Tally::Won => return self.become_leader(),
            Tally::Lost | Tally::Pending => {}
        }
        let last_log_index = self.log.last_index();
        let last_log_term = self.log.last_term();
        let voters: Vec<NodeId> = self.membership.current().voters().to_vec();
        for voter in voters.into_iter().filter(|v| *v != me) {
            let body = if pre_vote {
                MessageBody::PreVote {
                    last_log_index,
                    last_log_term,
                }
            } else {
                MessageBody::RequestVote {
                    last_log_index,
                    last_log_term,
                    leader_transfer: kind == CampaignKind::Transfer,
                }
            };
            self.send_with_term(voter, request_term, body);
        }
    }

    fn become_pre_candidate(&mut self) {
        self.role = Role::PreCandidate;
        self.leader = None;
        self.votes.clear();
        self.progress.clear();
        self.reset_timers();
    }

    fn become_candidate(&mut self) {
        assert_ne!(self.role, Role::Leader, "a leader never campaigns");
        self.term += 1;
        self.vote = Some(self.cfg.id);
        self.role = Role::Candidate;
        self.leader = None;
        self.votes.clear();
        self.progress.clear();
        self.reset_timers();
    }

    pub(crate) fn become_leader(&mut self) {
        assert!(
            matches!(self.role, Role::Candidate),
            "only a candidate becomes leader"
        );
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id);
        self.reset_timers();
        self.transfer_target = None;
        self.uncommitted_bytes = 0;
        self.progress.clear();
        self.on_membership_changed();
        // A no-op of the new term: committing it commits every earlier
        // entry (§5.4.2) without waiting for a client request.
        let noop = Entry {
            index: self.log.last_index() + 1,
            term: self.term,
            payload: EntryPayload::Noop,
        };
        self.append_entries_to_log(vec![noop]);
        self.pending_append_broadcast = true;
        self.maybe_commit();
    }

    fn tally(&self) -> Tally {
        let membership = self.membership.current();
        let quorum = membership.quorum();
        let voters = membership.voters().len();
        let mut granted = 0usize;
        let mut rejected = 0usize;
        for (id, vote) in &self.votes {
            if !membership.contains(*id) {
                continue;
            }
            if *vote {
                granted += 1;
            } else {
                rejected += 1;
            }
        }
        if granted >= quorum {
            Tally::Won
        } else if rejected > voters - quorum {
            Tally::Lost
        } else {
            Tally::Pending
        }
    }

    pub(crate) fn handle_pre_vote(
        &mut self,
        from: NodeId,
        term: u64,
        last_log_index: u64,
        last_log_term: u64,
    ) {
        // Grant only what a real vote would grant, without remembering it:
        // a future term, a log at least as up to date as ours, and no live
        // leader (the lease is what keeps a reconnecting node from winning).
        let grant = term > self.term
            && !self.in_lease()
            && self.log.is_up_to_date(last_log_index, last_log_term);
        if grant {
            self.send_with_term(from, term, MessageBody::PreVoteResponse { reject: false });
        } else {
            self.send(from, MessageBody::PreVoteResponse { reject: true });
        }
    }

    pub(crate) fn handle_pre_vote_response(&mut self, from: NodeId, term: u64, reject: bool) {
        if self.role != Role::PreCandidate {
            return;
        }
        let answers_this_round =
            self.term.checked_add(1) == Some(term) || (reject && term == self.term);
        if !answers_this_round {
            return;
        }
        self.votes.insert(from, !reject);
        match self.tally() {
            Tally::Won => self.campaign(CampaignKind::Election),
            Tally::Lost => {
                let term = self.term;
                self.become_follower(term, None);
            }
            Tally::Pending => {}
        }
    }

    pub(crate) fn handle_vote(&mut self, from: NodeId, last_log_index: u64, last_log_term: u64) {
        let can_vote = self.vote == Some(from)
            || (self.vote.is_none() && self.leader.is_none())
            || crate::raft::mutated!(self.cfg, DoubleVote);
        let grant = can_vote && self.log.is_up_to_date(last_log_index, last_log_term);
        if grant {
            // The vote is persisted (hard state) before this reply is sent.
            self.vote = Some(from);
            self.election_elapsed_ticks = 0;
        }
        self.send(from, MessageBody::RequestVoteResponse { reject: !grant });
    }

    pub(crate) fn handle_vote_response(&mut self, from: NodeId, reject: bool) {
        if self.role != Role::Candidate {
            return;
        }
        self.votes.insert(from, !reject);
        match self.tally() {
            Tally::Won => self.become_leader(),
            Tally::Lost => {
                let term = self.term;
                self.become_follower(term, None);
            }
            Tally::Pending => {}
        }
    }

    /// Leader: did a majority answer within the last election timeout?
    pub(crate) fn check_quorum_active(&mut self) -> bool {
        let membership = self.membership.current();
        let me = self.cfg.id;
        let mut active = usize::from(membership.contains(me));
        for (id, progress) in self.progress.iter_mut() {
            if progress.recent_active && membership.contains(*id) {
                active += 1;
            }
            progress.recent_active = false;
        }
        active >= membership.quorum()
    }
}

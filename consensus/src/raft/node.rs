//! The Raft state machine: inputs (tick, step, propose, ...), role
//! transitions and output batching. Elections live in `election.rs`,
//! replication in `replication.rs`.

use std::collections::BTreeMap;

use crate::raft::config::RaftConfig;
use crate::raft::error::Error;
use crate::raft::log::RaftLog;
use crate::raft::membership::MembershipHistory;
use crate::raft::message::{
    ConfChange, Entry, EntryPayload, Membership, Message, MessageBody, Snapshot,
};
use crate::raft::progress::Progress;
use crate::raft::storage::{DurableState, HardState, Persist};
use crate::sim::rng::SplitMix64;
use crate::{CommitKind, Committed, Consensus, Envelope, NodeId, Output, SnapshotToApply};

/// Messages buffered between two polls. Raft tolerates message loss, so past
/// this bound messages are dropped rather than memory growing without limit.
pub const MAX_PENDING_MESSAGES: usize = 16 * 1024;

/// The role a node plays in its current term.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Follows a leader (or waits for one).
    Follower,
    /// Asking for pre-votes; term not yet incremented.
    PreCandidate,
    /// Asking for votes in its own new term.
    Candidate,
    /// Accepts proposals and replicates.
    Leader,
}

/// How an election starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CampaignKind {
    /// Pre-vote round first (normal election timeout).
    PreVote,
    /// Real election (after a successful pre-vote).
    Election,
    /// Real election ordered by the leader (`TimeoutNow`).
    Transfer,
}

/// One Raft participant. See the crate docs for the driving loop.
#[derive(Debug)]
pub struct Raft {
    pub(crate) cfg: RaftConfig,
    pub(crate) term: u64,
    pub(crate) vote: Option<NodeId>,
    pub(crate) role: Role,
    pub(crate) leader: Option<NodeId>,
    pub(crate) log: RaftLog,
    pub(crate) membership: MembershipHistory,
    rng: SplitMix64,
    /// Ticks since we heard from the leader (follower) or since the last
    /// quorum check (leader).
    pub(crate) election_elapsed_ticks: u64,
    pub(crate) randomized_election_timeout_ticks: u64,
    pub(crate) heartbeat_elapsed_ticks: u64,
    /// Monotonic local tick counter (for snapshot retries).
    pub(crate) now_tick: u64,
    /// Election answers this term: voter -> granted.
    pub(crate) votes: BTreeMap<NodeId, bool>,
    /// Leader only: one entry per other voter.
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) transfer_target: Option<NodeId>,
    pub(crate) transfer_elapsed_ticks: u64,
    /// Leader only: bytes of this term's entries not yet committed.
    pub(crate) uncommitted_bytes: u64,
    /// Leader only: new entries wait for the next poll, so that proposals
    /// made between two polls travel in one append per peer.
    pub(crate) pending_append_broadcast: bool,
    /// Leader only: the commit index moved; tell followers at the next poll.
    pub(crate) pending_commit_broadcast: bool,
    pub(crate) messages: Vec<Envelope<Message>>,
    persisted_hard_state: HardState,
    pending_persist_snapshot: Option<Snapshot>,
    pending_apply_snapshot: bool,
}

impl Raft {
    /// A brand-new node. With `voters` non-empty this bootstraps the cluster:
    /// every initial member must be created with the same list, which becomes
    /// the identical, committed entry 1 of every log. With `voters` empty the
    /// node is a joiner that waits for a leader to replicate to it (add it
    /// with [`ConfChange::AddVoter`]).
    pub fn new(cfg: RaftConfig, voters: &[NodeId]) -> Result<Self, Error> {
        if voters.is_empty() {
            return Self::restart(cfg, DurableState::default());
        }
        let membership = Membership::new(voters.iter().copied());
        if voters.contains(&0) {
            return Err(Error::InvalidConfig("node id 0 is reserved"));
        }
        let mut raft = Self::restart(cfg, DurableState::default())?;
        let bootstrap = Entry {
            index: 1,
            term: 1,
            payload: EntryPayload::Config(membership),
        };
        raft.term = 1;
        raft.append_entries_to_log(vec![bootstrap]);
        raft.log.commit_to(1);
        Ok(raft)
    }

    /// A node recovering from what it made durable before a crash.
    ///
    /// The first outputs re-deliver the durable snapshot (if any) and then
    /// every committed entry after it, so an application whose state is not
    /// durable rebuilds it; a durable application skips items at or below
    /// its own applied index.
    pub fn restart(cfg: RaftConfig, durable: DurableState) -> Result<Self, Error> {
        cfg.validate()?;
        let DurableState {
            hard_state,
            snapshot,
            entries,
        } = durable;
        let mut membership = MembershipHistory::new(snapshot.membership.clone());
        membership.on_append(&entries);
        let pending_apply_snapshot = snapshot.index > 0;
        let log = RaftLog::restore(snapshot, entries, hard_state.commit)?;
        if hard_state.term < log.last_term() {
            return Err(Error::CorruptStorage("log term beyond hard state term"));
        }
        let rng = SplitMix64::new(cfg.seed ^ cfg.id.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut raft = Self {
            term: hard_state.term,
            vote: hard_state.vote,
            role: Role::Follower,
            leader: None,
            log,
            membership,
            rng,
            election_elapsed_ticks: 0,
            randomized_election_timeout_ticks: cfg.election_timeout_ticks,
            heartbeat_elapsed_ticks: 0,
            now_tick: 0,
            votes: BTreeMap::new(),
            progress: BTreeMap::new(),
            transfer_target: None,
            transfer_elapsed_ticks: 0,
            uncommitted_bytes: 0,
            pending_append_broadcast: false,
            pending_commit_broadcast: false,
            messages: Vec::new(),
            persisted_hard_state: hard_state,
            pending_persist_snapshot: None,
            pending_apply_snapshot,
            cfg,
        };
        raft.reset_timers();
        Ok(raft)
    }

    // ----- observers -----

    /// This node's id.
    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    /// Current term.
    pub fn term(&self) -> u64 {
        self.term
    }
    /// Vote cast in the current term.
    pub fn vote(&self) -> Option<NodeId> {
        self.vote
    }
    /// Current role.
    pub fn role(&self) -> Role {
        self.role
    }
    /// Whether this node is the leader.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }
    /// Leader of the current term, if known.
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    /// Commit index.
    pub fn commit_index(&self) -> u64 {
        self.log.commit()
    }
    /// Index of the last log entry.
    pub fn last_index(&self) -> u64 {
        self.log.last_index()
    }
    /// Term of the last log entry.
    pub fn last_term(&self) -> u64 {
        self.log.last_term()
    }
    /// Highest index handed to the application.
    pub fn applied_index(&self) -> u64 {
        self.log.applied()
    }
    /// Term of entry `index`, if held.
    pub fn term_at(&self, index: u64) -> Option<u64> {
        self.log.term(index)
    }
    /// Entry `index`, if held (not compacted).
    pub fn entry(&self, index: u64) -> Option<&Entry> {
        self.log.entry(index)
    }
    /// Current snapshot (index 0: none).
    pub fn snapshot(&self) -> &Snapshot {
        self.log.snapshot()
    }
    /// Membership in force (the latest appended config).
    pub fn membership(&self) -> &Membership {
        self.membership.current()
    }
    /// Leader only: (match index, next index) of a peer.
    pub fn progress_of(&self, peer: NodeId) -> Option<(u64, u64)> {
        self.progress
            .get(&peer)
            .map(|p| (p.match_index, p.next_index))
    }
    /// The hard state as it will next be persisted.
    pub fn hard_state(&self) -> HardState {
        HardState {
            term: self.term,
            vote: if crate::raft::mutated!(self.cfg, VoteNotPersisted) {
                None
            } else {
                self.vote
            },
            commit: self.log.commit(),
        }
    }
    /// The election timeout drawn for the current term.
    pub fn randomized_election_timeout_ticks(&self) -> u64 {
        self.randomized_election_timeout_ticks
    }

    // ----- inputs -----

    /// Advances logical time by one tick.
    pub fn tick(&mut self) {
        self.now_tick += 1;
        if self.role == Role::Leader {
            self.tick_leader();
            return;
        }
        self.election_elapsed_ticks += 1;
        if self.promotable()
            && self.election_elapsed_ticks >= self.randomized_election_timeout_ticks
        {
            self.election_elapsed_ticks = 0;
            let kind = if self.cfg.pre_vote {
                CampaignKind::PreVote
            } else {
                CampaignKind::Election
            };
            self.campaign(kind);
        }
    }

    fn tick_leader(&mut self) {
        self.heartbeat_elapsed_ticks += 1;
        self.election_elapsed_ticks += 1;
        if self.transfer_target.is_some() {
            self.transfer_elapsed_ticks += 1;
            if self.transfer_elapsed_ticks >= self.cfg.election_timeout_ticks {
                // The target did not take over in time: resume service.
                self.transfer_target = None;
            }
        }
        if self.election_elapsed_ticks >= self.cfg.election_timeout_ticks {
            self.election_elapsed_ticks = 0;
            if !self.check_quorum_active() {
                // Cut off from a majority: stop accepting proposals that can
                // never commit, and let the majority side elect a leader.
                let term = self.term;
                self.become_follower(term, None);
                return;
            }
        }
        self.retry_lost_snapshots();
        if self.heartbeat_elapsed_ticks >= self.cfg.heartbeat_interval_ticks {
            self.heartbeat_elapsed_ticks = 0;
            self.broadcast_heartbeat();
        }
    }

    /// Handles a message from `from`. Errors mean the message was ignored.
    pub fn step(&mut self, from: NodeId, msg: Message) -> Result<(), Error> {
        msg.validate()?;
        if from == self.cfg.id || from == 0 {
            return Err(Error::InvalidMessage("message from self or node 0"));
        }
        if msg.term > self.term {
            match &msg.body {
                // A pre-vote request names a term the sender does not hold;
                // a granted pre-vote echoes it. Neither may move our term,
                // or pre-vote would disrupt exactly as plain votes do.
                MessageBody::PreVote { .. } | MessageBody::PreVoteResponse { reject: false } => {}
                MessageBody::RequestVote {
                    leader_transfer: false,
                    ..
                } if self.in_lease() => {
                    // Dissertation §4.2.3: we heard from a leader within the
                    // minimum election timeout, so this candidate is likely a
                    // disruptive removed or partitioned server.
                    return Ok(());
                }
                MessageBody::AppendEntries { .. }
                | MessageBody::Heartbeat { .. }
                | MessageBody::InstallSnapshot { .. } => {
                    self.become_follower(msg.term, Some(from));
                }
                _ => self.become_follower(msg.term, None),
            }
        } else if msg.term < self.term {
            self.reply_to_stale(from, &msg.body);
            return Ok(());
        }
        match msg.body {
            MessageBody::PreVote {
                last_log_index,
                last_log_term,
            } => self.handle_pre_vote(from, msg.term, last_log_index, last_log_term),
            MessageBody::PreVoteResponse { reject } => {
                self.handle_pre_vote_response(from, msg.term, reject)
            }
            MessageBody::RequestVote {
                last_log_index,
                last_log_term,
                ..
            } => self.handle_vote(from, last_log_index, last_log_term),
            MessageBody::RequestVoteResponse { reject } => self.handle_vote_response(from, reject),
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            } => {
                self.follow(from)?;
                self.handle_append(from, prev_log_index, prev_log_term, entries, leader_commit)?;
            }
            MessageBody::Heartbeat { leader_commit } => {
                self.follow(from)?;
                self.handle_heartbeat(from, leader_commit);
            }
            MessageBody::InstallSnapshot { snapshot } => {
                self.follow(from)?;
                self.handle_snapshot(from, snapshot);
            }
            MessageBody::AppendEntriesResponse {
                reject,
                index,
                reject_hint,
            } => {
                if self.role == Role::Leader {
                    self.handle_append_response(from, reject, index, reject_hint)?;
                }
            }
            MessageBody::HeartbeatResponse => {
                if self.role == Role::Leader {
                    self.handle_heartbeat_response(from);
                }
            }
            MessageBody::TimeoutNow => {
                if self.role != Role::Leader && self.promotable() {
                    self.campaign(CampaignKind::Transfer);
                }
            }
        }
        Ok(())
    }

    /// A message from the leader of our current term.
    fn follow(&mut self, from: NodeId) -> Result<(), Error> {
        match self.role {
            Role::Leader => Err(Error::InvalidMessage("another leader in my term")),
            Role::Follower if self.leader == Some(from) => {
                self.election_elapsed_ticks = 0;
                Ok(())
            }
            _ => {
                let term = self.term;
                self.become_follower(term, Some(from));
                Ok(())
            }
        }
    }

    /// Answers a message from an older term so its sender learns our term
    /// and steps down (a deposed leader would otherwise keep sending).
    fn reply_to_stale(&mut self, from: NodeId, body: &MessageBody) {
        let reply = match body {
            MessageBody::AppendEntries { .. }
            | MessageBody::Heartbeat { .. }
            | MessageBody::InstallSnapshot { .. } => MessageBody::AppendEntriesResponse {
                reject: true,
                index: 0,
                reject_hint: 0,
            },
            MessageBody::PreVote { .. } => MessageBody::PreVoteResponse { reject: true },
            MessageBody::RequestVote { .. } => MessageBody::RequestVoteResponse { reject: true },
            _ => return,
        };
        self.send(from, reply);
    }

    /// Leader only: appends `payload` as a new entry.
    pub fn propose(&mut self, payload: Vec<u8>) -> Result<u64, Error> {
        self.check_can_propose()?;
        let size_bytes = payload.len() as u64;
        if self.uncommitted_bytes > 0
            && self.uncommitted_bytes + size_bytes > self.cfg.max_uncommitted_bytes
        {
            return Err(Error::Backpressure {
                uncommitted_bytes: self.uncommitted_bytes,
                limit_bytes: self.cfg.max_uncommitted_bytes,
            });
        }
        let index = self.log.last_index() + 1;
        self.uncommitted_bytes += size_bytes;
        self.append_entries_to_log(vec![Entry {
            index,
            term: self.term,
            payload: EntryPayload::Normal(payload),
        }]);
        self.pending_append_broadcast = true;
        self.maybe_commit();
        Ok(index)
    }

    /// Leader only: proposes a single-server membership change. It takes
    /// effect (for quorums) as soon as it is appended; the next change is
    /// refused until this one commits.
    pub fn propose_conf_change(&mut self, change: ConfChange) -> Result<u64, Error> {
        self.check_can_propose()?;
        if self.membership.last_change_index() > self.log.commit() {
            return Err(Error::ConfChangeInProgress);
        }
        // Until an entry of this term commits, an uncommitted change from a
        // previous leader may still be in the log of a majority we do not
        // know about; changing again could yield disjoint majorities.
        if self.log.term(self.log.commit()) != Some(self.term) {
            return Err(Error::ConfChangeInProgress);
        }
        if change == ConfChange::RemoveVoter(self.cfg.id) {
            return Err(Error::InvalidConfChange);
        }
        let Some(next) = self.membership.current().apply(change) else {
            return Err(Error::InvalidConfChange);
        };
        let index = self.log.last_index() + 1;
        self.append_entries_to_log(vec![Entry {
            index,
            term: self.term,
            payload: EntryPayload::Config(next),
        }]);
        self.pending_append_broadcast = true;
        self.maybe_commit();
        Ok(index)
    }

    fn check_can_propose(&self) -> Result<(), Error> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if self.transfer_target.is_some() {
            return Err(Error::TransferInProgress);
        }
        Ok(())
    }

    /// Leader only: hands leadership to voter `to` once it is caught up
    /// (dissertation §3.10). Proposals are refused meanwhile; the transfer is
    /// abandoned after an election timeout.
    pub fn transfer_leader(&mut self, to: NodeId) -> Result<(), Error> {
        if self.role != Role::Leader {
            return Err(Error::NotLeader {
                leader: self.leader,
            });
        }
        if to == self.cfg.id || !self.membership.current().contains(to) {
            return Err(Error::InvalidTransferTarget(to));
        }
        if self.transfer_target == Some(to) {
            return Ok(());
        }
        self.transfer_target = Some(to);
        self.transfer_elapsed_ticks = 0;
        let caught_up = self
            .progress
            .get(&to)
            .is_some_and(|p| p.match_index == self.log.last_index());
        if caught_up {
            self.send(to, MessageBody::TimeoutNow);
        } else {
            self.send_append(to, true);
        }
        Ok(())
    }

    /// Compacts the log up to `upto_index` (which the application has
    /// applied), keeping `snapshot_data` as the summary to ship to lagging
    /// followers.
    pub fn compact(&mut self, upto_index: u64, snapshot_data: Vec<u8>) -> Result<(), Error> {
        let snapshot_index = self.log.snapshot().index;
        if upto_index <= snapshot_index || upto_index > self.log.applied() {
            return Err(Error::InvalidCompaction {
                index: upto_index,
                applied: self.log.applied(),
                snapshot_index,
            });
        }
        let term = self
            .log
            .term(upto_index)
            .ok_or(Error::CorruptStorage("applied entry missing from log"))?;
        let snapshot = Snapshot {
            index: upto_index,
            term,
            membership: self.membership.at(upto_index).clone(),
            data: snapshot_data,
        };
        self.log.compact(snapshot.clone());
        self.membership.on_compact(upto_index);
        self.pending_persist_snapshot = Some(snapshot);
        Ok(())
    }

    // ----- outputs -----

    /// Whether `poll_output` has something to return.
    pub fn has_output(&self) -> bool {
        !self.messages.is_empty()
            || self.log.has_unstable()
            || self.pending_persist_snapshot.is_some()
            || self.pending_apply_snapshot
            || self.log.has_next_committed()
            || self.hard_state() != self.persisted_hard_state
            || (self.role == Role::Leader
                && (self.pending_append_broadcast || self.pending_commit_broadcast))
    }

    /// Takes the next batch: persist it, then send, then apply.
    pub fn poll_output(&mut self) -> Output<Message, Persist> {
        if self.role == Role::Leader {
            self.flush_broadcasts();
        }
        let mut persist = Persist {
            snapshot: self.pending_persist_snapshot.take(),
            ..Persist::default()
        };
        if let Some((truncate_from, entries)) = self.log.take_unstable() {
            persist.truncate_from = Some(truncate_from);
            persist.entries = entries;
        }
        let hard_state = self.hard_state();
        if hard_state != self.persisted_hard_state {
            self.persisted_hard_state = hard_state.clone();
            persist.hard_state = Some(hard_state);
        }
        let snapshot = if self.pending_apply_snapshot {
            self.pending_apply_snapshot = false;
            self.log.set_applied_to_snapshot();
            Some(SnapshotToApply {
                index: self.log.snapshot().index,
                data: self.log.snapshot().data.clone(),
            })
        } else {
            None
        };
        let committed = self
            .log
            .next_committed(self.cfg.max_committed_per_output)
            .into_iter()
            .map(|entry| match entry.payload {
                EntryPayload::Normal(payload) => Committed {
                    index: entry.index,
                    kind: CommitKind::Application,
                    payload,
                },
                EntryPayload::Noop | EntryPayload::Config(_) => Committed {
                    index: entry.index,
                    kind: CommitKind::Internal,
                    payload: Vec::new(),
                },
            })
            .collect();
        Output {
            persist,
            messages: std::mem::take(&mut self.messages),
            snapshot,
            committed,
        }
    }

    // ----- shared helpers -----

    pub(crate) fn promotable(&self) -> bool {
        self.membership.current().contains(self.cfg.id)
    }

    /// Whether we heard from a live leader within the minimum election
    /// timeout (a leader always considers itself in lease).
    pub(crate) fn in_lease(&self) -> bool {
        self.leader.is_some() && self.election_elapsed_ticks < self.cfg.election_timeout_ticks
    }

    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        if self.messages.len() >= MAX_PENDING_MESSAGES {
            return;
        }
        self.messages.push(Envelope {
            to,
            msg: Message {
                term: self.term,
                body,
            },
        });
    }

    pub(crate) fn send_with_term(&mut self, to: NodeId, term: u64, body: MessageBody) {
        if self.messages.len() >= MAX_PENDING_MESSAGES {
            return;
        }
        self.messages.push(Envelope {
            to,
            msg: Message { term, body },
        });
    }

    pub(crate) fn reset_timers(&mut self) {
        self.election_elapsed_ticks = 0;
        self.heartbeat_elapsed_ticks = 0;
        let base = self.cfg.election_timeout_ticks;
        self.randomized_election_timeout_ticks = base + self.rng.below(base);
    }

    pub(crate) fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        assert!(term >= self.term, "terms never go backwards");
        if term > self.term {
            self.term = term;
            self.vote = None;
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.reset_timers();
        self.votes.clear();
        self.progress.clear();
        self.transfer_target = None;
        self.uncommitted_bytes = 0;
        self.pending_append_broadcast = false;
        self.pending_commit_broadcast = false;
    }

    /// Appends to the log and applies config entries at once (§4.1).
    pub(crate) fn append_entries_to_log(&mut self, entries: Vec<Entry>) {
        let has_config = entries
            .iter()
            .any(|e| matches!(e.payload, EntryPayload::Config(_)));
        if has_config {
            self.membership.on_append(&entries);
        }
        self.log.append(entries);
        if has_config {
            self.on_membership_changed();
        }
    }

    /// Truncates the log from `index`, reverting config entries it held.
    pub(crate) fn truncate_log_from(&mut self, index: u64) {
        self.log.truncate_from(index);
        let before = self.membership.last_change_index();
        self.membership.on_truncate(index);
        if self.membership.last_change_index() != before {
            self.on_membership_changed();
        }
    }

    /// Queues a snapshot received from the leader for persistence and for
    /// the application.
    pub(crate) fn install_snapshot_outputs(&mut self, snapshot: Snapshot) {
        self.pending_persist_snapshot = Some(snapshot);
        self.pending_apply_snapshot = true;
    }

    /// Keeps leader progress in step with the voter set.
    pub(crate) fn on_membership_changed(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let voters: Vec<NodeId> = self.membership.current().voters().to_vec();
        self.progress.retain(|id, _| voters.contains(id));
        let last_index = self.log.last_index();
        for id in voters {
            if id != self.cfg.id {
                self.progress.entry(id).or_insert_with(|| {
                    Progress::new(last_index, self.cfg.max_inflight_appends_per_peer)
                });
            }
        }
        if self
            .transfer_target
            .is_some_and(|t| !self.progress.contains_key(&t))
        {
            self.transfer_target = None;
        }
    }
}

impl Consensus for Raft {
    type Message = Message;
    type Persist = Persist;
    type Error = Error;

    fn id(&self) -> NodeId {
        self.cfg.id
    }
    fn tick(&mut self) {
        Raft::tick(self);
    }
    fn step(&mut self, from: NodeId, msg: Message) -> Result<(), Error> {
        Raft::step(self, from, msg)
    }
    fn propose(&mut self, payload: Vec<u8>) -> Result<(), Error> {
        Raft::propose(self, payload).map(|_| ())
    }
    fn leader_hint(&self) -> Option<NodeId> {
        self.leader
    }
    fn has_output(&self) -> bool {
        Raft::has_output(self)
    }
    fn poll_output(&mut self) -> Output<Message, Persist> {
        Raft::poll_output(self)
    }
}

//! Log replication (Raft §5.3), the commit rule (§5.4.2) and snapshot
//! catch-up (§7), both leader and follower sides.

use crate::NodeId;
use crate::raft::error::Error;
use crate::raft::message::{Entry, EntryPayload, MessageBody, Snapshot};
use crate::raft::node::{Raft, Role};
use crate::raft::progress::ProgressState;

impl Raft {
    // ----- leader side -----

    /// Sends the next append (or the snapshot) to `to` if its window allows.
    /// With `allow_empty` an append without entries may go out, as a probe
    /// or to carry the commit index. Returns whether something was sent.
    pub(crate) fn send_append(&mut self, to: NodeId, allow_empty: bool) -> bool {
        let Some(progress) = self.progress.get_mut(&to) else {
            return false;
        };
        if progress.is_paused() {
            return false;
        }
        let prev_log_index = progress.next_index - 1;
        let Some(prev_log_term) = self.log.term(prev_log_index) else {
            // The entries this follower needs were compacted away.
            let snapshot = self.log.snapshot().clone();
            debug_assert!(snapshot.index > prev_log_index);
            progress.become_snapshot(snapshot.index, self.now_tick);
            self.send(to, MessageBody::InstallSnapshot { snapshot });
            return true;
        };
        let entries = self.log.entries_from(
            progress.next_index,
            self.cfg.max_entries_per_append,
            self.cfg.max_bytes_per_append,
        );
        if entries.is_empty() && !allow_empty {
            return false;
        }
        match progress.state {
            ProgressState::Replicate => {
                if let Some(last) = entries.last() {
                    progress.optimistic_update(last.index);
                }
            }
            ProgressState::Probe => progress.probe_sent = true,
            ProgressState::Snapshot { .. } => unreachable!("paused in snapshot state"),
        }
        let leader_commit = self.log.commit();
        self.send(
            to,
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                leader_commit,
            },
        );
        true
    }

    /// Sends as many appends to `to` as its inflight window allows.
    fn send_appends_until_paused(&mut self, to: NodeId) -> bool {
        let mut sent_any = false;
        // Bounded: each send either pauses the peer (probe, snapshot) or
        // takes an inflight slot.
        for _ in 0..=self.cfg.max_inflight_appends_per_peer {
            if !self.send_append(to, false) {
                break;
            }
            sent_any = true;
        }
        sent_any
    }

    /// Sends pending entries and commit updates, coalesced since last poll.
    pub(crate) fn flush_broadcasts(&mut self) {
        debug_assert_eq!(self.role, Role::Leader);
        if !self.pending_append_broadcast && !self.pending_commit_broadcast {
            return;
        }
        let commit_changed = self.pending_commit_broadcast;
        self.pending_append_broadcast = false;
        self.pending_commit_broadcast = false;
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for peer in peers {
            let sent = self.send_appends_until_paused(peer);
            if !sent && commit_changed {
                self.send_heartbeat(peer);
            }
        }
    }

    fn send_heartbeat(&mut self, to: NodeId) {
        let Some(progress) = self.progress.get(&to) else {
            return;
        };
        // Never tell a follower to commit past what it is known to share
        // with us: it skips the log check for heartbeats.
        let leader_commit = progress.match_index.min(self.log.commit());
        self.send(to, MessageBody::Heartbeat { leader_commit });
    }

    pub(crate) fn broadcast_heartbeat(&mut self) {
        let peers: Vec<NodeId> = self.progress.keys().copied().collect();
        for peer in peers {
            self.send_heartbeat(peer);
        }
    }

    /// A snapshot message or its answer may be lost: after an election
    /// timeout without an answer, probe again (which resends if needed).
    pub(crate) fn retry_lost_snapshots(&mut self) {
        let now = self.now_tick;
        let timeout = self.cfg.election_timeout_ticks;
        for progress in self.progress.values_mut() {
            if let ProgressState::Snapshot { sent_at_tick, .. } = progress.state
                && now.saturating_sub(sent_at_tick) >= timeout
            {
                progress.become_probe();
            }
        }
    }

    pub(crate) fn handle_append_response(
        &mut self,
        from: NodeId,
        reject: bool,
        index: u64,
        reject_hint: u64,
    ) -> Result<(), Error> {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return Ok(());
        };
        if index > last_index {
            return Err(Error::InvalidMessage("ack beyond the leader's log"));
        }
        progress.recent_active = true;
        if reject {
            if progress.maybe_decr_to(index, reject_hint) {
                if progress.state == ProgressState::Replicate {
                    progress.become_probe();
                }
                self.send_append(from, true);
            }
            return Ok(());
        }
        if progress.maybe_update(index) {
            match progress.state {
                ProgressState::Probe => progress.become_replicate(),
                ProgressState::Snapshot { pending_index, .. }
                    if progress.match_index >= pending_index =>
                {
                    progress.become_probe();
                }
                _ => {}
            }
            if self.maybe_commit() {
                self.pending_commit_broadcast = true;
            }
            // The quorum may have shrunk this leader's term away (config
            // change committed): only continue while still leading.
            if self.role == Role::Leader {
                self.send_appends_until_paused(from);
            }
        }
        if self.transfer_target == Some(from)
            && self
                .progress
                .get(&from)
                .is_some_and(|p| p.match_index == self.log.last_index())
        {
            self.send(from, MessageBody::TimeoutNow);
        }
        Ok(())
    }

    pub(crate) fn handle_heartbeat_response(&mut self, from: NodeId) {
        let last_index = self.log.last_index();
        let Some(progress) = self.progress.get_mut(&from) else {
            return;
        };
        progress.recent_active = true;
        progress.unblock_on_heartbeat(self.now_tick, self.cfg.heartbeat_interval_ticks);
        if progress.match_index < last_index {
            self.send_append(from, true);
        }
    }

    /// Commit rule (§5.4.2): the highest index held by a quorum commits, but
    /// only if its entry is from the current term; older entries commit
    /// indirectly through it (Figure 8).
    pub(crate) fn maybe_commit(&mut self) -> bool {
        debug_assert_eq!(self.role, Role::Leader);
        let membership = self.membership.current();
        let me = self.cfg.id;
        let mut matches: Vec<u64> = membership
            .voters()
            .iter()
            .map(|voter| {
                if *voter == me {
                    self.log.last_index()
                } else {
                    self.progress.get(voter).map_or(0, |p| p.match_index)
                }
            })
            .collect();
        matches.sort_unstable_by(|a, b| b.cmp(a));
        let mut quorum = membership.quorum();
        if crate::raft::mutated!(self.cfg, CommitWithoutQuorum) {
            quorum = quorum.saturating_sub(1).max(1);
        }
        let Some(&candidate) = matches.get(quorum - 1) else {
            return false;
        };
        if candidate <= self.log.commit() {
            return false;
        }
        let current_term = self.log.term(candidate) == Some(self.term);
        if !current_term && !crate::raft::mutated!(self.cfg, CommitPreviousTermByCounting) {
            return false;
        }
        self.commit_to(candidate);
        true
    }

    /// Advances the commit index, releasing the leader's uncommitted budget.
    fn commit_to(&mut self, index: u64) {
        let previous = self.log.commit();
        if !self.log.commit_to(index) {
            return;
        }
        if self.role == Role::Leader {
            for i in previous + 1..=index {
                if let Some(Entry {
                    term,
                    payload: EntryPayload::Normal(data),
                    ..
                }) = self.log.entry(i)
                    && *term == self.term
                {
                    self.uncommitted_bytes =
                        self.uncommitted_bytes.saturating_sub(data.len() as u64);
                }
            }
        }
    }

    // ----- follower side -----

    pub(crate) fn handle_append(
        &mut self,
        from: NodeId,
        prev_log_index: u64,
        prev_log_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
    ) -> Result<(), Error> {
        let commit = self.log.commit();
        let (prev_log_index, prev_log_term, entries) = if prev_log_index < commit {
            // Our committed prefix is in every later leader's log, so entries
            // up to our commit index match: skip them instead of rejecting.
            let skip = usize::try_from(commit - prev_log_index).unwrap_or(usize::MAX);
            if entries.len() <= skip {
                self.send_append_ack(from, commit);
                return Ok(());
            }
            let Some(commit_term) = self.log.term(commit) else {
                return Err(Error::InvalidMessage("commit index outside the log"));
            };
            let mut entries = entries;
            let rest = entries.split_off(skip);
            if rest[0].index != commit + 1 {
                return Err(Error::InvalidMessage("entries are not contiguous"));
            }
            (commit, commit_term, rest)
        } else {
            (prev_log_index, prev_log_term, entries)
        };

        if !self.log.match_term(prev_log_index, prev_log_term) {
            let last_index = self.log.last_index();
            let reject_hint = if prev_log_index > last_index {
                last_index
            } else {
                // Skip back over the whole conflicting term at once.
                self.log
                    .first_index_of_term_at(prev_log_index)
                    .saturating_sub(1)
            };
            self.send(
                from,
                MessageBody::AppendEntriesResponse {
                    reject: true,
                    index: prev_log_index,
                    reject_hint,
                },
            );
            return Ok(());
        }
        let last_new_index = prev_log_index + entries.len() as u64;
        if let Some(offset) = self.log.find_conflict(&entries) {
            let conflict_index = entries[offset].index;
            if conflict_index <= self.log.commit() {
                return Err(Error::ConflictWithCommitted {
                    index: conflict_index,
                });
            }
            self.truncate_log_from(conflict_index);
            let mut entries = entries;
            self.append_entries_to_log(entries.split_off(offset));
        }
        self.commit_to(leader_commit.min(last_new_index));
        self.send_append_ack(from, last_new_index);
        Ok(())
    }

    fn send_append_ack(&mut self, to: NodeId, index: u64) {
        self.send(
            to,
            MessageBody::AppendEntriesResponse {
                reject: false,
                index,
                reject_hint: 0,
            },
        );
    }

    pub(crate) fn handle_heartbeat(&mut self, from: NodeId, leader_commit: u64) {
        let commit = leader_commit.min(self.log.last_index());
        self.commit_to(commit);
        self.send(from, MessageBody::HeartbeatResponse);
    }

    pub(crate) fn handle_snapshot(&mut self, from: NodeId, snapshot: Snapshot) {
        let commit = self.log.commit();
        if snapshot.index <= commit {
            self.send_append_ack(from, commit);
            return;
        }
        if self.log.match_term(snapshot.index, snapshot.term) {
            // We already hold that prefix (Log Matching): just commit it.
            self.commit_to(snapshot.index);
            self.send_append_ack(from, snapshot.index);
            return;
        }
        let index = snapshot.index;
        self.membership.reset(snapshot.membership.clone());
        self.log.install(snapshot.clone());
        self.install_snapshot_outputs(snapshot);
        self.send_append_ack(from, index);
    }
}

//! Raft plugged into the simulator.

use crate::NodeId;
use crate::raft::{
    ConfChange, DurableState, Error, Message, MessageBody, Persist, Raft, RaftConfig,
    decode_message, encode_message,
};
use crate::sim::SimConfig;
use crate::sim::protocol::{MessageInfo, SimProtocol};
use crate::sim::rng::SplitMix64;

fn raft_config(id: NodeId, seed: u64, cfg: &SimConfig) -> RaftConfig {
    let mut raft_cfg = RaftConfig::new(id, seed);
    raft_cfg.election_timeout_ticks = cfg.election_timeout_ticks;
    raft_cfg.heartbeat_interval_ticks = cfg.heartbeat_interval_ticks;
    raft_cfg.pre_vote = cfg.pre_vote;
    // Small batches and windows so that a short simulation exercises
    // pipelining limits, probing and back-pressure.
    raft_cfg.max_entries_per_append = cfg.max_entries_per_message.max(1);
    raft_cfg.max_inflight_appends_per_peer = 4;
    raft_cfg.max_uncommitted_bytes = 16 << 10;
    raft_cfg.max_committed_per_output = 64;
    #[cfg(feature = "mutations")]
    {
        raft_cfg.unsafe_mutation = cfg.mutation;
    }
    raft_cfg
}

impl SimProtocol for Raft {
    type Disk = DurableState;

    fn boot(id: NodeId, cluster: &[NodeId], seed: u64, cfg: &SimConfig) -> Self {
        match Raft::new(raft_config(id, seed, cfg), cluster) {
            Ok(raft) => raft,
            Err(error) => panic!("simulation config rejected by Raft: {error}"),
        }
    }

    fn restart(
        id: NodeId,
        _cluster: &[NodeId],
        seed: u64,
        cfg: &SimConfig,
        disk: &DurableState,
    ) -> Self {
        match Raft::restart(raft_config(id, seed, cfg), disk.clone()) {
            Ok(raft) => raft,
            // The disk is written only by `persist` below from Raft's own
            // outputs: a corrupt disk is a bug in the state machine.
            Err(error) => panic!("node {id} cannot restart from its own disk: {error}"),
        }
    }

    fn disk_is_empty(disk: &DurableState) -> bool {
        disk.is_empty()
    }

    fn persist(disk: &mut DurableState, persist: &Persist) {
        disk.apply(persist);
    }

    fn encode(msg: &Message) -> Vec<u8> {
        encode_message(msg)
    }

    fn decode(bytes: &[u8]) -> Result<Message, Error> {
        decode_message(bytes)
    }

    fn describe(msg: &Message) -> MessageInfo {
        let index = match &msg.body {
            MessageBody::PreVote { last_log_index, .. }
            | MessageBody::RequestVote { last_log_index, .. } => *last_log_index,
            MessageBody::AppendEntries {
                prev_log_index,
                entries,
                ..
            } => prev_log_index + entries.len() as u64,
            MessageBody::AppendEntriesResponse { index, .. } => *index,
            MessageBody::Heartbeat { leader_commit } => *leader_commit,
            MessageBody::InstallSnapshot { snapshot } => snapshot.index,
            _ => 0,
        };
        MessageInfo {
            kind: msg.body.kind(),
            epoch: msg.term,
            index,
        }
    }

    fn leadership(&self) -> Option<u64> {
        self.is_leader().then(|| self.term())
    }

    fn after_apply(&mut self, applied_index: u64, snapshot_data: &[u8], cfg: &SimConfig) {
        let every = cfg.compact_every_entries;
        if every == 0 || applied_index < self.snapshot().index + every {
            return;
        }
        // Keep a few entries so that slightly lagging followers catch up
        // from the log and far-behind ones get the snapshot.
        if let Err(error) = self.compact(applied_index, snapshot_data.to_vec()) {
            panic!("compaction at applied index refused: {error}");
        }
    }

    fn chaos_admin(&mut self, rng: &mut SplitMix64, cluster: &[NodeId]) -> Option<String> {
        let me = self.id();
        let voters = self.membership().voters().to_vec();
        match rng.below(3) {
            0 => {
                let others: Vec<NodeId> = voters.iter().copied().filter(|v| *v != me).collect();
                let to = *others.get(rng.below(others.len() as u64) as usize)?;
                let result = self.transfer_leader(to);
                Some(format!("transfer leadership to {to}: {result:?}"))
            }
            _ => {
                let missing: Vec<NodeId> = cluster
                    .iter()
                    .copied()
                    .filter(|id| !voters.contains(id))
                    .collect();
                let change = if let Some(id) = missing.first() {
                    ConfChange::AddVoter(*id)
                } else {
                    if voters.len() < 3 {
                        return None;
                    }
                    let others: Vec<NodeId> = voters.iter().copied().filter(|v| *v != me).collect();
                    ConfChange::RemoveVoter(*others.get(rng.below(others.len() as u64) as usize)?)
                };
                let result = self.propose_conf_change(change);
                Some(format!("{change:?}: {result:?}"))
            }
        }
    }

    fn heal_admin(&mut self, cluster: &[NodeId]) -> Option<String> {
        let voters = self.membership().voters();
        let missing = cluster.iter().copied().find(|id| !voters.contains(id))?;
        let change = ConfChange::AddVoter(missing);
        let result = self.propose_conf_change(change);
        result.is_ok().then(|| format!("heal: {change:?}"))
    }
}

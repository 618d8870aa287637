//! A hand-driven cluster for scenario tests: messages are queued and
//! delivered only when the test says so, links can be cut, nodes can crash
//! and restart from exactly what they persisted.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use productivist_consensus::raft::{DurableState, Message, Raft, RaftConfig, Role};
use productivist_consensus::{CommitKind, Committed, NodeId, SnapshotToApply};

/// Upper bound on deliveries in one `deliver_all` (tests never need more;
/// hitting it means a message storm).
const MAX_DELIVERIES: usize = 100_000;

pub fn config(id: NodeId) -> RaftConfig {
    let mut cfg = RaftConfig::new(id, 0xC0FFEE);
    cfg.election_timeout_ticks = 10;
    cfg.heartbeat_interval_ticks = 2;
    cfg
}

pub struct Cluster {
    pub nodes: BTreeMap<NodeId, Option<Raft>>,
    pub disks: BTreeMap<NodeId, DurableState>,
    pub queue: VecDeque<(NodeId, NodeId, Message)>,
    pub cut: BTreeSet<(NodeId, NodeId)>,
    /// Everything each node applied, in order (reset on crash).
    pub applied: BTreeMap<NodeId, Vec<Committed>>,
    pub snapshots: BTreeMap<NodeId, Vec<SnapshotToApply>>,
    pub configs: BTreeMap<NodeId, RaftConfig>,
}

impl Cluster {
    pub fn new(n: u64) -> Self {
        Self::with_config(n, config)
    }

    pub fn with_config(n: u64, make: impl Fn(NodeId) -> RaftConfig) -> Self {
        let voters: Vec<NodeId> = (1..=n).collect();
        let mut cluster = Cluster {
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            applied: BTreeMap::new(),
            snapshots: BTreeMap::new(),
            configs: BTreeMap::new(),
        };
        for id in &voters {
            let cfg = make(*id);
            let raft = Raft::new(cfg.clone(), &voters).expect("valid config");
            cluster.configs.insert(*id, cfg);
            cluster.nodes.insert(*id, Some(raft));
            cluster.disks.insert(*id, DurableState::default());
            cluster.drain(*id);
        }
        cluster
    }

    /// Adds a brand-new, empty node (a joiner).
    pub fn add_joiner(&mut self, id: NodeId) {
        let cfg = config(id);
        let raft = Raft::new(cfg.clone(), &[]).expect("valid config");
        self.configs.insert(id, cfg);
        self.nodes.insert(id, Some(raft));
        self.disks.insert(id, DurableState::default());
        self.drain(id);
    }

    pub fn node(&self, id: NodeId) -> &Raft {
        self.nodes[&id].as_ref().expect("node is up")
    }

    pub fn node_mut(&mut self, id: NodeId) -> &mut Raft {
        self.nodes
            .get_mut(&id)
            .and_then(Option::as_mut)
            .expect("node is up")
    }

    /// Persist, send, apply every output of `id`.
    pub fn drain(&mut self, id: NodeId) {
        for _ in 0..1000 {
            let Some(Some(raft)) = self.nodes.get_mut(&id) else {
                return;
            };
            if !raft.has_output() {
                return;
            }
            let out = raft.poll_output();
            self.disks.get_mut(&id).expect("disk").apply(&out.persist);
            for env in out.messages {
                self.queue.push_back((id, env.to, env.msg));
            }
            if let Some(snapshot) = out.snapshot {
                self.applied.entry(id).or_default().clear();
                self.snapshots.entry(id).or_default().push(snapshot);
            }
            self.applied.entry(id).or_default().extend(out.committed);
        }
        panic!("node {id} never stops producing output");
    }

    pub fn step(&mut self, from: NodeId, to: NodeId, msg: Message) {
        if let Some(Some(raft)) = self.nodes.get_mut(&to) {
            let _ = raft.step(from, msg);
            self.drain(to);
        }
    }

    /// Delivers queued messages (and what they trigger) until quiet.
    pub fn deliver_all(&mut self) {
        for _ in 0..MAX_DELIVERIES {
            let Some((from, to, msg)) = self.queue.pop_front() else {
                return;
            };
            if self.cut.contains(&(from, to)) {
                continue;
            }
            self.step(from, to, msg);
        }
        panic!("message storm");
    }

    pub fn tick(&mut self, id: NodeId) {
        if let Some(Some(raft)) = self.nodes.get_mut(&id) {
            raft.tick();
            self.drain(id);
        }
    }

    pub fn tick_all(&mut self) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for id in ids {
            self.tick(id);
        }
    }

    /// Ticks everyone and delivers, `ticks` times.
    pub fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick_all();
            self.deliver_all();
        }
    }

    /// Makes `id` leader: ticks only it until it campaigns, then delivers.
    pub fn elect(&mut self, id: NodeId) {
        for _ in 0..100 {
            if self.node(id).role() == Role::Leader {
                self.deliver_all();
                return;
            }
            self.tick(id);
            self.deliver_all();
        }
        panic!("node {id} was not elected");
    }

    pub fn leader(&self) -> Option<NodeId> {
        self.nodes
            .iter()
            .filter_map(|(id, n)| {
                n.as_ref()
                    .filter(|r| r.is_leader())
                    .map(|r| (r.term(), *id))
            })
            .max()
            .map(|(_, id)| id)
    }

    pub fn isolate(&mut self, id: NodeId) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        for other in ids {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    pub fn heal(&mut self) {
        self.cut.clear();
    }

    pub fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.applied.insert(id, Vec::new());
        self.queue.retain(|(_, to, _)| *to != id);
    }

    pub fn restart(&mut self, id: NodeId) {
        let raft =
            Raft::restart(self.configs[&id].clone(), self.disks[&id].clone()).expect("restart");
        self.nodes.insert(id, Some(raft));
        self.drain(id);
    }

    pub fn propose(&mut self, id: NodeId, payload: &[u8]) {
        self.node_mut(id)
            .propose(payload.to_vec())
            .expect("leader accepts");
        self.drain(id);
    }

    /// Application payloads applied by `id`, in order.
    pub fn app_payloads(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.applied
            .get(&id)
            .map(|items| {
                items
                    .iter()
                    .filter(|c| c.kind == CommitKind::Application)
                    .map(|c| c.payload.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

//! The simulation loop, generic over the protocol.

use crate::sim::invariants::{AppState, Checker, ViolationKind};
use crate::sim::network::{Network, NetworkFaults, Packet};
use crate::sim::protocol::SimProtocol;
use crate::sim::rng::{SplitMix64, mix_seed};
use crate::sim::trace::{DropReason, EventKind, Trace};
use crate::sim::{SimConfig, SimReport};
use crate::{NodeId, Output};

/// Outputs drained per input before giving up: a protocol that keeps
/// producing output without new input is livelocked, which is a bug.
const MAX_OUTPUTS_PER_INPUT: usize = 256;

/// Ticks between liveness probes after healing.
const PROBE_RETRY_TICKS: u64 = 10;

struct SimNode<P: SimProtocol> {
    id: NodeId,
    node: Option<P>,
    disk: P::Disk,
    incarnation: u64,
    restart_at_tick: u64,
    app: AppState,
    /// Applied index before the last crash: after restart the node must get
    /// at least this far from its disk alone (Durability).
    applied_before_crash: Option<u64>,
}

struct Simulation<'a, P: SimProtocol> {
    cfg: &'a SimConfig,
    rng: SplitMix64,
    seed: u64,
    now: u64,
    cluster: Vec<NodeId>,
    nodes: Vec<SimNode<P>>,
    network: Network,
    faults: NetworkFaults,
    checker: Checker,
    trace: Trace,
    report: SimReport,
    next_payload_seq: u64,
    /// Liveness probe: payloads proposed after healing.
    probes: Vec<Vec<u8>>,
    probe_index: Option<u64>,
}

/// Runs protocol `P` on `nodes` nodes (ids `1..=nodes`) with `seed`.
pub fn run_seed<P: SimProtocol>(seed: u64, nodes: usize, cfg: &SimConfig) -> SimReport {
    assert!(nodes >= 1, "a cluster has at least one node");
    let mut rng = SplitMix64::new(seed);
    let cluster: Vec<NodeId> = (1..=nodes as u64).collect();
    let slow_node = (cfg.slow_node_extra_delay_ticks > 0).then(|| rng.below(nodes as u64) as usize);
    let mut sim = Simulation::<P> {
        cfg,
        seed,
        now: 0,
        nodes: cluster
            .iter()
            .map(|id| SimNode {
                id: *id,
                node: Some(P::boot(*id, &cluster, mix_seed(seed, *id), cfg)),
                disk: P::Disk::default(),
                incarnation: 0,
                restart_at_tick: 0,
                app: AppState::default(),
                applied_before_crash: None,
            })
            .collect(),
        cluster,
        network: Network::new(nodes, cfg.max_in_flight_messages, slow_node),
        faults: NetworkFaults {
            loss_per_mille: cfg.loss_per_mille,
            duplicate_per_mille: cfg.duplicate_per_mille,
            max_delay_ticks: cfg.max_delay_ticks,
            slow_node_extra_delay_ticks: cfg.slow_node_extra_delay_ticks,
        },
        rng,
        checker: Checker::new(cfg.payload_rules.clone(), P::validity_checks_parent()),
        trace: Trace::new(cfg.trace_events),
        report: SimReport {
            seed,
            nodes,
            ..SimReport::default()
        },
        next_payload_seq: 0,
        probes: Vec::new(),
        probe_index: None,
    };
    sim.run();
    sim.finish()
}

impl<P: SimProtocol> Simulation<'_, P> {
    fn run(&mut self) {
        for pos in 0..self.nodes.len() {
            self.drain(pos);
        }
        let end = self.cfg.fault_ticks + self.cfg.liveness_ticks;
        while self.now < end && self.checker.violations.is_empty() {
            if self.now == self.cfg.fault_ticks {
                self.heal();
            }
            if self.now < self.cfg.fault_ticks {
                self.inject_faults();
            } else if self.check_liveness_done() {
                return;
            }
            self.deliver_due();
            self.tick_nodes();
            if self.now < self.cfg.fault_ticks {
                self.client_and_admin_chaos();
            } else {
                self.heal_phase_actions();
            }
            self.now += 1;
        }
        if self.checker.violations.is_empty() && self.now >= end {
            let detail = format!(
                "no fresh commit reached every node within {} ticks of healing (probe index {:?}, applied {:?})",
                self.cfg.liveness_ticks,
                self.probe_index,
                self.nodes
                    .iter()
                    .map(|n| n.app.applied_index)
                    .collect::<Vec<_>>()
            );
            self.checker
                .violate(self.now, ViolationKind::Liveness, None, detail);
        }
    }

    fn finish(mut self) -> SimReport {
        self.report.ticks = self.now;
        self.report.commits = self.checker.highest_committed();
        self.report.leaders_elected = self.checker.leaders_elected() as u64;
        self.report.violations = std::mem::take(&mut self.checker.violations);
        if !self.report.violations.is_empty() {
            self.report.trace = self.trace.render();
        }
        self.report
    }

    // ----- faults -----

    fn inject_faults(&mut self) {
        let cfg = self.cfg;
        if cfg.partition_every_ticks > 0 && self.rng.below(cfg.partition_every_ticks) == 0 {
            let n = self.nodes.len();
            let groups: Vec<u8> = match self.rng.below(4) {
                0 => vec![0; n],
                1 => {
                    let isolated = self.rng.below(n as u64) as usize;
                    (0..n).map(|i| u8::from(i == isolated)).collect()
                }
                // Cut the leader off mid-replication: its uncommitted tail
                // then competes with the next leader's (Figure 8 histories).
                2 => match self.leader_position() {
                    Some(leader) => (0..n).map(|i| u8::from(i == leader)).collect(),
                    None => vec![0; n],
                },
                _ => (0..n).map(|_| self.rng.below(2) as u8).collect(),
            };
            self.network.set_groups(groups.clone());
            self.trace.push(self.now, EventKind::Partition { groups });
        }
        for pos in 0..self.nodes.len() {
            let up = self.nodes[pos].node.is_some();
            if up && self.rng.chance_per_mille(cfg.crash_per_mille) {
                self.crash(pos);
            } else if !up && self.now >= self.nodes[pos].restart_at_tick {
                self.restart(pos);
            }
        }
        self.crash_leader();
    }

    fn crash_leader(&mut self) {
        if self.rng.chance_per_mille(self.cfg.leader_crash_per_mille)
            && let Some(pos) = self.leader_position()
        {
            self.crash(pos);
        }
    }

    fn crash(&mut self, pos: usize) {
        let down_ticks = 1 + self.rng.below(self.cfg.max_down_ticks.max(1));
        let node = &mut self.nodes[pos];
        node.node = None;
        // In-flight messages to the old incarnation are dropped on arrival.
        node.incarnation += 1;
        node.restart_at_tick = self.now + down_ticks;
        let applied = node.app.applied_index;
        node.applied_before_crash = Some(node.applied_before_crash.unwrap_or(0).max(applied));
        // The application's in-memory state is gone too; it is rebuilt from
        // the protocol's snapshot and log.
        node.app = AppState::default();
        self.report.crashes += 1;
        self.trace.push(
            self.now,
            EventKind::Crash {
                node: node.id,
                applied,
            },
        );
    }

    fn restart(&mut self, pos: usize) {
        let node = &mut self.nodes[pos];
        let seed = mix_seed(mix_seed(self.seed, node.id), node.incarnation);
        let restarted = if P::disk_is_empty(&node.disk) {
            P::boot(node.id, &self.cluster, seed, self.cfg)
        } else {
            P::restart(node.id, &self.cluster, seed, self.cfg, &node.disk)
        };
        node.node = Some(restarted);
        self.trace
            .push(self.now, EventKind::Restart { node: node.id });
        // Recovery from disk alone, before any message arrives.
        self.drain(pos);
        let node = &mut self.nodes[pos];
        if let Some(before) = node.applied_before_crash.take()
            && node.app.applied_index < before
        {
            let detail = format!(
                "applied {} before crashing but only {} recovered from disk",
                before, node.app.applied_index
            );
            let id = node.id;
            self.checker
                .violate(self.now, ViolationKind::Durability, Some(id), detail);
        }
    }

    fn heal(&mut self) {
        self.network.set_groups(vec![0; self.nodes.len()]);
        self.faults.loss_per_mille = 0;
        self.faults.duplicate_per_mille = 0;
        self.trace.push(self.now, EventKind::Heal);
        for pos in 0..self.nodes.len() {
            if self.nodes[pos].node.is_none() {
                self.restart(pos);
            }
        }
    }

    // ----- node inputs -----

    fn deliver_due(&mut self) {
        // Bounded by the network capacity: packets sent now arrive later.
        while let Some(packet) = self.network.pop_due(self.now) {
            self.deliver(packet);
            if !self.checker.violations.is_empty() {
                return;
            }
        }
    }

    fn position(&self, id: NodeId) -> Option<usize> {
        usize::try_from(id.checked_sub(1)?)
            .ok()
            .filter(|p| *p < self.nodes.len())
    }

    fn deliver(&mut self, packet: Packet) {
        let (Some(from_pos), Some(to_pos)) = (self.position(packet.from), self.position(packet.to))
        else {
            return;
        };
        let drop_reason = if !self.network.connected(from_pos, to_pos) {
            Some(DropReason::Partition)
        } else if self.nodes[to_pos].node.is_none()
            || self.nodes[to_pos].incarnation != packet.to_incarnation
        {
            Some(DropReason::Crashed)
        } else {
            None
        };
        if let Some(reason) = drop_reason {
            self.report.dropped += 1;
            self.trace.push(
                self.now,
                EventKind::Drop {
                    from: packet.from,
                    to: packet.to,
                    info: packet.info,
                    reason,
                },
            );
            return;
        }
        self.report.delivered += 1;
        self.trace.push(
            self.now,
            EventKind::Deliver {
                from: packet.from,
                to: packet.to,
                info: packet.info,
            },
        );
        let msg = match P::decode(&packet.bytes) {
            Ok(msg) => msg,
            Err(error) => {
                let detail = format!(
                    "undecodable {} from {}: {error}",
                    packet.info.kind, packet.from
                );
                self.checker
                    .violate(self.now, ViolationKind::Protocol, Some(packet.to), detail);
                return;
            }
        };
        let Some(node) = self.nodes[to_pos].node.as_mut() else {
            return;
        };
        if let Err(error) = node.step(packet.from, msg) {
            let error = error.to_string();
            self.trace.push(
                self.now,
                EventKind::StepError {
                    node: packet.to,
                    error: error.clone(),
                },
            );
            let detail = format!("refused {} from {}: {error}", packet.info.kind, packet.from);
            self.checker
                .violate(self.now, ViolationKind::Protocol, Some(packet.to), detail);
        }
        self.drain(to_pos);
    }

    fn tick_nodes(&mut self) {
        for pos in 0..self.nodes.len() {
            if let Some(node) = self.nodes[pos].node.as_mut() {
                node.tick();
                self.drain(pos);
            }
        }
    }

    fn leader_position(&self) -> Option<usize> {
        // The live leader of the highest epoch: proposals to stale leaders
        // are legal but rarely commit.
        self.nodes
            .iter()
            .enumerate()
            .filter_map(|(pos, n)| n.node.as_ref()?.leadership().map(|epoch| (epoch, pos)))
            .max()
            .map(|(_, pos)| pos)
    }

    fn client_and_admin_chaos(&mut self) {
        if self.rng.chance_per_mille(self.cfg.propose_per_mille) {
            let target = match self.leader_position() {
                Some(pos) if self.rng.below(4) != 0 => Some(pos),
                _ => {
                    let pos = self.rng.below(self.nodes.len() as u64) as usize;
                    self.nodes[pos].node.is_some().then_some(pos)
                }
            };
            if let Some(pos) = target {
                let seq = self.next_payload_seq;
                self.next_payload_seq += 1;
                let id = self.nodes[pos].id;
                let payload = self.cfg.payload_rules.make(id, seq, &mut self.rng);
                self.propose(pos, seq, payload);
            }
        }
        if self.rng.chance_per_mille(self.cfg.admin_per_mille)
            && let Some(pos) = self.leader_position()
        {
            let id = self.nodes[pos].id;
            let action = match self.nodes[pos].node.as_mut() {
                Some(node) => node.chaos_admin(&mut self.rng, &self.cluster),
                None => None,
            };
            if let Some(what) = action {
                self.trace
                    .push(self.now, EventKind::Admin { node: id, what });
            }
            self.drain(pos);
        }
    }

    fn propose(&mut self, pos: usize, seq: u64, payload: Vec<u8>) {
        self.checker.record_proposal(payload.clone());
        self.report.proposals += 1;
        let Some(node) = self.nodes[pos].node.as_mut() else {
            return;
        };
        let accepted = node.propose(payload).is_ok();
        let id = self.nodes[pos].id;
        self.trace.push(
            self.now,
            EventKind::Propose {
                node: id,
                seq,
                accepted,
            },
        );
        self.drain(pos);
    }

    fn heal_phase_actions(&mut self) {
        let Some(pos) = self.leader_position() else {
            return;
        };
        let id = self.nodes[pos].id;
        if let Some(node) = self.nodes[pos].node.as_mut()
            && let Some(what) = node.heal_admin(&self.cluster)
        {
            self.trace
                .push(self.now, EventKind::Admin { node: id, what });
        }
        self.drain(pos);
        let since_heal = self.now - self.cfg.fault_ticks;
        if self.probe_index.is_none() && since_heal.is_multiple_of(PROBE_RETRY_TICKS) {
            let seq = self.next_payload_seq;
            self.next_payload_seq += 1;
            let payload = self.cfg.payload_rules.make(id, seq, &mut self.rng);
            self.probes.push(payload.clone());
            self.propose(pos, seq, payload);
        }
    }

    fn check_liveness_done(&mut self) -> bool {
        let Some(probe_index) = self.probe_index else {
            return false;
        };
        let done = self
            .nodes
            .iter()
            .all(|n| n.app.applied_index >= probe_index);
        if done {
            self.report.recovery_ticks = Some(self.now - self.cfg.fault_ticks);
        }
        done
    }

    // ----- node outputs -----

    /// Handles every output of node `pos`: persist, send, apply.
    fn drain(&mut self, pos: usize) {
        for _ in 0..MAX_OUTPUTS_PER_INPUT {
            let output = match self.nodes[pos].node.as_mut() {
                Some(node) if node.has_output() => node.poll_output(),
                _ => break,
            };
            self.handle_output(pos, output);
            if let Some(detail) = self.nodes[pos].node.as_mut().and_then(P::take_violation) {
                let id = self.nodes[pos].id;
                self.checker
                    .violate(self.now, ViolationKind::Quorum, Some(id), detail);
                return;
            }
        }
        let node = &self.nodes[pos];
        if let Some(epoch) = node.node.as_ref().and_then(|n| n.leadership())
            && self.checker.observe_leader(self.now, node.id, epoch)
        {
            self.trace.push(
                self.now,
                EventKind::Leader {
                    node: node.id,
                    epoch,
                },
            );
        }
        if self.nodes[pos]
            .node
            .as_ref()
            .is_some_and(|n| n.has_output())
        {
            let detail = format!("still producing output after {MAX_OUTPUTS_PER_INPUT} polls");
            let id = self.nodes[pos].id;
            self.checker
                .violate(self.now, ViolationKind::Protocol, Some(id), detail);
        }
    }

    fn handle_output(&mut self, pos: usize, output: Output<P::Message, P::Persist>) {
        let Output {
            persist,
            messages,
            snapshot,
            committed,
        } = output;
        let id = self.nodes[pos].id;
        // 1. Durable before anything leaves the node.
        P::persist(&mut self.nodes[pos].disk, &persist);
        // 2. Send.
        for envelope in messages {
            let Some(to_pos) = self.position(envelope.to) else {
                continue;
            };
            let info = P::describe(&envelope.msg);
            let packet = Packet {
                from: id,
                to: envelope.to,
                to_incarnation: self.nodes[to_pos].incarnation,
                bytes: P::encode(&envelope.msg),
                info,
            };
            self.report.messages += 1;
            if let Some(reason) =
                self.network
                    .send(self.now, pos, to_pos, packet, &self.faults, &mut self.rng)
            {
                self.report.dropped += 1;
                self.trace.push(
                    self.now,
                    EventKind::Drop {
                        from: id,
                        to: envelope.to,
                        info,
                        reason,
                    },
                );
            }
        }
        // 3. Apply.
        let node = &mut self.nodes[pos];
        if let Some(snapshot) = snapshot {
            self.checker
                .install_snapshot(self.now, id, &mut node.app, &snapshot);
            self.report.snapshots_installed += 1;
            self.trace.push(
                self.now,
                EventKind::SnapshotInstalled {
                    node: id,
                    index: snapshot.index,
                },
            );
        }
        if committed.is_empty() {
            return;
        }
        for item in &committed {
            self.checker.apply(self.now, id, &mut node.app, item);
            if self.probe_index.is_none()
                && item.kind == crate::CommitKind::Application
                && self.probes.contains(&item.payload)
            {
                self.probe_index = Some(item.index);
            }
        }
        let applied = node.app.applied_index;
        self.trace.push(
            self.now,
            EventKind::Applied {
                node: id,
                index: applied,
            },
        );
        let data = node.app.snapshot_data();
        if let Some(protocol) = node.node.as_mut() {
            protocol.after_apply(applied, &data, self.cfg);
        }
    }
}

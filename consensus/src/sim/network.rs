//! The simulated network: bounded queue of packets with random delay (and
//! so reordering), loss, duplication, partitions and one slow node.

use std::collections::BTreeMap;

use crate::NodeId;
use crate::sim::protocol::MessageInfo;
use crate::sim::rng::SplitMix64;
use crate::sim::trace::DropReason;

/// A message on the wire.
#[derive(Clone, Debug)]
pub struct Packet {
    /// Sender.
    pub from: NodeId,
    /// Receiver.
    pub to: NodeId,
    /// Receiver's incarnation when sent: a restart drops older packets.
    pub to_incarnation: u64,
    /// Encoded message.
    pub bytes: Vec<u8>,
    /// What the trace shows of it.
    pub info: MessageInfo,
}

/// Fault knobs of the network (per mille = out of 1000).
#[derive(Clone, Debug)]
pub struct NetworkFaults {
    /// Probability a packet is lost.
    pub loss_per_mille: u32,
    /// Probability a packet is delivered twice.
    pub duplicate_per_mille: u32,
    /// Delay is uniform in `1..=max_delay_ticks` (reordering follows).
    pub max_delay_ticks: u64,
    /// Extra delay on every link of the slow node.
    pub slow_node_extra_delay_ticks: u64,
}

/// Packets in flight, ordered by (delivery tick, send sequence).
#[derive(Debug)]
pub struct Network {
    queue: BTreeMap<(u64, u64), Packet>,
    next_seq: u64,
    capacity: usize,
    /// Partition group of each node (index = position in the cluster).
    groups: Vec<u8>,
    /// Position in the cluster of the slow node, if any.
    slow_node: Option<usize>,
}

impl Network {
    /// An empty, fully connected network for `nodes` nodes.
    pub fn new(nodes: usize, capacity: usize, slow_node: Option<usize>) -> Self {
        Self {
            queue: BTreeMap::new(),
            next_seq: 0,
            capacity,
            groups: vec![0; nodes],
            slow_node,
        }
    }

    /// Sets the partition groups (nodes talk only within a group).
    pub fn set_groups(&mut self, groups: Vec<u8>) {
        assert_eq!(groups.len(), self.groups.len());
        self.groups = groups;
    }

    /// Current partition groups.
    pub fn groups(&self) -> &[u8] {
        &self.groups
    }

    /// Whether node positions `a` and `b` can talk.
    pub fn connected(&self, a: usize, b: usize) -> bool {
        self.groups[a] == self.groups[b]
    }

    /// Packets in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Queues a packet between positions `from_pos` and `to_pos`, applying
    /// faults. Returns why it was dropped, if it was.
    pub fn send(
        &mut self,
        now: u64,
        from_pos: usize,
        to_pos: usize,
        packet: Packet,
        faults: &NetworkFaults,
        rng: &mut SplitMix64,
    ) -> Option<DropReason> {
        if !self.connected(from_pos, to_pos) {
            return Some(DropReason::Partition);
        }
        if rng.chance_per_mille(faults.loss_per_mille) {
            return Some(DropReason::Loss);
        }
        let copies = if rng.chance_per_mille(faults.duplicate_per_mille) {
            2
        } else {
            1
        };
        let slow = self.slow_node.is_some_and(|s| s == from_pos || s == to_pos);
        for _ in 0..copies {
            if self.queue.len() >= self.capacity {
                return Some(DropReason::Overflow);
            }
            let mut delay = 1 + rng.below(faults.max_delay_ticks.max(1));
            if slow {
                delay += faults.slow_node_extra_delay_ticks;
            }
            self.queue
                .insert((now + delay, self.next_seq), packet.clone());
            self.next_seq += 1;
        }
        None
    }

    /// Removes the next packet due at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Packet> {
        let (&(deliver_at, _), _) = self.queue.first_key_value()?;
        if deliver_at > now {
            return None;
        }
        self.queue.pop_first().map(|(_, packet)| packet)
    }
}

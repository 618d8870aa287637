//! The last K simulation events, kept compact and formatted only when a
//! seed fails (formatting every event would dominate the run time).

use std::collections::VecDeque;
use std::fmt;

use crate::NodeId;
use crate::sim::protocol::MessageInfo;

/// Why a message did not arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// Random loss.
    Loss,
    /// Sender and receiver in different partitions.
    Partition,
    /// Receiver crashed (or restarted) since the message was sent.
    Crashed,
    /// The network's bounded queue was full.
    Overflow,
}

/// One simulation event.
#[derive(Clone, Debug)]
pub enum EventKind {
    /// A message was handed to a node.
    Deliver {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// What the message says.
        info: MessageInfo,
    },
    /// A message was dropped.
    Drop {
        /// Sender.
        from: NodeId,
        /// Receiver.
        to: NodeId,
        /// What the message says.
        info: MessageInfo,
        /// Why.
        reason: DropReason,
    },
    /// A node crashed; `applied` is what it had applied.
    Crash {
        /// Node.
        node: NodeId,
        /// Applied index at the crash.
        applied: u64,
    },
    /// A node restarted from its disk.
    Restart {
        /// Node.
        node: NodeId,
    },
    /// Partition groups changed (group number per node, in id order).
    Partition {
        /// Group of each node.
        groups: Vec<u8>,
    },
    /// The network healed and faults stopped.
    Heal,
    /// A payload was proposed.
    Propose {
        /// Node proposed to.
        node: NodeId,
        /// Payload sequence number.
        seq: u64,
        /// Whether the node accepted it.
        accepted: bool,
    },
    /// A node became leader.
    Leader {
        /// Node.
        node: NodeId,
        /// Term or view.
        epoch: u64,
    },
    /// A node applied committed items up to `index`.
    Applied {
        /// Node.
        node: NodeId,
        /// Highest applied index.
        index: u64,
    },
    /// A node installed a snapshot.
    SnapshotInstalled {
        /// Node.
        node: NodeId,
        /// Snapshot index.
        index: u64,
    },
    /// An administrative action.
    Admin {
        /// Node it was applied on.
        node: NodeId,
        /// What.
        what: String,
    },
    /// A node refused an input.
    StepError {
        /// Node.
        node: NodeId,
        /// The error.
        error: String,
    },
}

/// An event at a simulated tick.
#[derive(Clone, Debug)]
pub struct Event {
    /// Simulated tick.
    pub tick: u64,
    /// What happened.
    pub kind: EventKind,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t={:>5} ", self.tick)?;
        match &self.kind {
            EventKind::Deliver { from, to, info } => {
                write!(
                    f,
                    "deliver {} {from}->{to} epoch {} idx {}",
                    info.kind, info.epoch, info.index
                )
            }
            EventKind::Drop {
                from,
                to,
                info,
                reason,
            } => write!(
                f,
                "drop {} {from}->{to} epoch {} idx {} ({reason:?})",
                info.kind, info.epoch, info.index
            ),
            EventKind::Crash { node, applied } => {
                write!(f, "CRASH node {node} (applied {applied})")
            }
            EventKind::Restart { node } => write!(f, "RESTART node {node}"),
            EventKind::Partition { groups } => write!(f, "PARTITION groups {groups:?}"),
            EventKind::Heal => write!(f, "HEAL network, faults off"),
            EventKind::Propose {
                node,
                seq,
                accepted,
            } => write!(f, "propose #{seq} to {node}: accepted={accepted}"),
            EventKind::Leader { node, epoch } => write!(f, "LEADER node {node} epoch {epoch}"),
            EventKind::Applied { node, index } => write!(f, "node {node} applied to {index}"),
            EventKind::SnapshotInstalled { node, index } => {
                write!(f, "node {node} installed snapshot {index}")
            }
            EventKind::Admin { node, what } => write!(f, "admin at {node}: {what}"),
            EventKind::StepError { node, error } => write!(f, "node {node} refused input: {error}"),
        }
    }
}

/// Ring buffer of the last `capacity` events.
#[derive(Debug)]
pub struct Trace {
    events: VecDeque<Event>,
    capacity: usize,
}

impl Trace {
    /// Keeps at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            events: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
        }
    }

    /// Records an event, evicting the oldest when full.
    pub fn push(&mut self, tick: u64, kind: EventKind) {
        if self.capacity == 0 {
            return;
        }
        if self.events.len() == self.capacity {
            self.events.pop_front();
        }
        self.events.push_back(Event { tick, kind });
    }

    /// Formatted events, oldest first.
    pub fn render(&self) -> Vec<String> {
        self.events.iter().map(ToString::to_string).collect()
    }
}

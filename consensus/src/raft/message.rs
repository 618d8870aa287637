//! Raft wire types and their canonical borsh encoding.
//!
//! Everything here may arrive from a faulty peer: decoding never panics and
//! [`Message::validate`] checks the structural rules that the state machine
//! relies on before it touches its log.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::NodeId;
use crate::raft::error::Error;

/// The voting members of the cluster, sorted ascending without duplicates
/// so that two nodes holding the same set hold the same bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Membership {
    voters: Vec<NodeId>,
}

impl Membership {
    /// Builds a membership from any list of ids (sorted and deduplicated).
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Self {
        let mut voters: Vec<NodeId> = voters.into_iter().collect();
        voters.sort_unstable();
        voters.dedup();
        Self { voters }
    }

    /// Voter ids in ascending order.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// Whether `id` votes.
    pub fn contains(&self, id: NodeId) -> bool {
        self.voters.binary_search(&id).is_ok()
    }

    /// Number of votes needed to decide anything: a strict majority.
    pub fn quorum(&self) -> usize {
        self.voters.len() / 2 + 1
    }

    /// Whether the list is canonical (sorted, unique, non-empty). A peer can
    /// send us anything, so decoded memberships are checked before use.
    pub fn is_valid(&self) -> bool {
        !self.voters.is_empty() && self.voters.windows(2).all(|w| w[0] < w[1])
    }

    /// Applies one single-server change; `None` if it is not a single-server
    /// change of this membership (already present, absent, or empties it).
    pub fn apply(&self, change: ConfChange) -> Option<Membership> {
        match change {
            ConfChange::AddVoter(id) if !self.contains(id) => {
                Some(Membership::new(self.voters.iter().copied().chain([id])))
            }
            ConfChange::RemoveVoter(id) if self.contains(id) && self.voters.len() > 1 => Some(
                Membership::new(self.voters.iter().copied().filter(|v| *v != id)),
            ),
            _ => None,
        }
    }
}

/// A single-server membership change (Raft dissertation §4.1): configurations
/// that differ by one voter always have overlapping majorities.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum ConfChange {
    /// Make `id` a voter. It should be caught up first (it starts with an
    /// empty log and receives entries or a snapshot from the leader).
    AddVoter(NodeId),
    /// Remove voter `id`. The leader cannot remove itself: transfer
    /// leadership first.
    RemoveVoter(NodeId),
}

/// What a log entry carries.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum EntryPayload {
    /// Application bytes given to `propose`.
    Normal(Vec<u8>),
    /// Appended by every new leader so it can commit entries of its own term
    /// (and through them, older ones) without waiting for a client.
    Noop,
    /// The complete membership in force from the moment this entry is
    /// appended. Storing the full set, not the delta, makes every config
    /// entry self-describing after truncation or snapshot.
    Config(Membership),
}

/// One replicated log entry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Entry {
    /// 1-based position in the log.
    pub index: u64,
    /// Term of the leader that created it.
    pub term: u64,
    /// Contents.
    pub payload: EntryPayload,
}

impl Entry {
    /// Bytes this entry counts against size limits. Internal payloads are
    /// tiny and count as a fixed overhead so limits still bound them.
    pub fn size_bytes(&self) -> u64 {
        const ENTRY_OVERHEAD_BYTES: u64 = 24;
        let payload_bytes = match &self.payload {
            EntryPayload::Normal(data) => data.len() as u64,
            EntryPayload::Noop => 0,
            EntryPayload::Config(m) => 8 * m.voters().len() as u64,
        };
        ENTRY_OVERHEAD_BYTES + payload_bytes
    }
}

/// A compacted prefix of the log: everything up to `index` is summarized by
/// the application's `data`.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Snapshot {
    /// Last index covered.
    pub index: u64,
    /// Term of the entry at `index`.
    pub term: u64,
    /// Membership in force at `index`.
    pub membership: Membership,
    /// Application-defined bytes.
    pub data: Vec<u8>,
}

/// A Raft message. The sender is known from the transport, not from the
/// bytes, so a peer cannot speak for another.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Message {
    /// Sender's term; for a pre-vote request, the term it would campaign in.
    pub term: u64,
    /// What is said.
    pub body: MessageBody,
}

/// The kinds of Raft message.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum MessageBody {
    /// Would you vote for me at `term`? Changes no state at the receiver, so
    /// a node that rejoins after a partition cannot depose a healthy leader.
    PreVote {
        /// Candidate's last log index.
        last_log_index: u64,
        /// Candidate's last log term.
        last_log_term: u64,
    },
    /// Answer to [`MessageBody::PreVote`].
    PreVoteResponse {
        /// True if the vote is refused.
        reject: bool,
    },
    /// Vote for me at `term` (Raft §5.2).
    RequestVote {
        /// Candidate's last log index.
        last_log_index: u64,
        /// Candidate's last log term.
        last_log_term: u64,
        /// Sent after `TimeoutNow`: voters must not ignore it because they
        /// heard from the (transferring) leader recently.
        leader_transfer: bool,
    },
    /// Answer to [`MessageBody::RequestVote`].
    RequestVoteResponse {
        /// True if the vote is refused.
        reject: bool,
    },
    /// Replicate `entries` after (`prev_log_index`, `prev_log_term`) (§5.3).
    AppendEntries {
        /// Index of the entry just before `entries`.
        prev_log_index: u64,
        /// Term of that entry.
        prev_log_term: u64,
        /// Contiguous entries starting at `prev_log_index + 1`.
        entries: Vec<Entry>,
        /// Leader's commit index.
        leader_commit: u64,
    },
    /// Answer to [`MessageBody::AppendEntries`] or
    /// [`MessageBody::InstallSnapshot`].
    AppendEntriesResponse {
        /// True if the consistency check failed.
        reject: bool,
        /// On success the follower's matched index; on reject the
        /// `prev_log_index` that failed.
        index: u64,
        /// On reject, an index the leader may retry from (`next = hint + 1`).
        reject_hint: u64,
    },
    /// Leader liveness and commit propagation, without log check; the
    /// leader sends `min(commit, follower's match)` so it is always safe.
    Heartbeat {
        /// Commit index the follower may adopt.
        leader_commit: u64,
    },
    /// Answer to [`MessageBody::Heartbeat`].
    HeartbeatResponse,
    /// Replace your log prefix with this snapshot (the entries you need were
    /// compacted away).
    InstallSnapshot {
        /// The snapshot.
        snapshot: Snapshot,
    },
    /// Leadership transfer: campaign now, skipping pre-vote.
    TimeoutNow,
}

impl MessageBody {
    /// Short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            MessageBody::PreVote { .. } => "PreVote",
            MessageBody::PreVoteResponse { .. } => "PreVoteResp",
            MessageBody::RequestVote { .. } => "RequestVote",
            MessageBody::RequestVoteResponse { .. } => "RequestVoteResp",
            MessageBody::AppendEntries { .. } => "Append",
            MessageBody::AppendEntriesResponse { .. } => "AppendResp",
            MessageBody::Heartbeat { .. } => "Heartbeat",
            MessageBody::HeartbeatResponse => "HeartbeatResp",
            MessageBody::InstallSnapshot { .. } => "InstallSnapshot",
            MessageBody::TimeoutNow => "TimeoutNow",
        }
    }
}

/// No correct log ever gets near this index; rejecting larger ones keeps
/// every `index + k` in the state machine free of overflow.
pub const MAX_LOG_INDEX: u64 = 1 << 62;

impl Message {
    /// Checks the structural rules a correct peer always follows. The state
    /// machine calls this before acting on a message.
    pub fn validate(&self) -> Result<(), Error> {
        let largest_index = match &self.body {
            MessageBody::PreVote { last_log_index, .. }
            | MessageBody::RequestVote { last_log_index, .. } => *last_log_index,
            MessageBody::AppendEntries {
                prev_log_index,
                entries,
                leader_commit,
                ..
            } => (*prev_log_index)
                .max(*leader_commit)
                .max(prev_log_index.saturating_add(entries.len() as u64)),
            MessageBody::AppendEntriesResponse {
                index, reject_hint, ..
            } => (*index).max(*reject_hint),
            MessageBody::Heartbeat { leader_commit } => *leader_commit,
            MessageBody::InstallSnapshot { snapshot } => snapshot.index,
            _ => 0,
        };
        if largest_index > MAX_LOG_INDEX {
            return Err(Error::InvalidMessage("log index out of range"));
        }
        match &self.body {
            MessageBody::AppendEntries {
                prev_log_index,
                prev_log_term,
                entries,
                ..
            } => {
                let mut expected_index = prev_log_index
                    .checked_add(1)
                    .ok_or(Error::InvalidMessage("prev_log_index overflows"))?;
                let mut previous_term = *prev_log_term;
                for entry in entries {
                    if entry.index != expected_index {
                        return Err(Error::InvalidMessage("entries are not contiguous"));
                    }
                    if entry.term < previous_term || entry.term > self.term {
                        return Err(Error::InvalidMessage("entry terms out of order"));
                    }
                    if let EntryPayload::Config(m) = &entry.payload
                        && !m.is_valid()
                    {
                        return Err(Error::InvalidMessage("invalid membership in entry"));
                    }
                    previous_term = entry.term;
                    expected_index = expected_index
                        .checked_add(1)
                        .ok_or(Error::InvalidMessage("entry index overflows"))?;
                }
                if *prev_log_term > self.term {
                    return Err(Error::InvalidMessage("prev_log_term beyond message term"));
                }
                Ok(())
            }
            MessageBody::InstallSnapshot { snapshot } => {
                if snapshot.index == 0
                    || snapshot.term > self.term
                    || !snapshot.membership.is_valid()
                {
                    return Err(Error::InvalidMessage("invalid snapshot metadata"));
                }
                Ok(())
            }
            MessageBody::PreVote { last_log_term, .. }
            | MessageBody::RequestVote { last_log_term, .. } => {
                if *last_log_term > self.term {
                    return Err(Error::InvalidMessage("last_log_term beyond message term"));
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Canonical encoding of a message.
pub fn encode_message(msg: &Message) -> Vec<u8> {
    borsh::to_vec(msg).unwrap_or_default()
}

/// Decodes untrusted bytes; rejects malformed input and trailing bytes.
pub fn decode_message(bytes: &[u8]) -> Result<Message, Error> {
    let msg: Message = borsh::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    msg.validate()?;
    Ok(msg)
}

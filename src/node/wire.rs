//! What nodes say to each other over the QUIC transport (borsh frames), and
//! what a leader proposes through consensus.

use borsh::{BorshDeserialize, BorshSerialize};

/// Most transactions in one gossip frame.
pub const GOSSIP_TXS_PER_FRAME_MAX: usize = 512;

/// Most blocks in one sync answer a node accepts.
pub const SYNC_BLOCKS_PER_FRAME_MAX: usize = 256;

/// One frame between nodes.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Wire {
    /// A consensus message of `channel` (the protocol's own encoding).
    Consensus {
        /// Channel id.
        channel: String,
        /// Encoded protocol message.
        message: Vec<u8>,
    },
    /// Transactions a node admitted, for the other nodes' mempools (so that
    /// whichever node leads next can order them).
    Txs {
        /// Channel id.
        channel: String,
        /// Signed transaction bytes.
        txs: Vec<Vec<u8>>,
    },
    /// Block sync: send me the finalized blocks of `channel` from
    /// `from_height` (see `sync.rs`).
    SyncRequest {
        /// Channel id.
        channel: String,
        /// First height wanted.
        from_height: u64,
    },
    /// Block sync answer: finalized blocks from `from_height`, in order
    /// (at most `SYNC_BLOCKS_PER_FRAME_MAX`; empty if the sender has none).
    SyncBlocks {
        /// Channel id.
        channel: String,
        /// Height of the first block.
        from_height: u64,
        /// Encoded protocol blocks.
        blocks: Vec<Vec<u8>>,
    },
    /// Ledger catch-up (Raft, after the leader compacted its log past the
    /// asker): send me your sealed ledger blocks of `channel` from
    /// `from_height` (see `catchup.rs`).
    LedgerRequest {
        /// Channel id.
        channel: String,
        /// First height wanted.
        from_height: u64,
    },
    /// Ledger catch-up answer: sealed blocks from `from_height`, in order
    /// (bounded; empty if the sender has none).
    LedgerBlocks {
        /// Channel id.
        channel: String,
        /// Height of the first block.
        from_height: u64,
        /// Sealed ledger blocks.
        blocks: Vec<Vec<u8>>,
    },
}

impl Wire {
    /// The channel the frame is about.
    pub fn channel(&self) -> &str {
        match self {
            Wire::Consensus { channel, .. }
            | Wire::Txs { channel, .. }
            | Wire::SyncRequest { channel, .. }
            | Wire::SyncBlocks { channel, .. }
            | Wire::LedgerRequest { channel, .. }
            | Wire::LedgerBlocks { channel, .. } => channel,
        }
    }

    /// Encodes the frame.
    pub fn encode(&self) -> Vec<u8> {
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes an untrusted frame strictly.
    pub fn decode(bytes: &[u8]) -> Result<Wire, String> {
        borsh::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// What consensus orders: defined by the engine, which also checks it.
pub use productivist_engine::proposal::BlockProposal;

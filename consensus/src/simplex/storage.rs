//! What Simplex asks the driver to make durable, and a reference in-memory
//! "disk" applying those requests (used by the simulator and tests; a real
//! node implements the same rules over its store).

use borsh::{BorshDeserialize, BorshSerialize};

use crate::simplex::message::{Block, Certificate, Digest, View};

/// The replica's own votes in its latest voting view. Safety needs exactly
/// this across a crash: a replica never notarizes two blocks in a view and
/// never both nullifies and finalizes one. Votes are only ever cast in the
/// current view and views only grow, so older views need no record.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct VoteRecord {
    /// The view the record is about (0: never voted).
    pub view: View,
    /// Block notarized in `view` (a leader's own proposal included).
    pub notarized: Option<Digest>,
    /// Whether a nullify vote was cast in `view`.
    pub nullified: bool,
    /// Block finalized in `view`.
    pub finalized: Option<Digest>,
    /// The certificate that lets others reach `view`: the one that moved
    /// the replica into it (for view - 1), or the notarization of `view`
    /// once it finalized. Without it a restarted replica could sit in a
    /// view that nobody else can prove, and the views of the honest
    /// replicas would never line up again.
    pub certificate: Option<Certificate>,
}

/// Durable writes of one output, made before any message of the same output
/// is sent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Persist {
    /// Overwrite the vote record.
    pub vote_record: Option<VoteRecord>,
    /// Append these finalized blocks (heights contiguous after the durable
    /// chain).
    pub finalized_blocks: Vec<Block>,
    /// Store these blocks: ones this replica proposed or notarized. A
    /// notarization proves that f + 1 honest replicas voted for the block,
    /// and so that they hold it durably: it can always be fetched, which
    /// the next leader needs to extend it.
    pub voted_blocks: Vec<Block>,
    /// Store these certificates. A proposal is only valid if every view
    /// between its parent and itself is provably nullified: if all copies
    /// of one certificate died in crashes, no leader could ever propose
    /// again, so certificates are durable until pruned.
    pub certificates: Vec<Certificate>,
    /// Then drop durable certificates and voted blocks of views below this
    /// one (finalized, or outside the replica's past-view window).
    pub prune_below_view: Option<View>,
}

impl Persist {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.vote_record.is_none()
            && self.finalized_blocks.is_empty()
            && self.voted_blocks.is_empty()
            && self.certificates.is_empty()
            && self.prune_below_view.is_none()
    }
}

/// Everything a replica made durable; what `Simplex::restart` reads back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DurableState {
    /// Last persisted vote record.
    pub vote_record: VoteRecord,
    /// Finalized blocks from height 1, contiguous.
    pub finalized_blocks: Vec<Block>,
    /// Blocks proposed or notarized by this replica, above the finalized
    /// height and not yet pruned.
    pub voted_blocks: Vec<Block>,
    /// Certificates of views not yet pruned.
    pub certificates: Vec<Certificate>,
}

impl DurableState {
    /// Applies one output's writes. Panics on a write that does not extend
    /// the chain: that is a bug in the state machine, not an input error.
    pub fn apply(&mut self, persist: &Persist) {
        for block in &persist.finalized_blocks {
            let expected = self.finalized_blocks.last().map_or(1, |b| b.height + 1);
            assert_eq!(
                block.height, expected,
                "persisted blocks must extend the durable chain"
            );
            self.finalized_blocks.push(block.clone());
        }
        self.certificates
            .extend(persist.certificates.iter().cloned());
        self.voted_blocks
            .extend(persist.voted_blocks.iter().cloned());
        let height = self.finalized_blocks.last().map_or(0, |b| b.height);
        self.voted_blocks.retain(|b| b.height > height);
        if let Some(floor) = persist.prune_below_view {
            self.certificates.retain(|c| c.view >= floor);
            self.voted_blocks.retain(|b| b.view >= floor);
        }
        if let Some(record) = &persist.vote_record {
            assert!(
                record.view >= self.vote_record.view,
                "vote records never go back in views"
            );
            self.vote_record = record.clone();
        }
    }

    /// Whether nothing was ever persisted (a brand-new replica).
    pub fn is_empty(&self) -> bool {
        self.vote_record == VoteRecord::default()
            && self.finalized_blocks.is_empty()
            && self.voted_blocks.is_empty()
            && self.certificates.is_empty()
    }

    /// Digest of the durable chain tip (genesis if empty).
    pub fn tip_digest(&self) -> Digest {
        self.finalized_blocks
            .last()
            .map_or_else(|| Block::genesis().digest(), Block::digest)
    }
}

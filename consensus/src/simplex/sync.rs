//! Catching up: fetching missing blocks and certificates, serving peers,
//! and committing finalized chains.

use crate::NodeId;
use crate::simplex::error::Error;
use crate::simplex::message::{Block, Digest, MAX_FETCH_VIEWS, Message, View, VoteKind};
use crate::simplex::node::{FetchTimer, Simplex};

/// Outstanding block fetches per input: more wanted blocks wait for the
/// next input (a far-behind replica walks its missing chain in batches).
const MAX_BLOCK_FETCHES: usize = 16;

impl Simplex {
    /// Stores a block above the finalized height if there is room.
    pub(crate) fn store_block(&mut self, block: Block) -> bool {
        if block.height <= self.tip.height {
            return false;
        }
        let digest = block.digest();
        if self.blocks.contains_key(&digest) {
            return true;
        }
        if self.blocks.len() >= self.cfg.max_unfinalized_blocks {
            return false;
        }
        self.blocks.insert(digest, block);
        true
    }

    pub(crate) fn want_block(&mut self, digest: Digest) {
        if self.wanted_blocks.len() < MAX_BLOCK_FETCHES && self.block(&digest).is_none() {
            self.wanted_blocks.insert(digest);
        }
    }

    pub(crate) fn want_view(&mut self, view: View) {
        if (self.wanted_views.len() as u64) < MAX_FETCH_VIEWS {
            self.wanted_views.insert(view);
        }
    }

    /// A peer other than us, rotating with `attempt` so that one silent or
    /// faulty peer cannot stall a fetch.
    fn fetch_peer(&self, attempt: u64, salt: u64) -> NodeId {
        let ids = self.participants.ids();
        let others = ids.len() as u64 - 1;
        if others == 0 {
            return self.cfg.id;
        }
        let me = ids.binary_search(&self.cfg.id).unwrap_or(0) as u64;
        let offset = 1 + (attempt.wrapping_add(salt)) % others;
        ids[((me + offset) % ids.len() as u64) as usize]
    }

    /// Sends fetches for what this input found missing, each at most once
    /// per `fetch_retry_ticks`; forgets fetches no longer needed.
    pub(crate) fn send_fetches(&mut self) {
        if self.participants.len() == 1 {
            return;
        }
        let wanted = std::mem::take(&mut self.wanted_blocks);
        self.block_fetches.retain(|d, _| wanted.contains(d));
        for digest in &wanted {
            let timer = *self.block_fetches.entry(*digest).or_insert(FetchTimer {
                next_tick: self.now_tick,
                attempts: 0,
            });
            if timer.next_tick <= self.now_tick {
                let to = self.fetch_peer(timer.attempts, u64::from(digest[0]));
                self.send(
                    to,
                    Message::FetchBlocks {
                        digest: *digest,
                        above_height: self.tip.height,
                    },
                );
                self.block_fetches.insert(
                    *digest,
                    FetchTimer {
                        next_tick: self.now_tick + self.cfg.fetch_retry_ticks,
                        attempts: timer.attempts + 1,
                    },
                );
            }
        }
        self.wanted_blocks = wanted;
        let (Some(&lo), Some(&hi)) = (self.wanted_views.first(), self.wanted_views.last()) else {
            self.cert_fetch = None;
            return;
        };
        let hi = hi.min(lo + MAX_FETCH_VIEWS - 1);
        let timer = match self.cert_fetch {
            Some((a, b, timer)) if a == lo && b == hi => timer,
            _ => FetchTimer {
                next_tick: self.now_tick,
                attempts: 0,
            },
        };
        if timer.next_tick <= self.now_tick {
            let to = self.fetch_peer(timer.attempts, lo);
            self.send(
                to,
                Message::FetchCertificates {
                    from_view: lo,
                    to_view: hi,
                },
            );
            self.cert_fetch = Some((
                lo,
                hi,
                FetchTimer {
                    next_tick: self.now_tick + self.cfg.fetch_retry_ticks,
                    attempts: timer.attempts + 1,
                },
            ));
        } else {
            self.cert_fetch = Some((lo, hi, timer));
        }
    }

    /// Serves a block and its ancestors above `above_height`.
    pub(crate) fn on_fetch_blocks(&mut self, from: NodeId, digest: Digest, above_height: u64) {
        let mut out = Vec::new();
        let mut next = digest;
        while out.len() < self.cfg.max_blocks_per_message {
            let Some(block) = self.block(&next) else {
                break;
            };
            if block.height <= above_height || block.height == 0 {
                break;
            }
            next = block.parent;
            out.push(block.clone());
        }
        if !out.is_empty() {
            self.send(from, Message::Blocks(out));
        }
    }

    /// Accepts blocks we asked for, and ancestors linked to them by digest
    /// (the digest chain authenticates them; no signature needed).
    pub(crate) fn on_blocks(&mut self, blocks: &[Block]) -> Result<(), Error> {
        let mut expected: Option<Digest> = None;
        for block in blocks {
            let digest = block.digest();
            let asked = self.block_fetches.contains_key(&digest) || expected == Some(digest);
            if !asked {
                break;
            }
            if block.payload.len() > self.cfg.max_payload_bytes {
                return Err(Error::InvalidMessage("fetched payload too large"));
            }
            if !self.store_block(block.clone()) {
                break;
            }
            self.block_fetches.remove(&digest);
            expected = Some(block.parent);
        }
        Ok(())
    }

    /// Serves the certificates held for `from_view..=to_view`, and the
    /// highest finalization (all a replica behind our pruning floor needs).
    pub(crate) fn on_fetch_certificates(&mut self, from: NodeId, from_view: View, to_view: View) {
        let mut out = Vec::new();
        for (_, state) in self.views.range(from_view..=to_view) {
            for kind in [VoteKind::Notarize, VoteKind::Nullify, VoteKind::Finalize] {
                if let Some(cert) = state.certificate(kind) {
                    out.push(Message::Certificate(cert.clone()));
                }
            }
        }
        if let Some(cert) = &self.latest_finalization
            && cert.view >= from_view
            && !out.contains(&Message::Certificate(cert.clone()))
        {
            out.push(Message::Certificate(cert.clone()));
        }
        for msg in out {
            self.send(from, msg);
        }
    }

    /// Commits the finalized block and its ancestors down to the tip, once
    /// every block is held (missing ones are fetched).
    pub(crate) fn try_commit(&mut self) {
        let Some((target_view, target)) = self.finalize_target else {
            return;
        };
        if target_view <= self.tip.view {
            self.finalize_target = None;
            return;
        }
        if self.safety_fault.is_some() {
            return;
        }
        let mut chain: Vec<Block> = Vec::new();
        let mut next = target;
        // Every step goes one height down; the store bounds the length.
        while next != self.tip.digest {
            let Some(block) = self.blocks.get(&next) else {
                self.want_block(next);
                return;
            };
            let linked = chain.last().is_none_or(|child| {
                child.height == block.height + 1 && child.parent_view == block.view
            });
            if block.height <= self.tip.height
                || !linked
                || chain.len() > self.cfg.max_unfinalized_blocks
            {
                self.safety_fault = Some(format!(
                    "finalized block at view {target_view} does not extend the finalized chain"
                ));
                return;
            }
            next = block.parent;
            chain.push(block.clone());
        }
        if chain
            .last()
            .is_some_and(|lowest| lowest.height != self.tip.height + 1)
        {
            self.safety_fault = Some(format!(
                "finalized chain at view {target_view} skips heights above the tip"
            ));
            return;
        }
        self.finalize_target = None;
        for block in chain.into_iter().rev() {
            self.commit_block(block);
        }
        let height = self.tip.height;
        self.blocks.retain(|_, b| b.height > height);
        let floor = self.floor();
        self.views = self.views.split_off(&floor);
    }
}

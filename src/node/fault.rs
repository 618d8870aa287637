//! Fault injection for BFT tests: a node configured with
//! `byzantine = "equivocate"` or `byzantine = "garbage"` lies in what it
//! sends, with validly signed messages. It still runs the honest state
//! machine underneath (it follows the chain), so a test can check that the
//! honest nodes keep agreeing and committing, and that they record the
//! liar's equivocation as evidence.
//!
//! Never for production: the node refuses the setting unless the
//! environment variable [`FAULT_INJECTION_ENV`] is `1`.

use super::bft::BftMessage;
use ed25519_dalek::SigningKey;
use productivist_consensus::simplex::{Block, Message, VoteKind, encode_message, sign_vote};
use productivist_consensus::{Envelope, NodeId};
use productivist_engine::crypto::PublicKey;
use productivist_engine::proposal::BlockProposal;

/// The environment variable that must be `1` for a node to accept a
/// `byzantine` setting.
pub const FAULT_INJECTION_ENV: &str = "PRODUCTIVIST_FAULT_INJECTION";

/// Garbage bytes in one made-up message.
const GARBAGE_BYTES_MAX: u64 = 256;

/// How a faulty node lies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultMode {
    /// Signs conflicting messages: as leader, two different blocks for one
    /// view (to every peer, so each can prove it); as voter, a second
    /// notarize vote for another block, and a nullify after each finalize.
    Equivocate,
    /// Sends, beside each real message, random bytes and a bit-flipped
    /// copy of the message.
    Garbage,
}

impl FaultMode {
    /// Parses a config value.
    pub fn parse(s: &str) -> Option<FaultMode> {
        match s {
            "equivocate" => Some(FaultMode::Equivocate),
            "garbage" => Some(FaultMode::Garbage),
            _ => None,
        }
    }
}

/// The lying part of one faulty node.
pub struct FaultInjector {
    mode: FaultMode,
    id: NodeId,
    key: SigningKey,
    proposer: PublicKey,
    namespace: Vec<u8>,
    rng: u64,
    /// Messages invented or altered.
    pub lies: u64,
}

impl FaultInjector {
    /// The injector of participant `id`, signing with `key` under
    /// `namespace` (the channel's Simplex namespace).
    pub fn new(
        mode: FaultMode,
        id: NodeId,
        key: SigningKey,
        proposer: PublicKey,
        namespace: Vec<u8>,
    ) -> FaultInjector {
        let seed = u64::from_le_bytes(
            key.verifying_key().to_bytes()[..8]
                .try_into()
                .unwrap_or([1; 8]),
        );
        FaultInjector {
            mode,
            id,
            key,
            proposer,
            namespace,
            rng: seed | 1,
            lies: 0,
        }
    }

    /// SplitMix64: deterministic per node key.
    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Rewrites one batch of outgoing messages.
    pub fn corrupt(&mut self, envelopes: Vec<Envelope<Message>>) -> Vec<Envelope<BftMessage>> {
        let mut out = Vec::with_capacity(envelopes.len() * 2);
        for Envelope { to, msg } in envelopes {
            let extra = match self.mode {
                FaultMode::Equivocate => self.conflicting(&msg),
                FaultMode::Garbage => self.garbage(&msg),
            };
            // The real message first: honest receivers keep the first vote
            // of a signer, so the lie is what proves the offense.
            out.push(Envelope {
                to,
                msg: BftMessage::Simplex(msg),
            });
            self.lies += extra.len() as u64;
            out.extend(extra.into_iter().map(|msg| Envelope { to, msg }));
        }
        out
    }

    fn vote(
        &self,
        kind: VoteKind,
        view: u64,
        digest: [u8; 32],
    ) -> productivist_consensus::simplex::Vote {
        sign_vote(&self.key, &self.namespace, self.id, kind, view, digest)
    }

    fn conflicting(&mut self, msg: &Message) -> Vec<BftMessage> {
        match msg {
            Message::Propose { block, .. } => {
                // Another valid block for the same view and parent.
                let payload = if block.payload.is_empty() {
                    BlockProposal {
                        txs: Vec::new(),
                        timestamp_ms: self.next() % 1_000,
                        proposer: self.proposer,
                    }
                    .encode()
                } else {
                    Vec::new()
                };
                let alt = Block {
                    payload,
                    ..block.clone()
                };
                let vote = self.vote(VoteKind::Notarize, alt.view, alt.digest());
                vec![BftMessage::Simplex(Message::Propose { block: alt, vote })]
            }
            Message::Vote(v) if v.kind == VoteKind::Notarize => {
                let mut digest = [0u8; 32];
                digest[..8].copy_from_slice(&self.next().to_le_bytes());
                vec![BftMessage::Simplex(Message::Vote(self.vote(
                    VoteKind::Notarize,
                    v.view,
                    digest,
                )))]
            }
            Message::Vote(v) if v.kind == VoteKind::Finalize => {
                vec![BftMessage::Simplex(Message::Vote(self.vote(
                    VoteKind::Nullify,
                    v.view,
                    [0; 32],
                )))]
            }
            _ => Vec::new(),
        }
    }

    fn garbage(&mut self, msg: &Message) -> Vec<BftMessage> {
        let len = 1 + self.next() % GARBAGE_BYTES_MAX;
        let random: Vec<u8> = (0..len).map(|_| self.next() as u8).collect();
        let mut flipped = encode_message(msg);
        if !flipped.is_empty() {
            let i = (self.next() % flipped.len() as u64) as usize;
            flipped[i] ^= 1 << (self.next() % 8);
        }
        vec![BftMessage::Raw(random), BftMessage::Raw(flipped)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use productivist_consensus::simplex::{Evidence, decode_message};

    #[test]
    fn an_equivocating_leader_signs_two_blocks_that_prove_its_offense() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let ns = b"productivist/channel/t".to_vec();
        let mut f = FaultInjector::new(
            FaultMode::Equivocate,
            2,
            key.clone(),
            PublicKey([0; 32]),
            ns.clone(),
        );
        let block = Block {
            view: 3,
            height: 2,
            parent_view: 2,
            parent: [9; 32],
            payload: b"real".to_vec(),
        };
        let vote = sign_vote(&key, &ns, 2, VoteKind::Notarize, 3, block.digest());
        let out = f.corrupt(vec![Envelope {
            to: 1,
            msg: Message::Propose {
                block: block.clone(),
                vote: vote.clone(),
            },
        }]);
        assert_eq!(out.len(), 2);
        let BftMessage::Simplex(Message::Propose {
            block: alt,
            vote: alt_vote,
        }) = &out[1].msg
        else {
            panic!("a second proposal: {:?}", out[1]);
        };
        assert_ne!(alt.digest(), block.digest());
        assert_eq!((alt.view, alt.parent), (block.view, block.parent));
        let ev = Evidence {
            first: vote,
            second: alt_vote.clone(),
        };
        assert!(ev.verify(&ns, &key.verifying_key()), "verifiable evidence");
    }

    #[test]
    fn garbage_mode_sends_undecodable_bytes_beside_the_real_message() {
        let key = SigningKey::from_bytes(&[7; 32]);
        let ns = b"ns".to_vec();
        let mut f = FaultInjector::new(
            FaultMode::Garbage,
            1,
            key.clone(),
            PublicKey([0; 32]),
            ns.clone(),
        );
        let vote = sign_vote(&key, &ns, 1, VoteKind::Nullify, 5, [0; 32]);
        let out = f.corrupt(vec![Envelope {
            to: 2,
            msg: Message::Vote(vote.clone()),
        }]);
        assert_eq!(out[0].msg, BftMessage::Simplex(Message::Vote(vote.clone())));
        for e in &out[1..] {
            let BftMessage::Raw(bytes) = &e.msg else {
                panic!("raw bytes expected");
            };
            // Either undecodable, or (a flipped signature bit) not the vote.
            assert!(decode_message(bytes).map_or(true, |m| m != Message::Vote(vote.clone())));
        }
        assert_eq!(FaultMode::parse("garbage"), Some(FaultMode::Garbage));
        assert_eq!(FaultMode::parse("nope"), None);
    }
}

//! Byzantine behaviours for the BFT simulation.
//!
//! A Byzantine node runs the real Simplex state machine (so it follows the
//! chain and keeps committing, which the harness's liveness check needs) and
//! lies only in what it sends: this module rewrites its outgoing messages.
//! It holds the node's signing key, so its lies are validly signed:
//!
//! - equivocating leader: different proposals to different peers;
//! - invalid proposals: a payload that fails the validity rule;
//! - double votes: a second notarize for another block, nullify together
//!   with finalize in one view;
//! - withheld votes and certificates;
//! - garbage: random bytes and bit-flipped copies of real messages, which
//!   receivers run through `decode_message`.

use std::collections::VecDeque;

use ed25519_dalek::SigningKey;

use crate::sim::rng::SplitMix64;
use crate::simplex::{Block, Message, Simplex, View, VoteKind, encode_message, sign_vote};
use crate::{Envelope, NodeId};

/// A message on the simulated wire: a real one, or bytes a Byzantine node
/// made up (delivered to the receiver's decoder as they are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WireMessage {
    /// A Simplex message.
    Simplex(Message),
    /// Arbitrary bytes claiming to be a Simplex message.
    Garbage(Vec<u8>),
}

/// How a Byzantine leader treats its proposal in one view.
#[derive(Clone, Debug)]
enum ProposalPlan {
    /// Send the real proposal.
    Honest,
    /// Per peer (two bits of `mask`): the real proposal, `alt`, or both.
    Equivocate { alt: Box<Message>, mask: u64 },
    /// Send `invalid` to everyone instead.
    Invalid(Box<Message>),
}

/// Builds a payload the validity rule refuses, in place of `block`'s, as a
/// child of `parent` (the parent block's payload).
pub type InvalidPayload<'a> = dyn Fn(&Block, Option<&[u8]>, &mut SplitMix64) -> Vec<u8> + 'a;

/// Payloads kept to build a second, valid proposal when equivocating.
const MAX_STASHED_PAYLOADS: usize = 16;

/// The lying part of one Byzantine node.
#[derive(Debug)]
pub struct Byzantine {
    id: NodeId,
    key: SigningKey,
    namespace: Vec<u8>,
    rng: SplitMix64,
    plan: Option<(View, ProposalPlan)>,
    stash: VecDeque<Vec<u8>>,
    /// Messages rewritten, dropped or invented (for reports).
    pub lies: u64,
}

impl Byzantine {
    /// The behaviours of node `id` signing with `key`; `seed` drives every
    /// choice.
    pub fn new(id: NodeId, key: SigningKey, namespace: Vec<u8>, seed: u64) -> Self {
        Self {
            id,
            key,
            namespace,
            rng: SplitMix64::new(seed ^ 0xB12A_0000_0000_0001),
            plan: None,
            stash: VecDeque::new(),
            lies: 0,
        }
    }

    /// Remembers a (valid, wrapped) payload the node was asked to propose.
    pub fn stash_payload(&mut self, payload: &[u8]) {
        if self.stash.len() == MAX_STASHED_PAYLOADS {
            self.stash.pop_front();
        }
        self.stash.push_back(payload.to_vec());
    }

    /// Rewrites one batch of outgoing messages. `invalid_payload` builds a
    /// payload the validity rule refuses in place of the honest block's,
    /// given the parent block's payload (`None` for genesis or a filler).
    pub fn corrupt(
        &mut self,
        node: &Simplex,
        envelopes: Vec<Envelope<Message>>,
        invalid_payload: &InvalidPayload<'_>,
    ) -> Vec<Envelope<WireMessage>> {
        let mut out = Vec::with_capacity(envelopes.len());
        for Envelope { to, msg } in envelopes {
            if self.rng.chance_per_mille(40) {
                out.push(Envelope {
                    to,
                    msg: WireMessage::Garbage(self.garbage(&msg)),
                });
                self.lies += 1;
            }
            match &msg {
                Message::Propose { block, .. } => {
                    let parent = node
                        .block(&block.parent)
                        .filter(|p| p.height > 0 && !p.payload.is_empty())
                        .map(|p| p.payload.clone());
                    let plan = self.plan_for(block, parent.as_deref(), invalid_payload);
                    let sent = match plan {
                        ProposalPlan::Honest => msg,
                        // Two bits per peer: the real proposal, the other
                        // one, or both (the real one first).
                        ProposalPlan::Equivocate { alt, mask } => {
                            match (mask >> (2 * (to % 32))) & 3 {
                                0 => msg,
                                1 => {
                                    self.lies += 1;
                                    *alt
                                }
                                _ => {
                                    self.lies += 1;
                                    out.push(Envelope {
                                        to,
                                        msg: WireMessage::Simplex(msg),
                                    });
                                    *alt
                                }
                            }
                        }
                        ProposalPlan::Invalid(invalid) => {
                            self.lies += 1;
                            *invalid
                        }
                    };
                    out.push(Envelope {
                        to,
                        msg: WireMessage::Simplex(sent),
                    });
                }
                Message::Vote(vote) => {
                    if self.rng.chance_per_mille(150) {
                        self.lies += 1;
                        continue;
                    }
                    let extra = match vote.kind {
                        VoteKind::Notarize if self.rng.chance_per_mille(250) => {
                            Some((VoteKind::Notarize, self.random_digest()))
                        }
                        VoteKind::Finalize if self.rng.chance_per_mille(300) => {
                            Some((VoteKind::Nullify, [0; 32]))
                        }
                        VoteKind::Nullify if self.rng.chance_per_mille(300) => {
                            let digest = node
                                .view_state(vote.view)
                                .and_then(|s| s.proposal)
                                .unwrap_or_else(|| self.random_digest());
                            Some((VoteKind::Finalize, digest))
                        }
                        _ => None,
                    };
                    out.push(Envelope {
                        to,
                        msg: WireMessage::Simplex(msg.clone()),
                    });
                    if let Some((kind, digest)) = extra {
                        self.lies += 1;
                        let double =
                            sign_vote(&self.key, &self.namespace, self.id, kind, vote.view, digest);
                        out.push(Envelope {
                            to,
                            msg: WireMessage::Simplex(Message::Vote(double)),
                        });
                    }
                }
                Message::Certificate(_) if self.rng.chance_per_mille(300) => {
                    self.lies += 1;
                }
                _ => out.push(Envelope {
                    to,
                    msg: WireMessage::Simplex(msg),
                }),
            }
        }
        out
    }

    fn plan_for(
        &mut self,
        block: &Block,
        parent: Option<&[u8]>,
        invalid_payload: &InvalidPayload<'_>,
    ) -> ProposalPlan {
        if let Some((view, plan)) = &self.plan
            && *view == block.view
        {
            return plan.clone();
        }
        let plan = match self.rng.below(3) {
            0 => {
                let alt_payload = self
                    .stash
                    .iter()
                    .find(|p| **p != block.payload)
                    .cloned()
                    .or_else(|| (!block.payload.is_empty()).then(Vec::new));
                match alt_payload {
                    Some(payload) => ProposalPlan::Equivocate {
                        alt: Box::new(self.resign(block, payload)),
                        mask: self.rng.next_u64(),
                    },
                    None => ProposalPlan::Honest,
                }
            }
            1 => {
                let payload = invalid_payload(block, parent, &mut self.rng);
                ProposalPlan::Invalid(Box::new(self.resign(block, payload)))
            }
            _ => ProposalPlan::Honest,
        };
        self.plan = Some((block.view, plan.clone()));
        plan
    }

    fn resign(&self, block: &Block, payload: Vec<u8>) -> Message {
        let block = Block {
            payload,
            ..block.clone()
        };
        let vote = sign_vote(
            &self.key,
            &self.namespace,
            self.id,
            VoteKind::Notarize,
            block.view,
            block.digest(),
        );
        Message::Propose { block, vote }
    }

    fn random_digest(&mut self) -> [u8; 32] {
        let mut digest = [0u8; 32];
        for chunk in digest.chunks_mut(8) {
            chunk.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        digest
    }

    fn garbage(&mut self, msg: &Message) -> Vec<u8> {
        if self.rng.below(2) == 0 {
            let len = self.rng.below(200) as usize;
            (0..len).map(|_| self.rng.next_u64() as u8).collect()
        } else {
            let mut bytes = encode_message(msg);
            if !bytes.is_empty() {
                let flips = 1 + self.rng.below(4);
                for _ in 0..flips {
                    let at = self.rng.below(bytes.len() as u64) as usize;
                    bytes[at] ^= 1 << self.rng.below(8);
                }
            }
            bytes
        }
    }
}

//! Simplex wire types, their canonical borsh encoding and the signed
//! digests.
//!
//! Everything here may arrive from a Byzantine peer: decoding never panics,
//! rejects trailing bytes and oversized input, and [`Message::validate`]
//! checks the structural rules the state machine relies on before it
//! touches any state. Signatures are checked later, by the state machine,
//! against the participants' keys.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::NodeId;
use crate::simplex::error::Error;

/// A view number. View 0 holds only the genesis block; real views start at 1.
pub type View = u64;
/// A blake3 digest.
pub type Digest = [u8; 32];
/// An ed25519 signature, as bytes.
pub type SignatureBytes = [u8; 64];

/// No correct run gets near this view or height; rejecting larger ones
/// keeps every `view + k` free of overflow.
pub const MAX_VIEW: View = 1 << 62;
/// Hard ceiling on one payload (configs may lower it).
pub const MAX_PAYLOAD_BYTES: usize = 16 << 20;
/// Hard ceiling on blocks in one fetch answer.
pub const MAX_BLOCKS_PER_MESSAGE: usize = 256;
/// Hard ceiling on participants (and so on signatures in a certificate).
pub const MAX_PARTICIPANTS: usize = 1024;
/// Hard ceiling on the encoded size of one message: checked before
/// decoding so a peer cannot make us parse arbitrarily much.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// Hard ceiling on the view range of one certificate fetch.
pub const MAX_FETCH_VIEWS: u64 = 256;

/// Domain separation of signed votes (then the configured namespace).
const VOTE_DOMAIN: &[u8] = b"productivist/simplex/vote/v1";
/// Domain separation of block digests.
const BLOCK_DOMAIN: &str = "productivist simplex block v1";

/// A proposed block: the payload plus its position in the chain.
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// View it was proposed in (0 only for genesis).
    pub view: View,
    /// Height in the chain: parent height + 1 (0 only for genesis). This is
    /// the committed index.
    pub height: u64,
    /// View of the parent block (a notarized block; every view strictly
    /// between `parent_view` and `view` must be nullified).
    pub parent_view: View,
    /// Digest of the parent block.
    pub parent: Digest,
    /// Application bytes; empty for a leader's filler block.
    pub payload: Vec<u8>,
}

impl Block {
    /// The block every chain starts from (view 0, height 0). Finalized by
    /// definition.
    pub fn genesis() -> Block {
        Block {
            view: 0,
            height: 0,
            parent_view: 0,
            parent: [0; 32],
            payload: Vec::new(),
        }
    }

    /// Digest binding view, height, parent and payload: voting on it votes
    /// on the whole position of the block in the chain.
    pub fn digest(&self) -> Digest {
        let mut hasher = blake3::Hasher::new_derive_key(BLOCK_DOMAIN);
        hasher.update(&self.view.to_le_bytes());
        hasher.update(&self.height.to_le_bytes());
        hasher.update(&self.parent_view.to_le_bytes());
        hasher.update(&self.parent);
        hasher.update(&(self.payload.len() as u64).to_le_bytes());
        hasher.update(&self.payload);
        *hasher.finalize().as_bytes()
    }

    fn validate(&self) -> Result<(), Error> {
        if self.view == 0 || self.view > MAX_VIEW || self.height == 0 || self.height > MAX_VIEW {
            return Err(Error::InvalidMessage("block view or height out of range"));
        }
        if self.parent_view >= self.view {
            return Err(Error::InvalidMessage("parent view not before block view"));
        }
        if self.payload.len() > MAX_PAYLOAD_BYTES {
            return Err(Error::InvalidMessage("payload too large"));
        }
        Ok(())
    }
}

/// What a vote says.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, BorshSerialize, BorshDeserialize,
)]
pub enum VoteKind {
    /// "This block is a valid extension of the notarized chain": the first
    /// vote of a view. A proposal is the leader's notarize vote.
    Notarize,
    /// "Nothing got notarized in this view in time": lets the chain skip it.
    Nullify,
    /// "I saw this view's block notarized and never nullified the view":
    /// 2f+1 of these make the block (and its ancestors) final.
    Finalize,
}

impl VoteKind {
    fn tag(self) -> u8 {
        match self {
            VoteKind::Notarize => 0,
            VoteKind::Nullify => 1,
            VoteKind::Finalize => 2,
        }
    }
}

/// Bytes an ed25519 key signs for a vote: domain, namespace, kind, view and
/// block digest (zeros for a nullify). The block digest already commits to
/// the parent, so a notarize vote is a vote on (view, parent, payload).
pub fn vote_signing_bytes(
    namespace: &[u8],
    kind: VoteKind,
    view: View,
    digest: &Digest,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(VOTE_DOMAIN.len() + namespace.len() + 4 + 1 + 8 + 32);
    out.extend_from_slice(VOTE_DOMAIN);
    out.extend_from_slice(&(namespace.len() as u32).to_le_bytes());
    out.extend_from_slice(namespace);
    out.push(kind.tag());
    out.extend_from_slice(&view.to_le_bytes());
    out.extend_from_slice(digest);
    out
}

/// One signed vote.
#[derive(Clone, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Vote {
    /// Notarize, nullify or finalize.
    pub kind: VoteKind,
    /// View voted in.
    pub view: View,
    /// Block digest (all zeros for [`VoteKind::Nullify`]).
    pub digest: Digest,
    /// Who signed.
    pub signer: NodeId,
    /// ed25519 signature over [`vote_signing_bytes`].
    pub signature: SignatureBytes,
}

impl Vote {
    fn validate(&self) -> Result<(), Error> {
        if self.view == 0 || self.view > MAX_VIEW {
            return Err(Error::InvalidMessage("vote view out of range"));
        }
        if self.kind == VoteKind::Nullify && self.digest != [0; 32] {
            return Err(Error::InvalidMessage("nullify vote names a block"));
        }
        Ok(())
    }
}

/// 2f+1 (or more) votes of one kind for one (view, digest) from distinct
/// participants. Self-proving: anyone holding the participants' keys can
/// check it, so certificates are forwarded freely.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Certificate {
    /// Kind of the votes (notarization, nullification, finalization).
    pub kind: VoteKind,
    /// View.
    pub view: View,
    /// Block digest (zeros for a nullification).
    pub digest: Digest,
    /// (signer, signature), signers strictly ascending.
    pub signatures: Vec<(NodeId, SignatureBytes)>,
}

impl Certificate {
    fn validate(&self) -> Result<(), Error> {
        if self.view == 0 || self.view > MAX_VIEW {
            return Err(Error::InvalidMessage("certificate view out of range"));
        }
        if self.kind == VoteKind::Nullify && self.digest != [0; 32] {
            return Err(Error::InvalidMessage("nullification names a block"));
        }
        if self.signatures.is_empty() || self.signatures.len() > MAX_PARTICIPANTS {
            return Err(Error::InvalidMessage(
                "certificate signer count out of range",
            ));
        }
        if !self.signatures.windows(2).all(|w| w[0].0 < w[1].0) {
            return Err(Error::InvalidMessage(
                "certificate signers not strictly ascending",
            ));
        }
        Ok(())
    }

    /// The vote of one signer inside the certificate.
    pub fn vote(&self, signer: NodeId, signature: SignatureBytes) -> Vote {
        Vote {
            kind: self.kind,
            view: self.view,
            digest: self.digest,
            signer,
            signature,
        }
    }
}

/// A Simplex message. The sender is known from the transport; votes must
/// come from their signer, proposals from their view's leader.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Message {
    /// The leader's block for `vote.view`, with its notarize vote on it.
    Propose {
        /// The block.
        block: Block,
        /// The leader's notarize vote on `block.digest()`.
        vote: Vote,
    },
    /// A notarize, nullify or finalize vote, sent by its signer.
    Vote(Vote),
    /// A notarization, nullification or finalization, forwarded by anyone.
    Certificate(Certificate),
    /// Send me block `digest` and its ancestors above `above_height`.
    FetchBlocks {
        /// The block wanted first.
        digest: Digest,
        /// The requester's finalized height: older blocks are not needed.
        above_height: u64,
    },
    /// Answer to [`Message::FetchBlocks`]: the block then its ancestors,
    /// each the parent of the one before.
    Blocks(Vec<Block>),
    /// Send me the certificates you hold for views `from_view..=to_view`.
    FetchCertificates {
        /// First view.
        from_view: View,
        /// Last view.
        to_view: View,
    },
}

impl Message {
    /// Short name for traces.
    pub fn kind(&self) -> &'static str {
        match self {
            Message::Propose { .. } => "Propose",
            Message::Vote(vote) => match vote.kind {
                VoteKind::Notarize => "Notarize",
                VoteKind::Nullify => "Nullify",
                VoteKind::Finalize => "Finalize",
            },
            Message::Certificate(cert) => match cert.kind {
                VoteKind::Notarize => "Notarization",
                VoteKind::Nullify => "Nullification",
                VoteKind::Finalize => "Finalization",
            },
            Message::FetchBlocks { .. } => "FetchBlocks",
            Message::Blocks(_) => "Blocks",
            Message::FetchCertificates { .. } => "FetchCerts",
        }
    }

    /// The view a message speaks about (0 for fetches of blocks).
    pub fn view(&self) -> View {
        match self {
            Message::Propose { block, .. } => block.view,
            Message::Vote(vote) => vote.view,
            Message::Certificate(cert) => cert.view,
            Message::FetchBlocks { .. } => 0,
            Message::Blocks(blocks) => blocks.first().map_or(0, |b| b.view),
            Message::FetchCertificates { from_view, .. } => *from_view,
        }
    }

    /// Checks the structural rules a correct peer always follows. The state
    /// machine calls this before acting on a message.
    pub fn validate(&self) -> Result<(), Error> {
        match self {
            Message::Propose { block, vote } => {
                block.validate()?;
                vote.validate()?;
                if vote.kind != VoteKind::Notarize || vote.view != block.view {
                    return Err(Error::InvalidMessage("proposal vote is not its notarize"));
                }
                Ok(())
            }
            Message::Vote(vote) => vote.validate(),
            Message::Certificate(cert) => cert.validate(),
            Message::FetchBlocks { above_height, .. } => {
                if *above_height > MAX_VIEW {
                    return Err(Error::InvalidMessage("height out of range"));
                }
                Ok(())
            }
            Message::Blocks(blocks) => {
                if blocks.is_empty() || blocks.len() > MAX_BLOCKS_PER_MESSAGE {
                    return Err(Error::InvalidMessage("block count out of range"));
                }
                blocks.iter().try_for_each(Block::validate)
            }
            Message::FetchCertificates { from_view, to_view } => {
                if *from_view == 0
                    || from_view > to_view
                    || *to_view > MAX_VIEW
                    || to_view - from_view >= MAX_FETCH_VIEWS
                {
                    return Err(Error::InvalidMessage("certificate fetch range invalid"));
                }
                Ok(())
            }
        }
    }
}

/// Canonical encoding of a message.
pub fn encode_message(msg: &Message) -> Vec<u8> {
    borsh::to_vec(msg).unwrap_or_default()
}

/// Decodes untrusted bytes: rejects oversized input, malformed input,
/// trailing bytes and structurally invalid messages. Never panics.
pub fn decode_message(bytes: &[u8]) -> Result<Message, Error> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(Error::Decode(format!(
            "{} bytes exceed {MAX_MESSAGE_BYTES}",
            bytes.len()
        )));
    }
    // `from_slice` fails on trailing bytes, so the encoding is canonical.
    let msg: Message = borsh::from_slice(bytes).map_err(|e| Error::Decode(e.to_string()))?;
    msg.validate()?;
    Ok(msg)
}

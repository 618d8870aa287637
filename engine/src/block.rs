//! Blocks: a header that chains and commits to everything, and a body of
//! transactions with one result each.

use crate::codec::{self, CodecError};
use crate::crypto::{Hash, PublicKey};
use crate::merkle;
use borsh::{BorshDeserialize, BorshSerialize};
use std::fmt;

/// Domain of block hashes.
const BLOCK_DOMAIN: &[u8] = b"productivist/v1/block";

/// The block header. Its hash is the block's hash.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockHeader {
    /// The channel.
    pub channel: String,
    /// 0 for genesis.
    pub height: u64,
    /// Hash of the previous block's header (zero for genesis).
    pub prev_hash: Hash,
    /// Merkle root of the transactions' bytes.
    pub tx_root: Hash,
    /// Merkle root of the results' encodings.
    pub results_root: Hash,
    /// Commitment to the whole world state after this block.
    pub state_root: Hash,
    /// Block time in ms since the Unix epoch, set by the proposer and never
    /// decreasing. Contracts see this, never the wall clock.
    pub timestamp_ms: u64,
    /// The proposing node's key.
    pub proposer: PublicKey,
}

impl BlockHeader {
    /// The hash of a header's exact bytes.
    pub fn hash_bytes(header_bytes: &[u8]) -> Hash {
        Hash::tagged(BLOCK_DOMAIN, header_bytes)
    }

    /// The hash of this header (encoded canonically).
    pub fn hash(&self) -> Hash {
        Self::hash_bytes(&codec::encode(self))
    }
}

/// Why a transaction was invalid. The numbers are stable: clients and
/// explorers show them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum InvalidCode {
    /// The bytes are not a transaction.
    Malformed = 1,
    /// The transaction is bigger than the channel allows.
    TooLarge = 2,
    /// The transaction names another channel.
    WrongChannel = 3,
    /// The certificate id is not known on this channel.
    UnknownCertificate = 4,
    /// The certificate's organization is not a member.
    ForeignCertificate = 5,
    /// The certificate is not signed by its organization.
    BadCertificateSignature = 6,
    /// The certificate's key is invalid or weak, or the certificate malformed.
    BadCertificate = 7,
    /// The certificate has expired.
    CertificateExpired = 8,
    /// The certificate is not valid yet.
    CertificateNotYetValid = 9,
    /// The certificate is revoked.
    CertificateRevoked = 10,
    /// The transaction's signature does not verify.
    BadSignature = 11,
    /// The transaction id was already committed.
    Replay = 12,
    /// The signer's roles do not allow this.
    NotAuthorized = 13,
    /// No contract of that name.
    UnknownContract = 14,
    /// The contract refused the call (business rule, wrong caller or state).
    Refused = 15,
    /// The arguments could not be decoded.
    BadArguments = 16,
    /// A policy's endorsements are missing or invalid.
    PolicyNotSatisfied = 17,
    /// The contract ran out of fuel.
    OutOfFuel = 18,
    /// The contract trapped or aborted.
    Trap = 19,
    /// A limit (keys, values, events, output, memory) was exceeded.
    LimitExceeded = 20,
    /// The contract is frozen.
    Frozen = 21,
}

impl InvalidCode {
    /// A short snake-case name.
    pub fn name(self) -> &'static str {
        match self {
            InvalidCode::Malformed => "malformed",
            InvalidCode::TooLarge => "too_large",
            InvalidCode::WrongChannel => "wrong_channel",
            InvalidCode::UnknownCertificate => "unknown_certificate",
            InvalidCode::ForeignCertificate => "foreign_certificate",
            InvalidCode::BadCertificateSignature => "bad_certificate_signature",
            InvalidCode::BadCertificate => "bad_certificate",
            InvalidCode::CertificateExpired => "certificate_expired",
            InvalidCode::CertificateNotYetValid => "certificate_not_yet_valid",
            InvalidCode::CertificateRevoked => "certificate_revoked",
            InvalidCode::BadSignature => "bad_signature",
            InvalidCode::Replay => "replay",
            InvalidCode::NotAuthorized => "not_authorized",
            InvalidCode::UnknownContract => "unknown_contract",
            InvalidCode::Refused => "refused",
            InvalidCode::BadArguments => "bad_arguments",
            InvalidCode::PolicyNotSatisfied => "policy_not_satisfied",
            InvalidCode::OutOfFuel => "out_of_fuel",
            InvalidCode::Trap => "trap",
            InvalidCode::LimitExceeded => "limit_exceeded",
            InvalidCode::Frozen => "frozen",
        }
    }
}

impl fmt::Display for InvalidCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The outcome of one transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum TxStatus {
    /// Executed; its writes are in the state.
    Valid,
    /// Not executed, or executed and rolled back; no writes.
    Invalid {
        /// Why.
        code: InvalidCode,
        /// A readable explanation.
        reason: String,
    },
}

impl TxStatus {
    /// Whether the transaction is valid.
    pub fn is_valid(&self) -> bool {
        matches!(self, TxStatus::Valid)
    }
}

impl fmt::Display for TxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TxStatus::Valid => f.write_str("valid"),
            TxStatus::Invalid { code, reason } => write!(f, "invalid ({code}): {reason}"),
        }
    }
}

/// An event a contract emitted.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Event {
    /// The emitting contract.
    pub contract: String,
    /// Event name.
    pub name: String,
    /// Event data (the contract's encoding).
    pub data: Vec<u8>,
}

/// The result of one transaction in a block.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxResult {
    /// Valid or invalid with a reason.
    pub status: TxStatus,
    /// Events emitted (empty when invalid).
    pub events: Vec<Event>,
    /// Data the contract returned (empty when invalid).
    pub output: Vec<u8>,
}

impl TxResult {
    /// An invalid result.
    pub fn invalid(code: InvalidCode, reason: impl Into<String>) -> TxResult {
        TxResult {
            status: TxStatus::Invalid {
                code,
                reason: reason.into(),
            },
            events: Vec::new(),
            output: Vec::new(),
        }
    }
}

/// A block. Transactions are kept as the exact bytes that were ordered, so a
/// malformed one can still be recorded as invalid.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    /// The header.
    pub header: BlockHeader,
    /// Transactions' wire bytes, in order.
    pub txs: Vec<Vec<u8>>,
    /// One result per transaction.
    pub results: Vec<TxResult>,
}

/// A block decoded from bytes, with the hash of its header's exact bytes.
#[derive(Clone, Debug)]
pub struct DecodedBlock {
    /// The block.
    pub block: Block,
    /// Hash of the header bytes as received.
    pub hash: Hash,
}

/// Why a block is not acceptable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// It did not decode.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The body does not match the header or the chain.
    #[error("invalid block at height {height}: {reason}")]
    Invalid {
        /// The block's height.
        height: u64,
        /// Why.
        reason: String,
    },
}

impl Block {
    /// Encodes the block.
    pub fn encode(&self) -> Vec<u8> {
        // Transactions dominate; results of valid transactions are small.
        let estimate_bytes = self
            .txs
            .iter()
            .map(|t| t.len() + 4)
            .sum::<usize>()
            .saturating_add(self.results.len() * 32)
            .saturating_add(512);
        codec::encode_with_capacity(self, estimate_bytes)
    }

    /// [`Block::encode`], given each result's encoding in order (parallel
    /// execution computed them for the results' Merkle leaves): the same
    /// bytes, without encoding every result again on one thread. Falls back
    /// to [`Block::encode`] when the encodings do not match the results in
    /// number.
    pub fn encode_with_results(&self, encoded_results: &[Vec<u8>]) -> Vec<u8> {
        let Ok(count) = u32::try_from(encoded_results.len()) else {
            return self.encode();
        };
        if encoded_results.len() != self.results.len() {
            return self.encode();
        }
        let results_bytes: usize = encoded_results.iter().map(Vec::len).sum();
        let txs_bytes: usize = self.txs.iter().map(|t| t.len() + 4).sum();
        let mut out = codec::encode_with_capacity(
            &(&self.header, &self.txs),
            txs_bytes.saturating_add(results_bytes).saturating_add(512),
        );
        // Borsh encodes a sequence as its u32 length, then its elements.
        out.extend_from_slice(&count.to_le_bytes());
        for r in encoded_results {
            out.extend_from_slice(r);
        }
        debug_assert_eq!(out, self.encode(), "pre-encoded results differ");
        out
    }

    /// Decodes a block strictly and hashes its header's exact bytes.
    pub fn decode(bytes: &[u8]) -> Result<DecodedBlock, BlockError> {
        let (_, header_len) = codec::decode_prefix::<BlockHeader>("block header", bytes)?;
        let block: Block = codec::decode("block", bytes)?;
        let hash = BlockHeader::hash_bytes(&bytes[..header_len]);
        Ok(DecodedBlock { block, hash })
    }

    /// The Merkle root of transaction bytes.
    pub fn tx_root(txs: &[Vec<u8>]) -> Hash {
        merkle::root_of(txs)
    }

    /// The Merkle root of results.
    pub fn results_root(results: &[TxResult]) -> Hash {
        merkle::root_of(results.iter().map(codec::encode))
    }

    /// Checks that the body matches the header's roots.
    pub fn check_body(&self) -> Result<(), BlockError> {
        let height = self.header.height;
        if self.txs.len() != self.results.len() {
            return Err(BlockError::Invalid {
                height,
                reason: format!(
                    "{} transactions but {} results",
                    self.txs.len(),
                    self.results.len()
                ),
            });
        }
        if Self::tx_root(&self.txs) != self.header.tx_root {
            return Err(BlockError::Invalid {
                height,
                reason: "tx_root does not match the transactions".into(),
            });
        }
        if Self::results_root(&self.results) != self.header.results_root {
            return Err(BlockError::Invalid {
                height,
                reason: "results_root does not match the results".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Block {
        let txs = vec![b"one".to_vec(), b"two".to_vec()];
        let results = vec![TxResult::invalid(InvalidCode::Malformed, "x"); 2];
        Block {
            header: BlockHeader {
                channel: "public".into(),
                height: 3,
                prev_hash: Hash::of(b"prev"),
                tx_root: Block::tx_root(&txs),
                results_root: Block::results_root(&results),
                state_root: Hash::of(b"state"),
                timestamp_ms: 5,
                proposer: PublicKey([9; 32]),
            },
            txs,
            results,
        }
    }

    #[test]
    fn decode_hashes_the_exact_header_bytes() {
        let b = sample();
        let bytes = b.encode();
        let d = Block::decode(&bytes).unwrap();
        assert_eq!(d.block, b);
        assert_eq!(d.hash, b.header.hash());
        assert!(d.block.check_body().is_ok());
    }

    #[test]
    fn pre_encoded_results_give_the_block_encoding() {
        let mut b = sample();
        b.results[1] = TxResult {
            status: TxStatus::Valid,
            events: Vec::new(),
            output: vec![7; 300],
        };
        let encoded: Vec<Vec<u8>> = b.results.iter().map(codec::encode).collect();
        assert_eq!(b.encode_with_results(&encoded), b.encode());
        // A mismatch in number falls back to encoding the results.
        assert_eq!(b.encode_with_results(&encoded[..1]), b.encode());
        let empty = Block {
            txs: Vec::new(),
            results: Vec::new(),
            ..b
        };
        assert_eq!(empty.encode_with_results(&[]), empty.encode());
    }

    #[test]
    fn trailing_bytes_and_tampered_bodies_are_refused() {
        let b = sample();
        let mut bytes = b.encode();
        bytes.push(0);
        assert!(matches!(
            Block::decode(&bytes),
            Err(BlockError::Codec(CodecError::TrailingBytes { .. }))
        ));
        let mut t = b.clone();
        t.txs[0] = b"forged".to_vec();
        assert!(t.check_body().is_err());
    }
}

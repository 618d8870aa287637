//! What consensus orders, and the check a replica runs before it votes.
//!
//! Consensus does not carry sealed ledger blocks: a leader proposes a
//! [`BlockProposal`] (transactions, its clock, its key), and every node
//! executes the committed proposal on its own ledger (`Ledger::propose`
//! then `commit`). Execution is deterministic, so every node seals the same
//! block; a transaction that fails its checks *at execution* is recorded as
//! invalid with its reason code, as Fabric does.
//!
//! A BFT replica must still refuse to vote for a proposal that a correct
//! leader would never make, or a Byzantine leader could fill blocks with
//! garbage. [`check_proposal`] refuses what is wrong whatever the state:
//! bytes that do not decode, blocks over the channel limits, an unknown
//! proposer, time running backwards or too far ahead, duplicate
//! transactions, transactions that do not decode, belong to another
//! channel, or carry a bad signature or forged certificate. It accepts what
//! depends on state a lagging replica may not have yet (a certificate
//! referenced by id and not yet known, an expiry, a revocation): execution
//! decides those deterministically, and refusing them would let one slow
//! replica stall an honest leader.

use crate::admission::{AdmitError, admit};
use crate::block::InvalidCode;
use crate::config::ChannelConfig;
use crate::crypto::{Hash, PublicKey};
use crate::identity::{CertCache, Certificate};
use crate::store::StoreError;
use crate::tx::{TxId, decode_tx, tx_id};
use borsh::{BorshDeserialize, BorshSerialize};
use rayon::prelude::*;
use std::collections::HashSet;

/// How far ahead of the replica's clock a proposal's time may be. Clocks of
/// fab-lab appliances drift; this bounds how far a Byzantine leader can push
/// block time (which contracts use for deadlines) into the future.
pub const CLOCK_SKEW_MAX_MS: u64 = 30_000;

/// Below this many transactions, checking on one thread is cheaper than
/// dispatching to the pool.
const PARALLEL_CHECK_MIN_TXS: usize = 64;

/// A block as ordered by consensus: the transactions, the proposer's time
/// and key.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockProposal {
    /// Transactions' wire bytes, in order.
    pub txs: Vec<Vec<u8>>,
    /// The proposer's clock (the ledger clamps it to never go backwards).
    pub timestamp_ms: u64,
    /// The proposing node's key.
    pub proposer: PublicKey,
}

/// Bytes an encoded [`BlockProposal`] adds to its transactions' bytes: the
/// transaction count (u32), the timestamp (u64) and the proposer's key.
pub const PROPOSAL_FIXED_BYTES: u64 = 4 + 8 + 32;
/// Bytes an encoded [`BlockProposal`] adds per transaction (its length, u32).
pub const PROPOSAL_PER_TX_BYTES: u64 = 4;

impl BlockProposal {
    /// The length of [`BlockProposal::encode`]'s output for `txs`
    /// transactions of `tx_bytes` bytes in all.
    pub fn encoded_len(txs: u64, tx_bytes: u64) -> u64 {
        PROPOSAL_FIXED_BYTES + PROPOSAL_PER_TX_BYTES * txs + tx_bytes
    }

    /// Encodes the proposal.
    pub fn encode(&self) -> Vec<u8> {
        // Vec writes cannot fail; an empty payload would be refused by every
        // replica rather than misread.
        borsh::to_vec(self).unwrap_or_default()
    }

    /// Decodes untrusted bytes strictly (trailing bytes are refused).
    pub fn decode(bytes: &[u8]) -> Result<BlockProposal, ProposalError> {
        borsh::from_slice(bytes).map_err(|e| ProposalError::Malformed(e.to_string()))
    }

    /// Total bytes of the transactions (what the block limit counts).
    pub fn tx_bytes(&self) -> u64 {
        self.txs.iter().map(|t| t.len() as u64).sum()
    }
}

/// Why a replica refuses to vote for a proposal.
#[derive(Debug, thiserror::Error)]
pub enum ProposalError {
    /// The payload does not decode.
    #[error("malformed proposal: {0}")]
    Malformed(String),
    /// Over the channel's block limits.
    #[error(
        "proposal of {txs} transactions / {bytes} bytes exceeds the channel limits ({max_txs} / {max_bytes})"
    )]
    OverLimits {
        /// Transactions proposed.
        txs: usize,
        /// Bytes proposed.
        bytes: u64,
        /// The limit on transactions.
        max_txs: u32,
        /// The limit on bytes.
        max_bytes: u64,
    },
    /// The proposer is not a consenter of the channel.
    #[error("proposer {0} is not a consenter of this channel")]
    UnknownProposer(PublicKey),
    /// Block time would run backwards.
    #[error("proposal time {timestamp_ms} ms is before its parent's {parent_ms} ms")]
    TimeBackwards {
        /// The proposal's time.
        timestamp_ms: u64,
        /// The parent's time.
        parent_ms: u64,
    },
    /// Block time too far in the future.
    #[error(
        "proposal time {timestamp_ms} ms is more than {CLOCK_SKEW_MAX_MS} ms after this replica's clock ({now_ms} ms)"
    )]
    TimeAhead {
        /// The proposal's time.
        timestamp_ms: u64,
        /// The replica's clock.
        now_ms: u64,
    },
    /// The same transaction twice.
    #[error("transaction {0} appears twice in the proposal")]
    Duplicate(TxId),
    /// A transaction no correct leader would propose.
    #[error("transaction {index} of the proposal: {code}: {reason}")]
    BadTransaction {
        /// Its position.
        index: usize,
        /// Its result code.
        code: InvalidCode,
        /// Why.
        reason: String,
    },
    /// The store failed while resolving a certificate (the replica's
    /// fault: it abstains rather than vote blind).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a replica knows when it checks a proposal.
pub struct ProposalContext<'a> {
    /// The channel config at the replica's committed head.
    pub config: &'a ChannelConfig,
    /// The replica's clock, if the check should bound block time (`None`
    /// in replays and simulations, where only the parent bounds it).
    pub now_ms: Option<u64>,
    /// Resolves certificates referenced by id (committed state).
    pub resolve: &'a (dyn Fn(&Hash) -> Result<Option<Certificate>, StoreError> + Sync),
    /// Certificates already verified.
    pub cert_cache: Option<&'a CertCache>,
    /// Whether this replica already verified the signature and certificate
    /// of exactly these bytes under this id (its mempool's verdicts): then
    /// skipped. Answer for the bytes, not the id alone: a forged copy of a
    /// known transaction shares its id (the body) but not its signature.
    pub known_good: &'a (dyn Fn(&TxId, &[u8]) -> bool + Sync),
    /// Spread signature checks over this pool (`None`: the caller's thread).
    pub pool: Option<&'a rayon::ThreadPool>,
}

/// Checks `payload` as a child of `parent` (`None` or empty for a parent
/// that is the genesis or a filler block). Returns the decoded proposal;
/// `Ok(None)` for an empty payload (a filler block, which carries nothing).
pub fn check_proposal(
    cx: &ProposalContext<'_>,
    parent: Option<&[u8]>,
    payload: &[u8],
) -> Result<Option<BlockProposal>, ProposalError> {
    if payload.is_empty() {
        return Ok(None);
    }
    let proposal = BlockProposal::decode(payload)?;
    let limits = &cx.config.limits;
    let bytes = proposal.tx_bytes();
    if proposal.txs.len() > limits.max_txs as usize || bytes > limits.max_block_bytes {
        return Err(ProposalError::OverLimits {
            txs: proposal.txs.len(),
            bytes,
            max_txs: limits.max_txs,
            max_bytes: limits.max_block_bytes,
        });
    }
    if !cx
        .config
        .consensus
        .consenters
        .iter()
        .any(|c| c.node_key == proposal.proposer)
    {
        return Err(ProposalError::UnknownProposer(proposal.proposer));
    }
    if let Some(parent) = parent.filter(|p| !p.is_empty()) {
        // The parent was checked when it was proposed; if it does not decode
        // now, this replica's rules changed, and the child is judged alone.
        if let Ok(parent) = BlockProposal::decode(parent)
            && proposal.timestamp_ms < parent.timestamp_ms
        {
            return Err(ProposalError::TimeBackwards {
                timestamp_ms: proposal.timestamp_ms,
                parent_ms: parent.timestamp_ms,
            });
        }
    }
    if let Some(now_ms) = cx.now_ms
        && proposal.timestamp_ms > now_ms.saturating_add(CLOCK_SKEW_MAX_MS)
    {
        return Err(ProposalError::TimeAhead {
            timestamp_ms: proposal.timestamp_ms,
            now_ms,
        });
    }
    let check = |(index, bytes): (usize, &Vec<u8>)| check_tx(cx, &proposal, index, bytes);
    let ids: Vec<TxId> = match cx.pool {
        Some(pool) if proposal.txs.len() >= PARALLEL_CHECK_MIN_TXS => pool.install(|| {
            proposal
                .txs
                .par_iter()
                .enumerate()
                .map(check)
                .collect::<Result<_, _>>()
        })?,
        _ => proposal
            .txs
            .iter()
            .enumerate()
            .map(check)
            .collect::<Result<_, _>>()?,
    };
    let mut seen = HashSet::with_capacity(ids.len());
    for id in ids {
        if !seen.insert(id) {
            return Err(ProposalError::Duplicate(id));
        }
    }
    Ok(Some(proposal))
}

/// Checks one transaction; returns its id.
fn check_tx(
    cx: &ProposalContext<'_>,
    proposal: &BlockProposal,
    index: usize,
    bytes: &[u8],
) -> Result<TxId, ProposalError> {
    let bad = |code: InvalidCode, reason: String| ProposalError::BadTransaction {
        index,
        code,
        reason,
    };
    let tx = decode_tx(bytes, cx.config.limits.max_tx_bytes as usize).map_err(|e| {
        let code = match e {
            crate::codec::CodecError::TooLarge { .. } => InvalidCode::TooLarge,
            _ => InvalidCode::Malformed,
        };
        bad(code, e.to_string())
    })?;
    let id = tx_id(&tx);
    if (cx.known_good)(&id, bytes) {
        return Ok(id);
    }
    match admit(
        bytes,
        cx.config,
        proposal.timestamp_ms,
        cx.resolve,
        cx.cert_cache,
    ) {
        Ok(_) => Ok(id),
        Err(AdmitError::Store(e)) => Err(ProposalError::Store(e)),
        Err(AdmitError::Rejected(r)) => match r.code {
            // State- and time-dependent verdicts: execution decides them
            // on the state the block really builds on.
            InvalidCode::UnknownCertificate
            | InvalidCode::CertificateExpired
            | InvalidCode::CertificateNotYetValid
            | InvalidCode::CertificateRevoked => Ok(id),
            code => Err(bad(code, r.reason)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_is_the_encoding_length() {
        for txs in [vec![], vec![vec![1u8; 3]], vec![vec![2u8; 400]; 17]] {
            let tx_bytes: u64 = txs.iter().map(|t| t.len() as u64).sum();
            let count = txs.len() as u64;
            let p = BlockProposal {
                txs,
                timestamp_ms: 7,
                proposer: PublicKey([9; 32]),
            };
            assert_eq!(
                p.encode().len() as u64,
                BlockProposal::encoded_len(count, tx_bytes)
            );
        }
    }
}

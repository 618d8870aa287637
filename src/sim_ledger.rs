//! The consensus simulator with the ledger's real block validation.
//!
//! [`LedgerRules`] plugs the engine into the simulator's pluggable validity
//! rule ([`PayloadRules`]): payloads are [`BlockProposal`]s of real signed
//! token transfers from a development network, replicas vote only for
//! proposals the real [`check_proposal`] accepts (as a child of the parent
//! block), Byzantine leaders propose really-invalid ones (forged signature,
//! over the channel limits, unknown proposer, duplicate transaction, time
//! running backwards, undecodable bytes), and the Validity invariant
//! re-checks every committed payload with the same check.
//!
//! Cost: the transaction pool is signed and verified once per process.
//! Afterwards a pool transaction's verdict is memoized by the hash of its
//! exact wire bytes (ed25519 `verify_strict` is a pure function of them),
//! handed to the check as its `known_good` set; any other bytes, a forged
//! copy of a pool transaction included, go through full admission.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use productivist_consensus::NodeId;
use productivist_consensus::sim::rng::SplitMix64;
use productivist_consensus::sim::{PayloadRules, SharedRules};
use productivist_contracts::api::{TOKEN, TransferArgs};
use productivist_engine::config::{ChannelConfig, ConsensusKind};
use productivist_engine::crypto::{Hash, KeyPair, PublicKey, SignatureBytes};
use productivist_engine::devnet::{DEV_NOT_AFTER_MS, DevNet, DevNetSpec};
use productivist_engine::identity::{CertBody, Certificate, Role, issue_certificate};
use productivist_engine::proposal::{
    BlockProposal, ProposalContext, ProposalError, check_proposal,
};
use productivist_engine::store::StoreError;
use productivist_engine::tx::{
    SignerRef, Transaction, TxBody, TxId, decode_tx, encode_tx, sign_tx, tx_id,
};

/// Channel of the simulated network.
const CHANNEL: &str = "public";
/// Transactions per proposal the simulated channel allows. Small, so that a
/// Byzantine leader's over-limit proposal stays small too.
pub const MAX_TXS_PER_PROPOSAL: u32 = 8;
/// Honest proposals carry 1 to this many transactions.
const MAX_TXS_PER_HONEST_PROPOSAL: u64 = 4;
/// Senders in the pool, each signing `NONCES_PER_SENDER` transfers.
const POOL_SENDERS: usize = 16;
/// Transfers per sender in the pool.
const NONCES_PER_SENDER: u64 = 16;
/// Block time of the first proposal; each later one is 1 ms later.
const BASE_TIMESTAMP_MS: u64 = 1_700_000_000_000;

/// Why the simulated network could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SimLedgerError {
    /// Key or certificate generation failed.
    #[error("development network: {0}")]
    DevNet(String),
    /// A pool transaction failed the real check (a bug in the setup).
    #[error("transaction pool refused by the proposal check: {0}")]
    Pool(#[from] ProposalError),
}

/// The ledger's validity rule for simulated proposals.
pub struct LedgerRules {
    config: ChannelConfig,
    /// Node `id`'s key is `node_keys[id - 1]`.
    node_keys: Vec<PublicKey>,
    /// A key that is not a consenter.
    stranger: PublicKey,
    /// Signed transfers' wire bytes.
    pool: Vec<Vec<u8>>,
    /// Hash of exact wire bytes -> id, for transactions verified once.
    verified: HashMap<[u8; 32], TxId>,
    /// Refusals by reason, over the process (reports only: never read by
    /// the simulation, so seeds stay deterministic).
    refusals: [AtomicU64; REFUSAL_KINDS],
}

/// Number of [`Refusals`] fields.
const REFUSAL_KINDS: usize = 6;

/// How many proposals the real check refused, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Undecodable proposal or transaction.
    pub malformed: u64,
    /// Over the channel's block limits.
    pub over_limits: u64,
    /// Proposer not a consenter.
    pub unknown_proposer: u64,
    /// Block time before the parent's.
    pub time_backwards: u64,
    /// A transaction twice.
    pub duplicate: u64,
    /// A transaction with a bad signature (or another refused check).
    pub bad_transaction: u64,
}

fn refusal_index(error: &ProposalError) -> usize {
    match error {
        ProposalError::Malformed(_) => 0,
        ProposalError::OverLimits { .. } => 1,
        ProposalError::UnknownProposer(_) => 2,
        ProposalError::TimeBackwards { .. } | ProposalError::TimeAhead { .. } => 3,
        ProposalError::Duplicate(_) => 4,
        ProposalError::BadTransaction { .. } | ProposalError::Store(_) => 5,
    }
}

impl std::fmt::Debug for LedgerRules {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerRules")
            .field("channel", &self.config.channel_id)
            .field("nodes", &self.node_keys.len())
            .field("pool", &self.pool.len())
            .finish()
    }
}

fn no_certificates(_: &Hash) -> Result<Option<Certificate>, StoreError> {
    Ok(None)
}

fn bytes_key(bytes: &[u8]) -> [u8; 32] {
    *blake3::hash(bytes).as_bytes()
}

impl LedgerRules {
    /// A development network of `nodes` consenters running `kind`, and a
    /// pool of signed transfers verified once with the real check.
    pub fn new(nodes: usize, kind: ConsensusKind) -> Result<LedgerRules, SimLedgerError> {
        let mut spec = DevNetSpec::productivist(Some("sim"));
        spec.nodes = nodes;
        spec.consensus = kind;
        let net = DevNet::generate(&spec).map_err(|e| SimLedgerError::DevNet(e.to_string()))?;
        let mut config = net.config.clone();
        config.limits.max_txs = MAX_TXS_PER_PROPOSAL;
        let node_keys = net.nodes.iter().map(|(_, _, key)| key.public()).collect();
        let customers = net
            .orgs
            .iter()
            .find(|o| o.name == "customers")
            .ok_or_else(|| SimLedgerError::DevNet("no customers organization".into()))?;
        let mut pool = Vec::with_capacity(POOL_SENDERS * NONCES_PER_SENDER as usize);
        for i in 0..POOL_SENDERS {
            let key = KeyPair::from_seed(&format!("sim/sender/{i}"));
            let cert = issue_certificate(
                &customers.root,
                CertBody {
                    subject: format!("s{i}"),
                    org: customers.name.clone(),
                    roles: vec![Role::Customer],
                    public_key: key.public(),
                    not_before_ms: 0,
                    not_after_ms: DEV_NOT_AFTER_MS,
                    serial: 2_000_000 + i as u64,
                },
            )
            .map_err(|e| SimLedgerError::DevNet(e.to_string()))?;
            for nonce in 0..NONCES_PER_SENDER {
                let args = borsh::to_vec(&TransferArgs {
                    to: format!("r{}@customers", (i + 1) % POOL_SENDERS),
                    amount: 1 + nonce,
                    memo: String::new(),
                })
                .unwrap_or_default();
                let tx = sign_tx(
                    TxBody {
                        channel: CHANNEL.into(),
                        signer: SignerRef::Certificate(cert.clone()),
                        nonce,
                        contract: TOKEN.into(),
                        method: "transfer".into(),
                        args,
                    },
                    &key,
                );
                pool.push(encode_tx(&tx));
            }
        }
        let mut rules = LedgerRules {
            config,
            node_keys,
            stranger: KeyPair::from_seed("sim/stranger").public(),
            pool,
            verified: HashMap::new(),
            refusals: Default::default(),
        };
        // Verify the pool once, for real, in proposals within the limits.
        let proposer = rules.node_keys.first().copied().unwrap_or(rules.stranger);
        for chunk in rules.pool.chunks(MAX_TXS_PER_PROPOSAL as usize) {
            let proposal = BlockProposal {
                txs: chunk.to_vec(),
                timestamp_ms: BASE_TIMESTAMP_MS,
                proposer,
            };
            rules.check_with(None, &proposal.encode(), &|_, _| false)?;
        }
        let verified = rules
            .pool
            .iter()
            .filter_map(|bytes| {
                let tx = decode_tx(bytes, usize::MAX).ok()?;
                Some((bytes_key(bytes), tx_id(&tx)))
            })
            .collect();
        rules.verified = verified;
        Ok(rules)
    }

    /// [`LedgerRules::new`], shared.
    pub fn shared(nodes: usize, kind: ConsensusKind) -> Result<SharedRules, SimLedgerError> {
        Ok(Arc::new(Self::new(nodes, kind)?))
    }

    /// Proposals refused so far in this process, by reason.
    pub fn refusals(&self) -> Refusals {
        let n = |i: usize| self.refusals[i].load(Ordering::Relaxed);
        Refusals {
            malformed: n(0),
            over_limits: n(1),
            unknown_proposer: n(2),
            time_backwards: n(3),
            duplicate: n(4),
            bad_transaction: n(5),
        }
    }

    /// The channel config proposals are checked against.
    pub fn config(&self) -> &ChannelConfig {
        &self.config
    }

    /// The signed transfers payloads are drawn from.
    pub fn pool(&self) -> &[Vec<u8>] {
        &self.pool
    }

    /// Node `id`'s key (the stranger's for an unknown id).
    pub fn node_key(&self, id: NodeId) -> PublicKey {
        usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| self.node_keys.get(i))
            .copied()
            .unwrap_or(self.stranger)
    }

    /// The real check, with `known_good` deciding which transactions'
    /// signatures and certificates are already verified.
    fn check_with(
        &self,
        parent: Option<&[u8]>,
        payload: &[u8],
        known_good: &(dyn Fn(&TxId, &[u8]) -> bool + Sync),
    ) -> Result<Option<BlockProposal>, ProposalError> {
        let cx = ProposalContext {
            config: &self.config,
            now_ms: None,
            resolve: &no_certificates,
            cert_cache: None,
            known_good,
            pool: None,
        };
        check_proposal(&cx, parent, payload)
    }

    /// The check a replica runs before voting, with pool transactions'
    /// verdicts memoized by their exact bytes.
    pub fn check_proposal(
        &self,
        parent: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<Option<BlockProposal>, ProposalError> {
        if payload.is_empty() {
            return self.check_with(parent, payload, &|_, _| false);
        }
        let proposal = BlockProposal::decode(payload)?;
        // Ids of exactly-known bytes only: a forged copy of a pool
        // transaction shares its id but not its bytes, so it is verified.
        let known: HashSet<TxId> = proposal
            .txs
            .iter()
            .filter_map(|tx| self.verified.get(&bytes_key(tx)).copied())
            .collect();
        self.check_with(parent, payload, &|id, _| known.contains(id))
    }

    fn pick_txs(&self, count: usize, rng: &mut SplitMix64) -> Vec<Vec<u8>> {
        let count = count.min(self.pool.len());
        let mut picked: Vec<usize> = Vec::with_capacity(count);
        // Bounded: at most `count` distinct picks, each retried a few times.
        for _ in 0..count * 4 {
            if picked.len() == count {
                break;
            }
            let i = rng.below(self.pool.len() as u64) as usize;
            if !picked.contains(&i) {
                picked.push(i);
            }
        }
        picked.into_iter().map(|i| self.pool[i].clone()).collect()
    }

    fn forge(&self, tx_bytes: &[u8], rng: &mut SplitMix64) -> Vec<u8> {
        let Ok(tx) = decode_tx(tx_bytes, usize::MAX) else {
            return tx_bytes.to_vec();
        };
        let mut signature = tx.signature().0;
        let at = rng.below(64) as usize;
        signature[at] ^= 1 << rng.below(8);
        match Transaction::from_parts(
            "transaction",
            tx.bytes().to_vec(),
            SignatureBytes(signature),
        ) {
            Ok(forged) => encode_tx(&forged),
            Err(_) => tx_bytes.to_vec(),
        }
    }
}

impl PayloadRules for LedgerRules {
    fn make(&self, proposer: NodeId, seq: u64, rng: &mut SplitMix64) -> Vec<u8> {
        let count = 1 + rng.below(MAX_TXS_PER_HONEST_PROPOSAL) as usize;
        BlockProposal {
            txs: self.pick_txs(count, rng),
            // Distinct per seq: the harness tells its probes apart by bytes.
            timestamp_ms: BASE_TIMESTAMP_MS + seq,
            proposer: self.node_key(proposer),
        }
        .encode()
    }

    fn check(&self, parent: Option<&[u8]>, payload: &[u8]) -> Result<(), String> {
        self.check_proposal(parent, payload)
            .map(|_| ())
            .map_err(|e| {
                self.refusals[refusal_index(&e)].fetch_add(1, Ordering::Relaxed);
                e.to_string()
            })
    }

    fn make_invalid(
        &self,
        proposer: NodeId,
        parent: Option<&[u8]>,
        honest: &[u8],
        rng: &mut SplitMix64,
    ) -> Vec<u8> {
        let parent_ms = parent
            .and_then(|p| BlockProposal::decode(p).ok())
            .map(|p| p.timestamp_ms);
        let mut proposal = BlockProposal::decode(honest)
            .ok()
            .filter(|p| !p.txs.is_empty())
            .unwrap_or_else(|| BlockProposal {
                txs: self.pick_txs(2, rng),
                timestamp_ms: parent_ms.unwrap_or(BASE_TIMESTAMP_MS),
                proposer: self.node_key(proposer),
            });
        match rng.below(6) {
            0 => {
                proposal.proposer = self.stranger;
            }
            1 => {
                proposal.txs = self.pick_txs(MAX_TXS_PER_PROPOSAL as usize + 1, rng);
            }
            2 => {
                let first = proposal.txs[0].clone();
                proposal.txs.push(first);
            }
            3 if parent_ms.is_some_and(|ms| ms > 0) => {
                proposal.timestamp_ms = parent_ms.unwrap_or(1) - 1;
            }
            4 => {
                let mut bytes = proposal.encode();
                bytes.truncate(bytes.len() / 2);
                return bytes;
            }
            _ => {
                let at = rng.below(proposal.txs.len() as u64) as usize;
                proposal.txs[at] = self.forge(&proposal.txs[at], rng);
            }
        }
        proposal.encode()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_proposals_pass_and_every_invalid_kind_is_refused() {
        let rules = LedgerRules::new(4, ConsensusKind::Bft).expect("rules");
        let mut rng = SplitMix64::new(1);
        let parent = rules.make(1, 10, &mut rng);
        assert_eq!(rules.check(None, &parent), Ok(()));
        let mut refused = 0;
        for seq in 11..200 {
            let honest = rules.make(2, seq, &mut rng);
            assert_eq!(rules.check(Some(&parent), &honest), Ok(()));
            let bad = rules.make_invalid(2, Some(&parent), &honest, &mut rng);
            assert!(rules.check(Some(&parent), &bad).is_err());
            refused += 1;
        }
        assert_eq!(refused, 189);
    }

    #[test]
    fn a_forged_copy_of_a_verified_transaction_is_refused() {
        let rules = LedgerRules::new(4, ConsensusKind::Bft).expect("rules");
        let mut rng = SplitMix64::new(2);
        let good = rules.pool()[0].clone();
        let forged = rules.forge(&good, &mut rng);
        assert_ne!(good, forged);
        let proposal = |tx: Vec<u8>| BlockProposal {
            txs: vec![tx],
            timestamp_ms: BASE_TIMESTAMP_MS,
            proposer: rules.node_key(1),
        };
        assert!(rules.check_proposal(None, &proposal(good).encode()).is_ok());
        let err = rules
            .check_proposal(None, &proposal(forged).encode())
            .expect_err("forged signature refused");
        assert!(matches!(err, ProposalError::BadTransaction { .. }), "{err}");
    }
}

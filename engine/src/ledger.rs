//! The ledger of one channel: genesis, proposing, verifying and committing
//! blocks, and queries. A deterministic state machine over a [`Store`]: no
//! clock, no threads, no I/O besides the store.

use crate::block::{Block, BlockError, BlockHeader, TxResult};
use crate::codec;
use crate::config::ChannelConfig;
use crate::context::TxContext;
use crate::contract::{BlockInfo, ContractError, Contracts};
use crate::crypto::{Hash, PublicKey};
use crate::executor::{ExecutionOutput, StoreView, execute_block, resolve_cert};
use crate::identity::{CertCache, Certificate, Identity};
use crate::state::StateView;
use crate::state_root::LtHash;
use crate::store::pending::PendingSnapshot;
use crate::store::{BlockCommit, Head, HistoryEntry, Store, StoreError, TxLocation};
use crate::system::{CONFIG_CONTRACT, ConfigContract, config_state_key, genesis_config};
use crate::tx::{Transaction, decode_tx};
use std::sync::Arc;

/// A ledger failure.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A block was refused.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// The genesis block or transaction is not acceptable.
    #[error("invalid genesis: {0}")]
    Genesis(String),
    /// The ledger has no genesis yet.
    #[error("the ledger has no genesis block yet")]
    NoGenesis,
    /// The ledger already has a genesis block.
    #[error("the ledger already has a genesis block")]
    AlreadyInitialized,
    /// The store holds data the ledger cannot read.
    #[error("corrupt ledger: {0}")]
    Corrupt(String),
}

/// A block executed on top of the current head, ready to commit.
#[derive(Debug)]
pub struct ExecutedBlock {
    /// The block.
    pub block: Block,
    /// Its encoding.
    pub bytes: Vec<u8>,
    /// Its hash.
    pub hash: Hash,
    commit: BlockCommit,
    lthash: LtHash,
    config_changed: bool,
}

/// What [`Ledger::commit_and_propose`] and [`Ledger::commit_and_verify`]
/// return: the durable head, and the next block executed on top of it.
#[derive(Debug)]
pub struct Pipelined {
    /// The block just committed: durable when this is returned.
    pub head: Head,
    /// The next block, executed while the commit was written (not
    /// committed), or why it could not be executed.
    pub next: Result<ExecutedBlock, LedgerError>,
}

/// Where a block is executed: on the committed head, or on a block whose
/// commit is in flight.
struct Base<'a> {
    tip: Option<Tip>,
    lthash: &'a LtHash,
    pending: Option<&'a ExecutedBlock>,
}

/// A committed transaction with its result.
#[derive(Debug, Clone)]
pub struct TxRecord {
    /// Where it is.
    pub location: TxLocation,
    /// The transaction.
    pub tx: Transaction,
    /// Its result.
    pub result: TxResult,
    /// The block's time.
    pub timestamp_ms: u64,
}

#[derive(Clone, Copy, Debug)]
struct Tip {
    head: Head,
    timestamp_ms: u64,
}

/// The ledger of one channel.
pub struct Ledger<S: Store> {
    store: S,
    contracts: Contracts,
    channel: Option<String>,
    config: Option<Arc<ChannelConfig>>,
    tip: Option<Tip>,
    lthash: LtHash,
    threads: usize,
    pool: Option<Arc<rayon::ThreadPool>>,
    cert_cache: CertCache,
}

impl<S: Store> Ledger<S> {
    /// Opens a ledger over `store` with these native contracts (system
    /// contracts are added). Recovers the head, config and state root from
    /// the store.
    pub fn open(store: S, mut contracts: Contracts) -> Result<Ledger<S>, LedgerError> {
        contracts.register(CONFIG_CONTRACT, Arc::new(ConfigContract));
        let mut ledger = Ledger {
            store,
            contracts,
            channel: None,
            config: None,
            tip: None,
            lthash: LtHash::zero(),
            threads: 1,
            pool: None,
            cert_cache: CertCache::default(),
        };
        if let Some(head) = ledger.store.head()? {
            let block = ledger.block(head.height)?.ok_or_else(|| {
                LedgerError::Corrupt(format!("head block {} missing", head.height))
            })?;
            ledger.tip = Some(Tip {
                head,
                timestamp_ms: block.header.timestamp_ms,
            });
            ledger.channel = Some(block.header.channel.clone());
            let acc = ledger
                .store
                .lthash()?
                .ok_or_else(|| LedgerError::Corrupt("state accumulator missing".into()))?;
            ledger.lthash = LtHash::from_bytes(&acc).ok_or_else(|| {
                LedgerError::Corrupt("state accumulator has the wrong size".into())
            })?;
            if ledger.lthash.root() != block.header.state_root {
                return Err(LedgerError::Corrupt(format!(
                    "state root {} does not match head block's {}",
                    ledger.lthash.root(),
                    block.header.state_root
                )));
            }
            ledger.reload_config()?;
        }
        Ok(ledger)
    }

    fn reload_config(&mut self) -> Result<(), LedgerError> {
        let bytes = self
            .store
            .get(&config_state_key())?
            .ok_or_else(|| LedgerError::Corrupt("channel config missing from state".into()))?;
        let config: ChannelConfig = codec::decode("channel config", &bytes)
            .map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        self.config = Some(Arc::new(config));
        Ok(())
    }

    /// Sets how many threads validate and execute a block (1 = sequential).
    /// Results do not depend on it.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.clamp(1, 256);
        // A pool per ledger, kept: spawning threads per block would cost
        // more than small blocks take to execute.
        self.pool = if self.threads > 1 {
            rayon::ThreadPoolBuilder::new()
                .num_threads(self.threads)
                .thread_name(|i| format!("ledger-exec-{i}"))
                .build()
                .ok()
                .map(Arc::new)
        } else {
            None
        };
        if self.pool.is_none() {
            self.threads = 1;
        }
    }

    /// The number of execution threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The contracts.
    pub fn contracts(&self) -> &Contracts {
        &self.contracts
    }

    /// The channel id (after genesis).
    pub fn channel(&self) -> Option<&str> {
        self.channel.as_deref()
    }

    /// The config in force for the next block.
    pub fn config(&self) -> Option<&Arc<ChannelConfig>> {
        self.config.as_ref()
    }

    /// The last committed block.
    pub fn head(&self) -> Option<Head> {
        self.tip.map(|t| t.head)
    }

    /// The time of the last committed block.
    pub fn head_time_ms(&self) -> Option<u64> {
        self.tip.map(|t| t.timestamp_ms)
    }

    /// The state root after the last committed block.
    pub fn state_root(&self) -> Hash {
        self.lthash.root()
    }

    /// Builds the genesis block from a `_config.genesis` transaction.
    pub fn build_genesis(
        &self,
        genesis_tx: Vec<u8>,
        timestamp_ms: u64,
        proposer: PublicKey,
    ) -> Result<ExecutedBlock, LedgerError> {
        if self.tip.is_some() {
            return Err(LedgerError::AlreadyInitialized);
        }
        let config = Self::genesis_config_of(&genesis_tx)?;
        let executed = self.execute(
            &self.base(),
            &config,
            vec![genesis_tx],
            &[],
            0,
            Hash::ZERO,
            timestamp_ms,
            proposer,
        )?;
        if let Some(r) = executed.block.results.iter().find(|r| !r.status.is_valid()) {
            return Err(LedgerError::Genesis(r.status.to_string()));
        }
        Ok(executed)
    }

    /// The config of block 0, which later configs replace. Running nodes
    /// number consenters by their position in it (stable across updates).
    pub fn genesis_config(&self) -> Result<Option<ChannelConfig>, LedgerError> {
        match self.block(0)? {
            None => Ok(None),
            Some(b) => match b.txs.first() {
                Some(tx) => Ok(Some(Self::genesis_config_of(tx)?)),
                None => Err(LedgerError::Corrupt("block 0 has no genesis".into())),
            },
        }
    }

    fn genesis_config_of(genesis_tx: &[u8]) -> Result<ChannelConfig, LedgerError> {
        let tx =
            decode_tx(genesis_tx, usize::MAX).map_err(|e| LedgerError::Genesis(e.to_string()))?;
        genesis_config(&tx).map_err(LedgerError::Genesis)
    }

    /// Executes `txs` as the next block (not committed).
    pub fn propose(
        &self,
        txs: Vec<Vec<u8>>,
        timestamp_ms: u64,
        proposer: PublicKey,
    ) -> Result<ExecutedBlock, LedgerError> {
        self.propose_on(&self.base(), txs, &[], timestamp_ms, proposer)
    }

    /// [`Ledger::propose`] for a node that verified some of these
    /// transactions' signatures itself, on admission to its mempool:
    /// `signatures_verified[i]` says that the caller verified the signature
    /// of exactly the bytes `txs[i]` (missing entries are false). Execution
    /// skips only that check for them; decoding, the certificate (its
    /// organization, validity at the block's time, revocation) and replay
    /// are checked as for any transaction, so the block and its results are
    /// the same as [`Ledger::propose`]'s. Never set a flag for bytes that
    /// came from elsewhere (a peer's block): a transaction with the same id
    /// but another signature has other bytes.
    pub fn propose_verified(
        &self,
        txs: Vec<Vec<u8>>,
        signatures_verified: &[bool],
        timestamp_ms: u64,
        proposer: PublicKey,
    ) -> Result<ExecutedBlock, LedgerError> {
        self.propose_on(
            &self.base(),
            txs,
            signatures_verified,
            timestamp_ms,
            proposer,
        )
    }

    fn propose_on(
        &self,
        base: &Base<'_>,
        txs: Vec<Vec<u8>>,
        signatures_verified: &[bool],
        timestamp_ms: u64,
        proposer: PublicKey,
    ) -> Result<ExecutedBlock, LedgerError> {
        let tip = base.tip.ok_or(LedgerError::NoGenesis)?;
        let config = self.config.clone().ok_or(LedgerError::NoGenesis)?;
        // Block time never goes backwards, whatever the proposer's clock says.
        let timestamp_ms = timestamp_ms.max(tip.timestamp_ms);
        self.execute(
            base,
            &config,
            txs,
            signatures_verified,
            tip.head.height + 1,
            tip.head.hash,
            timestamp_ms,
            proposer,
        )
    }

    fn base(&self) -> Base<'_> {
        Base {
            tip: self.tip,
            lthash: &self.lthash,
            pending: None,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn execute(
        &self,
        base: &Base<'_>,
        config: &ChannelConfig,
        txs: Vec<Vec<u8>>,
        signatures_verified: &[bool],
        height: u64,
        prev_hash: Hash,
        timestamp_ms: u64,
        proposer: PublicKey,
    ) -> Result<ExecutedBlock, LedgerError> {
        // The channel's block limits bind proposers and verifiers alike.
        let block_bytes: u64 = txs.iter().map(|t| t.len() as u64).sum();
        if txs.len() > config.limits.max_txs as usize || block_bytes > config.limits.max_block_bytes
        {
            return Err(BlockError::Invalid {
                height,
                reason: format!(
                    "{} transactions / {block_bytes} bytes exceed the channel limits ({} / {})",
                    txs.len(),
                    config.limits.max_txs,
                    config.limits.max_block_bytes
                ),
            }
            .into());
        }
        let info = BlockInfo {
            channel: config.channel_id.clone(),
            height,
            timestamp_ms,
        };
        let committed = self.store.snapshot()?;
        let layered = base.pending.map(|p| {
            PendingSnapshot::new(
                &*committed,
                &p.commit.writes,
                p.commit.height,
                &p.commit.txs,
            )
        });
        let snapshot: &dyn crate::store::Snapshot = match &layered {
            Some(l) => l,
            None => &*committed,
        };
        let out = execute_block(
            snapshot,
            &self.contracts,
            config,
            &info,
            &txs,
            signatures_verified,
            self.pool.as_deref(),
            &self.cert_cache,
        )?;
        self.seal(snapshot, base.lthash, out, txs, info, prev_hash, proposer)
    }

    /// The state-root change of a block computed from its final writes:
    /// O(keys written), removing each key's committed pair and adding its new
    /// one. The sequential reference; the parallel path sums per-transaction
    /// deltas instead, which the group structure makes equal.
    fn state_delta(
        snapshot: &dyn crate::store::Snapshot,
        out: &ExecutionOutput,
    ) -> Result<LtHash, StoreError> {
        let mut d = LtHash::zero();
        for w in out.writes.finals() {
            if let Some(old) = snapshot.get(&w.key)? {
                d.remove(&w.key, &old);
            }
            if let Some(new) = &w.value {
                d.insert(&w.key, new);
            }
        }
        Ok(d)
    }

    #[allow(clippy::too_many_arguments)]
    fn seal(
        &self,
        snapshot: &dyn crate::store::Snapshot,
        base_lthash: &LtHash,
        mut out: ExecutionOutput,
        txs: Vec<Vec<u8>>,
        info: BlockInfo,
        prev_hash: Hash,
        proposer: PublicKey,
    ) -> Result<ExecutedBlock, LedgerError> {
        let mut lthash = base_lthash.clone();
        let config_changed = out.writes.contains_key(&config_state_key());
        let mut result_bytes = None;
        let (tx_root, results_root) = match out.sealing.take() {
            // The parallel path hashed every leaf and the state-root delta
            // while it executed; only the two trees are left.
            Some(sealing) => {
                lthash.combine(&sealing.state_delta);
                result_bytes = Some(sealing.result_bytes);
                match self.pool.as_deref() {
                    Some(pool) => pool.join(
                        || crate::merkle::root(sealing.tx_leaves),
                        || crate::merkle::root(sealing.result_leaves),
                    ),
                    None => (
                        crate::merkle::root(sealing.tx_leaves),
                        crate::merkle::root(sealing.result_leaves),
                    ),
                }
            }
            None => {
                lthash.combine(&Self::state_delta(snapshot, &out)?);
                (Block::tx_root(&txs), Block::results_root(&out.results))
            }
        };
        let header = BlockHeader {
            channel: info.channel,
            height: info.height,
            prev_hash,
            tx_root,
            results_root,
            state_root: lthash.root(),
            timestamp_ms: info.timestamp_ms,
            proposer,
        };
        let block = Block {
            header,
            txs,
            results: out.results,
        };
        let bytes = match &result_bytes {
            Some(r) => block.encode_with_results(r),
            None => block.encode(),
        };
        drop(result_bytes);
        let hash = block.header.hash();
        let commit = BlockCommit {
            height: block.header.height,
            hash,
            // Filled with `bytes` when committed: a large block is not
            // copied for nothing.
            block: Vec::new(),
            txs: out.tx_index,
            writes: out.writes,
            lthash: lthash.to_bytes(),
        };
        Ok(ExecutedBlock {
            block,
            bytes,
            hash,
            commit,
            lthash,
            config_changed,
        })
    }

    /// Verifies a block received from elsewhere (a peer, a leader) by
    /// re-executing it: the chain link, the time, the roots, every result
    /// and the state root must match. Returns it ready to commit.
    pub fn verify(&self, bytes: &[u8]) -> Result<ExecutedBlock, LedgerError> {
        self.verify_on(&self.base(), bytes)
    }

    fn verify_on(&self, base: &Base<'_>, bytes: &[u8]) -> Result<ExecutedBlock, LedgerError> {
        let decoded = Block::decode(bytes)?;
        let block = decoded.block;
        let h = &block.header;
        let invalid = |reason: String| BlockError::Invalid {
            height: h.height,
            reason,
        };
        block.check_body()?;
        let (config, prev_hash) = match base.tip {
            None => {
                if h.height != 0 || h.prev_hash != Hash::ZERO || block.txs.len() != 1 {
                    return Err(
                        invalid("expected a genesis block with one transaction".into()).into(),
                    );
                }
                (Self::genesis_config_of(&block.txs[0])?, Hash::ZERO)
            }
            Some(tip) => {
                if h.height != tip.head.height + 1 {
                    return Err(invalid(format!("expected height {}", tip.head.height + 1)).into());
                }
                if h.prev_hash != tip.head.hash {
                    return Err(invalid("previous hash does not match our head".into()).into());
                }
                if h.timestamp_ms < tip.timestamp_ms {
                    return Err(invalid("timestamp goes backwards".into()).into());
                }
                let config = self
                    .config
                    .as_deref()
                    .ok_or(LedgerError::NoGenesis)?
                    .clone();
                (config, tip.head.hash)
            }
        };
        if h.channel != config.channel_id {
            return Err(invalid(format!("block for channel {:?}", h.channel)).into());
        }
        let executed = self.execute(
            base,
            &config,
            block.txs.clone(),
            &[],
            h.height,
            prev_hash,
            h.timestamp_ms,
            h.proposer,
        )?;
        if executed.block.results != block.results {
            return Err(invalid("results differ from re-execution".into()).into());
        }
        if executed.block.header != block.header || executed.hash != decoded.hash {
            return Err(invalid("header differs from re-execution (state root?)".into()).into());
        }
        Ok(ExecutedBlock {
            bytes: bytes.to_vec(),
            ..executed
        })
    }

    /// Commits an executed block: one atomic, durable store write.
    pub fn commit(&mut self, mut executed: ExecutedBlock) -> Result<Head, LedgerError> {
        self.check_on_tip(&executed)?;
        executed.commit.block = std::mem::take(&mut executed.bytes);
        self.store.commit_block(&executed.commit)?;
        self.committed(executed)
    }

    fn check_on_tip(&self, executed: &ExecutedBlock) -> Result<(), LedgerError> {
        let expected = self.tip.map_or(0, |t| t.head.height + 1);
        if executed.block.header.height != expected
            || executed.block.header.prev_hash != self.tip.map_or(Hash::ZERO, |t| t.head.hash)
        {
            return Err(BlockError::Invalid {
                height: executed.block.header.height,
                reason: "executed on a different head; re-execute".into(),
            }
            .into());
        }
        Ok(())
    }

    /// Moves the ledger to `executed` once the store holds it.
    fn committed(&mut self, executed: ExecutedBlock) -> Result<Head, LedgerError> {
        let head = Head {
            height: executed.block.header.height,
            hash: executed.hash,
        };
        self.tip = Some(Tip {
            head,
            timestamp_ms: executed.block.header.timestamp_ms,
        });
        self.lthash = executed.lthash;
        if self.channel.is_none() {
            self.channel = Some(executed.block.header.channel.clone());
        }
        if executed.config_changed {
            self.reload_config()?;
        }
        debug_assert_eq!(self.lthash.root(), executed.block.header.state_root);
        Ok(head)
    }

    /// Commits `executed` (block N) and, while its store write is in
    /// flight, executes `txs` as block N+1 on top of it, reading N's writes
    /// and transactions from memory. The result equals [`Ledger::commit`]
    /// followed by [`Ledger::propose`].
    ///
    /// The head is returned only once N's write is durable; if that write
    /// fails, the ledger stays where it was and N+1 is dropped. N+1 is never
    /// committed here: commit it (or pipeline it with N+2) next. A block
    /// that changes the channel config is committed first and N+1 executed
    /// after, since N+1 must run under the new config.
    pub fn commit_and_propose(
        &mut self,
        executed: ExecutedBlock,
        txs: Vec<Vec<u8>>,
        timestamp_ms: u64,
        proposer: PublicKey,
    ) -> Result<Pipelined, LedgerError> {
        self.pipeline(executed, |ledger, base| {
            ledger.propose_on(base, txs, &[], timestamp_ms, proposer)
        })
    }

    /// Like [`Ledger::commit_and_propose`], for a block N+1 received from
    /// elsewhere: verifies `next` on top of `executed` while `executed` is
    /// written.
    pub fn commit_and_verify(
        &mut self,
        executed: ExecutedBlock,
        next: &[u8],
    ) -> Result<Pipelined, LedgerError> {
        self.pipeline(executed, |ledger, base| ledger.verify_on(base, next))
    }

    fn pipeline(
        &mut self,
        mut executed: ExecutedBlock,
        run_next: impl FnOnce(&Self, &Base<'_>) -> Result<ExecutedBlock, LedgerError> + Send,
    ) -> Result<Pipelined, LedgerError> {
        self.check_on_tip(&executed)?;
        if executed.config_changed {
            let head = self.commit(executed)?;
            let next = run_next(self, &self.base());
            return Ok(Pipelined { head, next });
        }
        executed.commit.block = std::mem::take(&mut executed.bytes);
        let ledger: &Self = self;
        let base = Base {
            tip: Some(Tip {
                head: Head {
                    height: executed.block.header.height,
                    hash: executed.hash,
                },
                timestamp_ms: executed.block.header.timestamp_ms,
            }),
            lthash: &executed.lthash,
            pending: Some(&executed),
        };
        // The one thread the ledger starts itself: the store write, which
        // mostly waits on the disk, runs beside the next block's execution.
        // Both only read the ledger; neither result depends on the timing.
        let (written, next) = std::thread::scope(|scope| {
            let writer = scope.spawn(|| ledger.store.commit_block(&executed.commit));
            let next = run_next(ledger, &base);
            let written = writer
                .join()
                .unwrap_or_else(|_| Err(StoreError::Backend("the commit thread panicked".into())));
            (written, next)
        });
        written?;
        let head = self.committed(executed)?;
        Ok(Pipelined { head, next })
    }

    /// Executes and commits `txs` as the next block (the embedded,
    /// single-node path). Returns the committed block.
    pub fn submit_block(
        &mut self,
        txs: Vec<Vec<u8>>,
        timestamp_ms: u64,
        proposer: PublicKey,
    ) -> Result<Block, LedgerError> {
        let executed = self.propose(txs, timestamp_ms, proposer)?;
        let block = executed.block.clone();
        self.commit(executed)?;
        Ok(block)
    }

    /// The block at `height`.
    pub fn block(&self, height: u64) -> Result<Option<Block>, LedgerError> {
        match self.store.block(height)? {
            None => Ok(None),
            Some(bytes) => Ok(Some(
                Block::decode(&bytes)
                    .map_err(|e| LedgerError::Corrupt(format!("block {height}: {e}")))?
                    .block,
            )),
        }
    }

    /// The encoded block at `height`.
    pub fn block_bytes(&self, height: u64) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.store.block(height)?)
    }

    /// The block with this hash.
    pub fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, LedgerError> {
        match self.store.height_of(hash)? {
            None => Ok(None),
            Some(h) => self.block(h),
        }
    }

    /// A committed transaction and its result.
    pub fn tx(&self, id: &Hash) -> Result<Option<TxRecord>, LedgerError> {
        let Some(location) = self.store.tx_location(id)? else {
            return Ok(None);
        };
        let block = self
            .block(location.height)?
            .ok_or_else(|| LedgerError::Corrupt(format!("block {} missing", location.height)))?;
        let i = location.index as usize;
        let (Some(bytes), Some(result)) = (block.txs.get(i), block.results.get(i)) else {
            return Err(LedgerError::Corrupt(format!(
                "tx index points past block {}",
                location.height
            )));
        };
        let tx = decode_tx(bytes, usize::MAX).map_err(|e| LedgerError::Corrupt(e.to_string()))?;
        Ok(Some(TxRecord {
            location,
            tx,
            result: result.clone(),
            timestamp_ms: block.header.timestamp_ms,
        }))
    }

    /// The committed value of `key` in `contract`'s key space.
    pub fn state(&self, contract: &str, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.store.get(&crate::contract::state_key(contract, key))?)
    }

    /// The latest `limit` writes to `key` in `contract`'s key space.
    pub fn history(
        &self,
        contract: &str,
        key: &[u8],
        limit: usize,
    ) -> Result<Vec<HistoryEntry>, LedgerError> {
        Ok(self
            .store
            .history(&crate::contract::state_key(contract, key), limit)?)
    }

    /// A certificate registered on the channel.
    pub fn certificate(&self, id: &Hash) -> Result<Option<Certificate>, LedgerError> {
        Ok(resolve_cert(&StoreView(&self.store), id)?)
    }

    /// Checks a consensus proposal as a child of `parent` against the
    /// committed config and certificates, on the ledger's thread pool (see
    /// [`crate::proposal`]). `known_good` says which transactions' exact
    /// bytes were already verified (the mempool's verdicts); `now_ms` bounds
    /// block time.
    pub fn check_proposal(
        &self,
        parent: Option<&[u8]>,
        payload: &[u8],
        now_ms: Option<u64>,
        known_good: &(dyn Fn(&crate::tx::TxId, &[u8]) -> bool + Sync),
    ) -> Result<Option<crate::proposal::BlockProposal>, crate::proposal::ProposalError> {
        let config = self
            .config
            .as_deref()
            .ok_or(crate::proposal::ProposalError::Malformed(
                "the ledger has no genesis block yet".into(),
            ))?;
        let store: &dyn Store = &self.store;
        let resolve = |id: &Hash| resolve_cert(&StoreView(store), id);
        let cx = crate::proposal::ProposalContext {
            config,
            now_ms,
            resolve: &resolve,
            cert_cache: Some(&self.cert_cache),
            known_good,
            pool: self.pool.as_deref(),
        };
        crate::proposal::check_proposal(&cx, parent, payload)
    }

    /// A read-only call against the committed state, as `caller`, at the
    /// head's height and time.
    pub fn query(
        &self,
        caller: &Identity,
        contract: &str,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        let config = self
            .config
            .as_deref()
            .ok_or_else(|| ContractError::Refused("the ledger has no genesis yet".into()))?;
        let tip = self
            .tip
            .ok_or_else(|| ContractError::Refused("the ledger has no genesis yet".into()))?;
        let info = BlockInfo {
            channel: config.channel_id.clone(),
            height: tip.head.height,
            timestamp_ms: tip.timestamp_ms,
        };
        let view = StoreView(&self.store);
        let state: &dyn StateView = &view;
        let mut ctx = TxContext::new(
            state,
            &self.contracts,
            config,
            &info,
            caller,
            Hash::ZERO,
            contract,
            true,
        );
        ctx.run(method, args)
    }
}

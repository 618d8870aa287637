//! The embedded single-node ledger: one process, one data directory, no
//! consensus round trips. What a fab-lab appliance runs, and what
//! `productivist demo` and the read commands use.

use crate::network::{self, LoadedNetwork, NetworkError};
use productivist_engine::block::Block;
use productivist_engine::crypto::KeyPair;
use productivist_engine::devnet::{DevNet, DevNetSpec};
use productivist_engine::ledger::{Ledger, LedgerError};
use productivist_engine::store::{RedbStore, Store, StoreError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The default data directory.
pub const DEFAULT_DATA_DIR: &str = ".productivist";
/// The channel the embedded ledger serves.
pub const PUBLIC_CHANNEL: &str = "public";

/// Why the embedded ledger could not be opened or used.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    /// The network files.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The ledger.
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The store.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No ledger at that place.
    #[error("no ledger in {0}; run `productivist demo` (or `productivist init`) first")]
    Missing(PathBuf),
    /// Something else, said plainly.
    #[error("{0}")]
    Other(String),
}

/// The contracts every Productivist channel offers: the native
/// applications, the `_wasm` lifecycle and the resolver of deployed WASM
/// contracts.
pub fn native_contracts() -> productivist_engine::contract::Contracts {
    let mut contracts = productivist_engine::contract::Contracts::new();
    productivist_contracts::register_natives(&mut contracts);
    // User contracts deployed on the channel run on the WASM host.
    productivist_contracts::register_wasm(&mut contracts);
    contracts
}

/// The ledger file of a channel in a data directory.
pub fn ledger_path(data: &Path, channel: &str) -> PathBuf {
    data.join("channels").join(channel).join("ledger.redb")
}

/// The network directory inside a data directory.
pub fn network_dir(data: &Path) -> PathBuf {
    data.join("network")
}

/// Milliseconds since the Unix epoch by the wall clock: the node shell's
/// input to the engine as the proposed block time.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// A shared, type-erased store.
pub type DynStore = Arc<dyn Store>;

/// An embedded ledger with its network.
pub struct Embedded {
    /// The data directory.
    pub data: PathBuf,
    /// Keys and certificates.
    pub network: LoadedNetwork,
    /// The public channel's ledger.
    pub ledger: Ledger<DynStore>,
    /// This node's key (it proposes every block).
    pub node_key: KeyPair,
}

/// Builds the genesis block of a generated network in memory.
pub fn genesis_block(net: &DevNet, timestamp_ms: u64) -> Result<Vec<u8>, EmbeddedError> {
    let store: DynStore = Arc::new(RedbStore::in_memory()?);
    let ledger = Ledger::open(store, native_contracts())?;
    let proposer = net
        .nodes
        .first()
        .ok_or_else(|| EmbeddedError::Other("a network needs at least one node".into()))?
        .2
        .public();
    Ok(ledger
        .build_genesis(net.genesis_bytes(), timestamp_ms, proposer)?
        .bytes)
}

/// Opens a channel's ledger read-only in spirit (the read commands); refuses
/// to create one.
pub fn open_ledger(data: &Path, channel: &str) -> Result<Ledger<DynStore>, EmbeddedError> {
    let path = ledger_path(data, channel);
    if !path.exists() {
        return Err(EmbeddedError::Missing(data.to_path_buf()));
    }
    let store: DynStore = Arc::new(RedbStore::open(&path)?);
    Ok(Ledger::open(store, native_contracts())?)
}

impl Embedded {
    /// Opens the embedded ledger in `data`, creating a development network
    /// (fresh random keys) and the genesis block on first use.
    pub fn open_or_create(data: &Path) -> Result<(Embedded, bool), EmbeddedError> {
        let net_dir = network_dir(data);
        let mut created = false;
        if !network::exists(&net_dir) {
            let net = DevNet::generate(&DevNetSpec::productivist(None))
                .map_err(|e| EmbeddedError::Other(e.to_string()))?;
            let genesis = genesis_block(&net, now_ms())?;
            network::write_network(&net_dir, &net, &genesis, false)?;
            created = true;
        }
        let network = network::load_network(&net_dir)?;
        let node_key = network
            .nodes
            .first()
            .map(|(_, k)| k.clone())
            .ok_or_else(|| EmbeddedError::Other(format!("{}: no node key", net_dir.display())))?;
        let path = ledger_path(data, PUBLIC_CHANNEL);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| EmbeddedError::Other(format!("{}: {e}", parent.display())))?;
        }
        let store: DynStore = Arc::new(RedbStore::open(&path)?);
        let mut ledger = Ledger::open(store, native_contracts())?;
        if ledger.head().is_none() {
            // Every node of the network starts from the same genesis block,
            // verified like any other block.
            let genesis = network.genesis_block(PUBLIC_CHANNEL)?;
            let executed = ledger.verify(&genesis)?;
            ledger.commit(executed)?;
        }
        Ok((
            Embedded {
                data: data.to_path_buf(),
                network,
                ledger,
                node_key,
            },
            created,
        ))
    }

    /// Executes and commits `txs` as the next block, at the wall-clock time.
    pub fn submit(&mut self, txs: Vec<Vec<u8>>) -> Result<Block, EmbeddedError> {
        Ok(self
            .ledger
            .submit_block(txs, now_ms(), self.node_key.public())?)
    }
}

impl Embedded {
    /// A read-only call at the head, as `who`.
    pub fn query_as(
        &self,
        who: &productivist_engine::devnet::Member,
        contract: &str,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, EmbeddedError> {
        let config = self
            .ledger
            .config()
            .ok_or_else(|| EmbeddedError::Other("no genesis".into()))?;
        let head_ms = self.ledger.head_time_ms().unwrap_or(0);
        let identity = productivist_engine::identity::check_certificate(
            &who.cert,
            &config.orgs,
            &config.revocations,
            head_ms,
        )
        .map_err(|e| EmbeddedError::Other(format!("{}: {e}", who.account())))?;
        self.ledger
            .query(&identity, contract, method, args)
            .map_err(|e| EmbeddedError::Other(format!("{contract}.{method}: {e}")))
    }
}

/// The story's cast, from a network's members.
pub fn cast_of(
    n: &LoadedNetwork,
    platform: Option<String>,
) -> Result<crate::story::Cast<'_>, EmbeddedError> {
    let get = |who: &str| {
        n.member(who)
            .ok_or_else(|| EmbeddedError::Other(format!("the network has no member {who:?}")))
    };
    let admins = n.members.iter().filter(|m| m.name == "admin").collect();
    Ok(crate::story::Cast {
        channel: PUBLIC_CHANNEL.into(),
        issuer: get("issuer")?,
        carla: get("carla")?,
        dora: get("dora")?,
        anna: get("anna")?,
        ben: get("ben")?,
        eric: get("eric")?,
        admins,
        platform,
    })
}

/// An identity for read-only queries: `who`'s, checked at the head.
pub fn reader(
    ledger: &Ledger<DynStore>,
    who: &productivist_engine::devnet::Member,
) -> Result<productivist_engine::identity::Identity, EmbeddedError> {
    let config = ledger
        .config()
        .ok_or_else(|| EmbeddedError::Other("no genesis".into()))?;
    productivist_engine::identity::check_certificate(
        &who.cert,
        &config.orgs,
        &config.revocations,
        ledger.head_time_ms().unwrap_or(0),
    )
    .map_err(|e| EmbeddedError::Other(format!("{}: {e}", who.account())))
}

/// The embedded ledger drives the story one block per call.
pub struct EmbeddedChain<'a> {
    /// The ledger.
    pub ledger: &'a mut Ledger<DynStore>,
    /// Who proposes.
    pub proposer: productivist_engine::crypto::PublicKey,
    /// Who queries.
    pub reader: productivist_engine::identity::Identity,
}

impl crate::story::Chain for EmbeddedChain<'_> {
    fn submit(
        &mut self,
        txs: Vec<Vec<u8>>,
    ) -> Result<Vec<(productivist_engine::block::TxResult, u64)>, String> {
        let block = self
            .ledger
            .submit_block(txs, now_ms(), self.proposer)
            .map_err(|e| e.to_string())?;
        let h = block.header.height;
        Ok(block.results.into_iter().map(|r| (r, h)).collect())
    }

    fn query(&mut self, contract: &str, method: &str, args: Vec<u8>) -> Result<Vec<u8>, String> {
        self.ledger
            .query(&self.reader, contract, method, &args)
            .map_err(|e| format!("{contract}.{method}: {e}"))
    }

    fn now_ms(&mut self) -> Result<u64, String> {
        Ok(self.ledger.head_time_ms().unwrap_or(0).max(now_ms()))
    }
}

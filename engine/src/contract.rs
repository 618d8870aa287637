//! The one interface every contract implements, native or WASM, and the
//! context through which it sees the ledger.

use crate::block::InvalidCode;
use crate::config::ChannelConfig;
use crate::identity::Identity;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Longest state key a contract may use, in bytes.
pub const KEY_BYTES_MAX: usize = 1024;
/// Largest value a contract may store, in bytes.
pub const VALUE_BYTES_MAX: usize = 1 << 20;
/// Most writes (puts and deletes) one transaction may make.
pub const WRITES_PER_TX_MAX: usize = 10_000;
/// Most events one transaction may emit.
pub const EVENTS_PER_TX_MAX: usize = 1_024;
/// Largest event payload, in bytes.
pub const EVENT_BYTES_MAX: usize = 64 << 10;
/// Largest output a transaction may return, in bytes.
pub const OUTPUT_BYTES_MAX: usize = 1 << 20;
/// Most rows one range read returns.
pub const RANGE_ROWS_MAX: usize = 1_000;
/// Deepest chain of contract-to-contract calls.
pub const CALL_DEPTH_MAX: usize = 8;

/// What a contract knows about the block it runs in. Contracts never read
/// the wall clock: the block time is the only time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// The channel.
    pub channel: String,
    /// The block's height.
    pub height: u64,
    /// The block's time, ms since the Unix epoch.
    pub timestamp_ms: u64,
}

/// Why a contract call failed. Every variant but [`ContractError::Storage`]
/// makes the transaction invalid and discards its writes; a storage failure
/// is the node's problem, not the transaction's, and stops the block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// A business rule refused the call (wrong state, wrong caller, ...).
    #[error("{0}")]
    Refused(String),
    /// The arguments did not decode or are out of range.
    #[error("bad arguments: {0}")]
    BadArguments(String),
    /// The caller lacks the role or right.
    #[error("not authorized: {0}")]
    NotAuthorized(String),
    /// A policy's endorsements are missing or invalid.
    #[error("policy not satisfied: {0}")]
    PolicyNotSatisfied(String),
    /// A size or count limit was exceeded.
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    /// Out of fuel (WASM).
    #[error("out of fuel: {0}")]
    OutOfFuel(String),
    /// The contract trapped or aborted (WASM).
    #[error("trap: {0}")]
    Trap(String),
    /// No contract by that name.
    #[error("unknown contract {0:?}")]
    UnknownContract(String),
    /// The contract is frozen.
    #[error("contract {0:?} is frozen")]
    Frozen(String),
    /// The store failed underneath: not the transaction's fault.
    #[error("storage failure: {0}")]
    Storage(String),
}

impl ContractError {
    /// The result code this error gives a transaction (`None` for storage
    /// failures, which abort the block instead).
    pub fn code(&self) -> Option<InvalidCode> {
        Some(match self {
            ContractError::Refused(_) => InvalidCode::Refused,
            ContractError::BadArguments(_) => InvalidCode::BadArguments,
            ContractError::NotAuthorized(_) => InvalidCode::NotAuthorized,
            ContractError::PolicyNotSatisfied(_) => InvalidCode::PolicyNotSatisfied,
            ContractError::LimitExceeded(_) => InvalidCode::LimitExceeded,
            ContractError::OutOfFuel(_) => InvalidCode::OutOfFuel,
            ContractError::Trap(_) => InvalidCode::Trap,
            ContractError::UnknownContract(_) => InvalidCode::UnknownContract,
            ContractError::Frozen(_) => InvalidCode::Frozen,
            ContractError::Storage(_) => return None,
        })
    }
}

/// Shorthand for a refusal.
pub fn refuse<T>(msg: impl Into<String>) -> Result<T, ContractError> {
    Err(ContractError::Refused(msg.into()))
}

/// Decodes borsh arguments, mapping failure to [`ContractError::BadArguments`].
pub fn decode_args<T: borsh::BorshDeserialize>(args: &[u8]) -> Result<T, ContractError> {
    crate::codec::decode("arguments", args).map_err(|e| ContractError::BadArguments(e.to_string()))
}

/// The ledger as one contract call sees it. Keys are the contract's own:
/// the engine prefixes them with the contract's name, so a contract can
/// neither read nor write another's state except through [`Context::call`].
pub trait Context {
    /// Reads a key.
    fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>, ContractError>;
    /// Writes a key.
    fn put(&mut self, key: &[u8], value: &[u8]) -> Result<(), ContractError>;
    /// Deletes a key.
    fn delete(&mut self, key: &[u8]) -> Result<(), ContractError>;
    /// Keys in `[start, end)` in ascending order, at most `limit`
    /// (capped at [`RANGE_ROWS_MAX`]).
    fn range(
        &mut self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: usize,
    ) -> Result<crate::store::Rows, ContractError>;
    /// The member who signed the transaction.
    fn caller(&self) -> &Identity;
    /// The contract that called this one, if this is a nested call.
    fn calling_contract(&self) -> Option<&str>;
    /// The block.
    fn block(&self) -> &BlockInfo;
    /// The channel config in force for this block.
    fn config(&self) -> &ChannelConfig;
    /// The id of the transaction being executed.
    fn tx_id(&self) -> &crate::crypto::Hash;
    /// Emits an event.
    fn emit(&mut self, name: &str, data: &[u8]) -> Result<(), ContractError>;
    /// Calls another contract on the same channel (depth-bounded). Its
    /// writes are part of this transaction.
    fn call(&mut self, contract: &str, method: &str, args: &[u8])
    -> Result<Vec<u8>, ContractError>;
}

/// A contract. Native Productivist contracts and WASM user contracts both
/// implement it; the engine does not care which it calls.
pub trait Contract: Send + Sync {
    /// Executes `method` with `args`. Returning `Err` makes the transaction
    /// invalid and discards its writes.
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError>;
}

/// Finds contracts by name. Native contracts are registered at start; a
/// resolver for deployed (WASM) contracts can be added.
#[derive(Clone, Default)]
pub struct Contracts {
    natives: BTreeMap<String, Arc<dyn Contract>>,
    deployed: Option<Arc<dyn DeployedContracts>>,
}

/// Looks up contracts deployed on a channel (WASM), given read access to the
/// channel state as of the calling transaction.
pub trait DeployedContracts: Send + Sync {
    /// Loads the contract named `name`; `Ok(None)` if none is deployed.
    fn load(
        &self,
        name: &str,
        state: &dyn crate::state::StateView,
    ) -> Result<Option<Arc<dyn Contract>>, ContractError>;
}

impl Contracts {
    /// An empty registry.
    pub fn new() -> Contracts {
        Contracts::default()
    }

    /// Registers a native contract. Names follow the identity name rules;
    /// names starting with `_` are reserved for system contracts.
    pub fn register(&mut self, name: &str, contract: Arc<dyn Contract>) -> &mut Self {
        self.natives.insert(name.to_string(), contract);
        self
    }

    /// Sets the resolver for deployed contracts.
    pub fn set_deployed(&mut self, deployed: Arc<dyn DeployedContracts>) -> &mut Self {
        self.deployed = Some(deployed);
        self
    }

    /// The native contract named `name`.
    pub fn native(&self, name: &str) -> Option<&Arc<dyn Contract>> {
        self.natives.get(name)
    }

    /// The deployed-contract resolver.
    pub fn deployed(&self) -> Option<&Arc<dyn DeployedContracts>> {
        self.deployed.as_ref()
    }

    /// Names of the native contracts.
    pub fn native_names(&self) -> impl Iterator<Item = &str> {
        self.natives.keys().map(String::as_str)
    }
}

/// The full state key of `key` in `contract`'s key space: the contract's
/// name, a zero byte (names never contain one), then the key.
pub fn state_key(contract: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(contract.len() + 1 + key.len());
    k.extend_from_slice(contract.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

/// Splits a full state key into contract name and key.
pub fn split_state_key(full: &[u8]) -> Option<(&str, &[u8])> {
    let zero = full.iter().position(|b| *b == 0)?;
    let name = std::str::from_utf8(&full[..zero]).ok()?;
    Some((name, &full[zero + 1..]))
}

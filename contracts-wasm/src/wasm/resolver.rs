//! Resolving deployed names for the engine: the record in `_wasm`, the
//! compiled module from the cache (or the stored code, compiled once).

use super::WasmHost;
use super::lifecycle::{ContractRecord, code_state_key, record_state_key};
use super::runtime::WasmContract;
use productivist_engine::Hash;
use productivist_engine::codec;
use productivist_engine::contract::{Contract, ContractError, DeployedContracts};
use productivist_engine::state::StateView;
use std::sync::Arc;

/// The engine's [`DeployedContracts`] for WASM contracts.
pub struct WasmResolver {
    host: Arc<WasmHost>,
}

impl WasmResolver {
    /// A resolver over `host`'s engine and cache.
    pub fn new(host: Arc<WasmHost>) -> WasmResolver {
        WasmResolver { host }
    }
}

fn storage(e: impl std::fmt::Display) -> ContractError {
    ContractError::Storage(e.to_string())
}

impl DeployedContracts for WasmResolver {
    fn load(
        &self,
        name: &str,
        state: &dyn StateView,
    ) -> Result<Option<Arc<dyn Contract>>, ContractError> {
        if name.starts_with('_') {
            return Ok(None);
        }
        let Some(bytes) = state.get(&record_state_key(name)).map_err(storage)? else {
            return Ok(None);
        };
        let record: ContractRecord = codec::decode("contract record", &bytes).map_err(storage)?;
        if record.frozen {
            return Err(ContractError::Frozen(name.to_string()));
        }
        let module = match self.host.cache().get(&record.code_hash) {
            Some(m) => m,
            None => {
                let code = state
                    .get(&code_state_key(&record.code_hash))
                    .map_err(storage)?
                    .ok_or_else(|| {
                        storage(format!("code {} of {name:?} missing", record.code_hash))
                    })?;
                if Hash::of(&code) != record.code_hash {
                    return Err(storage(format!("code of {name:?} does not match its hash")));
                }
                let compiled = self.host.compile(&code).map_err(|e| {
                    ContractError::Trap(format!("stored module of {name:?} does not compile: {e}"))
                })?;
                let compiled = Arc::new(compiled);
                self.host.cache().insert(compiled.clone());
                compiled
            }
        };
        Ok(Some(Arc::new(WasmContract::new(name, module))))
    }
}

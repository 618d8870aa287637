//! WASM user contracts, run by wasmi behind the same [`Contract`] trait and
//! [`Context`] as native ones: the engine does not know which it calls.
//!
//! - [`abi`]: exports, imports, codes and fuel costs (see `docs/CONTRACT_ABI.md`);
//! - [`validate`]: deploy-time checks (size, floats, imports, exports, limits);
//! - [`runtime`]: one call = fresh instance, fuel and memory limits, error mapping;
//! - `host`: the host functions; `fuel`: one budget per transaction across
//!   nested calls;
//! - [`lifecycle`]: `_wasm`, deploy / upgrade / freeze under the deploy policy;
//! - [`resolver`]: deployed names for the engine; [`cache`]: compiled modules.
//!
//! [`Contract`]: productivist_engine::Contract
//! [`Context`]: productivist_engine::Context

pub mod abi;
pub mod cache;
mod fuel;
mod host;
pub mod lifecycle;
pub mod resolver;
pub mod runtime;
pub mod validate;

use cache::{MODULE_CACHE_ENTRIES_DEFAULT, ModuleCache};
use productivist_engine::config::WasmLimits;
use productivist_engine::contract::Contracts;
use std::sync::Arc;
use validate::{CompiledModule, ValidateError};

pub use lifecycle::{WASM_CONTRACT, WasmLifecycle};
pub use resolver::WasmResolver;
pub use runtime::WasmContract;

/// The engine and module cache shared by `_wasm` and the resolver.
pub struct WasmHost {
    engine: wasmi::Engine,
    cache: ModuleCache,
}

impl WasmHost {
    /// A host caching at most `cache_entries` compiled modules.
    pub fn new(cache_entries: usize) -> WasmHost {
        WasmHost {
            engine: runtime::new_engine(),
            cache: ModuleCache::new(cache_entries),
        }
    }

    /// Deploy-time validation under `limits`, and compilation.
    pub fn validate(
        &self,
        code: &[u8],
        limits: &WasmLimits,
    ) -> Result<CompiledModule, ValidateError> {
        validate::validate_module(&self.engine, code, limits)
    }

    /// Compilation of already deployed code (no channel limits).
    pub fn compile(&self, code: &[u8]) -> Result<CompiledModule, ValidateError> {
        validate::compile(&self.engine, code)
    }

    /// The compiled-module cache.
    pub fn cache(&self) -> &ModuleCache {
        &self.cache
    }
}

impl Default for WasmHost {
    fn default() -> Self {
        WasmHost::new(MODULE_CACHE_ENTRIES_DEFAULT)
    }
}

/// Registers the `_wasm` lifecycle contract and the resolver of deployed
/// contracts. Native contracts are resolved first: a WASM contract deployed
/// under a native's name is never called.
pub fn register_wasm(contracts: &mut Contracts) -> Arc<WasmHost> {
    let host = Arc::new(WasmHost::default());
    contracts.register(WASM_CONTRACT, Arc::new(WasmLifecycle::new(host.clone())));
    contracts.set_deployed(Arc::new(WasmResolver::new(host.clone())));
    host
}

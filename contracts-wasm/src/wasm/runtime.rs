//! Running a compiled module as a [`Contract`]: a fresh store and instance
//! per call, fuel and memory limits from the channel config, the input
//! written through the contract's `alloc`, the entry point called, and every
//! way it can end mapped to a [`ContractError`].

use super::abi::{
    EXPORT_ALLOC, EXPORT_CALL, EXPORT_MEMORY, RECURSION_DEPTH_MAX, STATUS_OK, TABLE_ELEMENTS_MAX,
};
use super::fuel;
use super::host::{self, HostFault, HostState};
use super::validate::CompiledModule;
use productivist_engine::contract::{Context, Contract, ContractError};
use std::sync::Arc;
use wasmi::{
    CompilationMode, Config, EnforcedLimits, Engine, Extern, Instance, Store, StoreLimitsBuilder,
    TrapCode,
};

/// Bytes of one WASM page.
pub const PAGE_BYTES: usize = 64 << 10;

/// Name of the event the outermost WASM call of a transaction emits on
/// success, with the fuel the transaction's WASM code used (u64 LE).
pub const FUEL_EVENT: &str = "fuel_used";

/// The wasmi engine every WASM contract runs on. The configuration is part
/// of consensus: fuel metering on, floats off, eager compilation (so that no
/// lazy translation fuel depends on what a node's cache holds), no start
/// functions, bounded recursion.
pub fn new_engine() -> Engine {
    let mut config = Config::default();
    config
        .consume_fuel(true)
        .floats(false)
        .wasm_saturating_float_to_int(false)
        .wasm_reference_types(false)
        .wasm_tail_call(false)
        .wasm_extended_const(false)
        .wasm_multi_memory(false)
        .wasm_custom_page_sizes(false)
        .wasm_wide_arithmetic(false)
        .allow_start_fn(false)
        .compilation_mode(CompilationMode::Eager)
        .enforced_limits(EnforcedLimits::strict())
        .set_max_recursion_depth(RECURSION_DEPTH_MAX);
    Engine::new(&config)
}

/// A deployed WASM contract, ready to be called under `name`.
pub struct WasmContract {
    name: String,
    module: Arc<CompiledModule>,
}

impl WasmContract {
    /// The contract `name` running `module`.
    pub fn new(name: &str, module: Arc<CompiledModule>) -> WasmContract {
        WasmContract {
            name: name.to_string(),
            module,
        }
    }

    /// The module it runs.
    pub fn module(&self) -> &Arc<CompiledModule> {
        &self.module
    }
}

/// How a call ended, and the fuel it used.
struct Run {
    outcome: Result<Vec<u8>, ContractError>,
    fuel_used: u64,
}

impl Contract for WasmContract {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        let lent = fuel::take_lent();
        let budget = lent.unwrap_or(ctx.config().wasm.fuel_per_tx);
        let outermost = lent.is_none();
        let run = self.run(ctx, method, args, budget);
        assert!(run.fuel_used <= budget, "fuel used within budget");
        if !outermost {
            fuel::put_back(budget - run.fuel_used);
        }
        let output = run.outcome?;
        if outermost {
            report_fuel(ctx, run.fuel_used)?;
        }
        Ok(output)
    }
}

/// Emits [`FUEL_EVENT`]. Best effort: a query cannot emit, and a contract
/// that used every event slot keeps its result.
fn report_fuel(ctx: &mut dyn Context, fuel_used: u64) -> Result<(), ContractError> {
    match ctx.emit(FUEL_EVENT, &fuel_used.to_le_bytes()) {
        Ok(()) | Err(ContractError::Refused(_)) | Err(ContractError::LimitExceeded(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

impl WasmContract {
    fn run(&self, ctx: &mut dyn Context, method: &str, args: &[u8], budget: u64) -> Run {
        let pages_max = ctx.config().wasm.memory_pages_max as usize;
        let limits = StoreLimitsBuilder::new()
            .memory_size(pages_max.saturating_mul(PAGE_BYTES))
            .table_elements(TABLE_ELEMENTS_MAX)
            .instances(1)
            .memories(1)
            .tables(1)
            .trap_on_grow_failure(true)
            .build();
        let engine = self.module.module.engine().clone();
        let mut store = Store::new(&engine, HostState::new(ctx, limits));
        store.limiter(|state| &mut state.limits);
        let outcome = match store.set_fuel(budget) {
            Ok(()) => self.enter(&mut store, method, args),
            Err(e) => Err(ContractError::Trap(format!("fuel metering is off: {e}"))),
        };
        let left = store.get_fuel().unwrap_or(0).min(budget);
        let fuel_used = budget - left;
        let outcome = outcome
            .map(|()| std::mem::take(&mut store.data_mut().output))
            .map_err(|e| self.annotate(e, budget, fuel_used));
        Run { outcome, fuel_used }
    }

    /// Instantiates, writes the input, calls the entry point.
    fn enter(
        &self,
        store: &mut Store<HostState<'_>>,
        method: &str,
        args: &[u8],
    ) -> Result<(), ContractError> {
        let imports: Vec<Extern> = self
            .module
            .imports
            .iter()
            .map(|i| Extern::Func(host::func(store, *i)))
            .collect();
        let instance =
            Instance::new(&mut *store, &self.module.module, &imports).map_err(wasm_error)?;
        let memory = instance
            .get_memory(&*store, EXPORT_MEMORY)
            .ok_or_else(|| ContractError::Trap("no memory export".into()))?;
        store.data_mut().memory = Some(memory);
        let alloc = instance
            .get_typed_func::<i32, i32>(&*store, EXPORT_ALLOC)
            .map_err(wasm_error)?;
        let entry = instance
            .get_typed_func::<(i32, i32, i32, i32), i32>(&*store, EXPORT_CALL)
            .map_err(wasm_error)?;

        let input_len = method.len() + args.len();
        let len = i32::try_from(input_len)
            .map_err(|_| ContractError::LimitExceeded(format!("input of {input_len} bytes")))?;
        let ptr = alloc.call(&mut *store, len).map_err(wasm_error)?;
        let data = memory.data_mut(&mut *store);
        let start = ptr as u32 as usize;
        let in_bounds = start
            .checked_add(input_len)
            .is_some_and(|end| end <= data.len());
        if !in_bounds {
            return Err(ContractError::Trap(format!(
                "alloc({len}) returned {start:#x}, outside memory of {} bytes",
                data.len()
            )));
        }
        data[start..start + method.len()].copy_from_slice(method.as_bytes());
        data[start + method.len()..start + input_len].copy_from_slice(args);
        let method_len = method.len() as i32;
        let args_ptr = (start + method.len()) as i32;
        let args_len = args.len() as i32;
        let status = entry
            .call(&mut *store, (ptr, method_len, args_ptr, args_len))
            .map_err(wasm_error)?;
        if status != STATUS_OK {
            return Err(ContractError::Trap(format!(
                "contract returned status {status}"
            )));
        }
        Ok(())
    }

    /// Adds the contract's name and the fuel to resource errors; business
    /// errors (refusals) keep the contract's own message.
    fn annotate(&self, error: ContractError, budget: u64, fuel_used: u64) -> ContractError {
        let name = &self.name;
        match error {
            ContractError::OutOfFuel(why) => {
                ContractError::OutOfFuel(format!("{name}: {why} (used all {budget} fuel)"))
            }
            ContractError::Trap(why) => {
                ContractError::Trap(format!("{name}: {why} (after {fuel_used} fuel)"))
            }
            ContractError::LimitExceeded(why) => {
                ContractError::LimitExceeded(format!("{name}: {why} (after {fuel_used} fuel)"))
            }
            other => other,
        }
    }
}

/// Maps a wasmi error to the contract error it means.
fn wasm_error(error: wasmi::Error) -> ContractError {
    if let Some(HostFault(e)) = error.downcast_ref::<HostFault>() {
        return e.clone();
    }
    match error.as_trap_code() {
        Some(TrapCode::OutOfFuel) => ContractError::OutOfFuel("out of fuel".into()),
        Some(TrapCode::GrowthOperationLimited) => {
            ContractError::LimitExceeded("memory or table grown past the channel's limit".into())
        }
        Some(TrapCode::StackOverflow) => ContractError::Trap(format!(
            "call stack exhausted (recursion deeper than {RECURSION_DEPTH_MAX} frames or value stack full)"
        )),
        Some(code) => ContractError::Trap(code.to_string()),
        None => ContractError::Trap(error.to_string()),
    }
}

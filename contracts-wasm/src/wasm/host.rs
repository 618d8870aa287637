//! The host functions behind the ABI imports, and the per-call state they
//! share: the engine's [`Context`], the contract's memory, the output and
//! the result register.
//!
//! Every host function first charges fuel ([`HOST_CALL_FUEL`] plus bytes
//! moved, see [`super::abi`]), then bounds-checks every pointer it is given
//! against the contract's memory (a bad pointer traps, it never reaches the
//! node's memory), then does its work through the [`Context`]. Errors travel
//! back to the runtime as a [`HostFault`] carrying the [`ContractError`].

use super::abi::{
    ABSENT, BYTE_FUEL, FAIL_BAD_ARGUMENTS, FAIL_NOT_AUTHORIZED, FAIL_REFUSED, HOST_CALL_FUEL,
    HostImport, MESSAGE_BYTES_MAX, NAME_BYTES_MAX, STORED_BYTE_FUEL, call_error_status,
    error_is_fatal,
};
use super::fuel::Loan;
use productivist_engine::contract::{Context, ContractError, OUTPUT_BYTES_MAX, RANGE_ROWS_MAX};
use std::ops::Range;
use wasmi::{Caller, Func, Memory, Store, StoreLimits};

/// What a call's host functions share.
pub(crate) struct HostState<'a> {
    /// The engine's context for this call.
    pub ctx: &'a mut dyn Context,
    /// The contract's exported memory (set right after instantiation).
    pub memory: Option<Memory>,
    /// Memory and table limits.
    pub limits: StoreLimits,
    /// The output set by `return_data`.
    pub output: Vec<u8>,
    /// The bytes last produced by an import, for `result_read`.
    pub result: Vec<u8>,
}

impl<'a> HostState<'a> {
    pub(crate) fn new(ctx: &'a mut dyn Context, limits: StoreLimits) -> HostState<'a> {
        HostState {
            ctx,
            memory: None,
            limits,
            output: Vec::new(),
            result: Vec::new(),
        }
    }
}

/// A contract error raised inside a host function.
#[derive(Debug)]
pub(crate) struct HostFault(pub ContractError);

impl std::fmt::Display for HostFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl wasmi::errors::HostError for HostFault {}

type Host<'c, 'a> = Caller<'c, HostState<'a>>;
type HostResult<T> = Result<T, wasmi::Error>;

fn fault(error: ContractError) -> wasmi::Error {
    wasmi::Error::host(HostFault(error))
}

fn trap(msg: String) -> wasmi::Error {
    fault(ContractError::Trap(msg))
}

/// Widens an `i32` length or pointer as the unsigned 32-bit value WASM
/// means by it.
fn unsigned(v: i32) -> usize {
    v as u32 as usize
}

fn bytes_fuel(bytes: usize, per_byte: u64) -> u64 {
    (bytes as u64).saturating_mul(per_byte)
}

/// Charges `fuel`; running out is a [`ContractError::OutOfFuel`].
fn charge(caller: &mut Host<'_, '_>, fuel: u64) -> HostResult<()> {
    let left = caller.get_fuel()?;
    match left.checked_sub(fuel) {
        Some(rest) => caller.set_fuel(rest),
        None => {
            caller.set_fuel(0)?;
            Err(fault(ContractError::OutOfFuel(format!(
                "a host call needs {fuel} fuel, {left} left"
            ))))
        }
    }
}

fn memory(caller: &Host<'_, '_>) -> HostResult<Memory> {
    caller
        .data()
        .memory
        .ok_or_else(|| trap("host call before the memory was set up".into()))
}

/// The byte range `[ptr, ptr + len)`, checked against a memory of
/// `memory_bytes`.
fn span(memory_bytes: usize, ptr: i32, len: usize) -> HostResult<Range<usize>> {
    let start = unsigned(ptr);
    match start.checked_add(len) {
        Some(end) if end <= memory_bytes => Ok(start..end),
        _ => Err(trap(format!(
            "out-of-bounds pointer: {len} bytes at {start:#x}, memory is {memory_bytes} bytes"
        ))),
    }
}

fn read_bytes(caller: &Host<'_, '_>, ptr: i32, len: usize) -> HostResult<Vec<u8>> {
    let data = memory(caller)?.data(caller);
    Ok(data[span(data.len(), ptr, len)?].to_vec())
}

fn read_name(caller: &Host<'_, '_>, what: &str, ptr: i32, len: i32) -> HostResult<String> {
    let len = unsigned(len);
    if len > NAME_BYTES_MAX {
        return Err(fault(ContractError::LimitExceeded(format!(
            "{what} of {len} bytes > {NAME_BYTES_MAX}"
        ))));
    }
    String::from_utf8(read_bytes(caller, ptr, len)?)
        .map_err(|_| fault(ContractError::BadArguments(format!("{what} is not UTF-8"))))
}

/// Writes at most `dst_cap` bytes of `bytes` at `dst_ptr`, keeps all of it
/// in the result register, and returns its full length.
fn produce(
    caller: &mut Host<'_, '_>,
    bytes: Vec<u8>,
    dst_ptr: i32,
    dst_cap: i32,
) -> HostResult<i32> {
    let full = i32::try_from(bytes.len()).map_err(|_| {
        fault(ContractError::LimitExceeded(format!(
            "{} bytes do not fit the ABI",
            bytes.len()
        )))
    })?;
    charge(caller, bytes_fuel(bytes.len(), BYTE_FUEL))?;
    let memory = memory(caller)?;
    let (data, state) = memory.data_and_store_mut(&mut *caller);
    let cap = unsigned(dst_cap);
    let dst = span(data.len(), dst_ptr, cap)?;
    let n = bytes.len().min(cap);
    data[dst.start..dst.start + n].copy_from_slice(&bytes[..n]);
    state.result = bytes;
    Ok(full)
}

fn ctx_err(error: ContractError) -> wasmi::Error {
    fault(error)
}

fn state_get(
    mut caller: Host<'_, '_>,
    key_ptr: i32,
    key_len: i32,
    dst_ptr: i32,
    dst_cap: i32,
) -> HostResult<i32> {
    let key_len = unsigned(key_len);
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(key_len, BYTE_FUEL)),
    )?;
    let memory = memory(&caller)?;
    let value = {
        let (data, state) = memory.data_and_store_mut(&mut caller);
        let key = &data[span(data.len(), key_ptr, key_len)?];
        state.ctx.get(key).map_err(ctx_err)?
    };
    match value {
        None => {
            caller.data_mut().result.clear();
            Ok(ABSENT)
        }
        Some(v) => produce(&mut caller, v, dst_ptr, dst_cap),
    }
}

fn state_put(
    mut caller: Host<'_, '_>,
    key_ptr: i32,
    key_len: i32,
    val_ptr: i32,
    val_len: i32,
) -> HostResult<()> {
    let (key_len, val_len) = (unsigned(key_len), unsigned(val_len));
    let bytes = key_len.saturating_add(val_len);
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(bytes, BYTE_FUEL + STORED_BYTE_FUEL)),
    )?;
    let memory = memory(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let key = span(data.len(), key_ptr, key_len)?;
    let value = span(data.len(), val_ptr, val_len)?;
    state.ctx.put(&data[key], &data[value]).map_err(ctx_err)
}

fn state_delete(mut caller: Host<'_, '_>, key_ptr: i32, key_len: i32) -> HostResult<()> {
    let key_len = unsigned(key_len);
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(key_len, BYTE_FUEL + STORED_BYTE_FUEL)),
    )?;
    let memory = memory(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let key = span(data.len(), key_ptr, key_len)?;
    state.ctx.delete(&data[key]).map_err(ctx_err)
}

#[allow(clippy::too_many_arguments)]
fn state_range(
    mut caller: Host<'_, '_>,
    start_ptr: i32,
    start_len: i32,
    end_ptr: i32,
    end_len: i32,
    limit: i32,
    dst_ptr: i32,
    dst_cap: i32,
) -> HostResult<i32> {
    let start_len = unsigned(start_len);
    let end_bytes = if end_len < 0 { 0 } else { unsigned(end_len) };
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(start_len + end_bytes, BYTE_FUEL)),
    )?;
    let rows_max = if limit < 0 {
        0
    } else {
        unsigned(limit).min(RANGE_ROWS_MAX)
    };
    let memory = memory(&caller)?;
    let rows = {
        let (data, state) = memory.data_and_store_mut(&mut caller);
        let start = span(data.len(), start_ptr, start_len)?;
        let end = if end_len < 0 {
            None
        } else {
            Some(span(data.len(), end_ptr, end_bytes)?)
        };
        let end = end.map(|r| &data[r]);
        state
            .ctx
            .range(&data[start], end, rows_max)
            .map_err(ctx_err)?
    };
    assert!(rows.len() <= rows_max, "the engine caps range rows");
    let encoded = borsh::to_vec(&rows)
        .map_err(|e| fault(ContractError::Storage(format!("encoding rows: {e}"))))?;
    produce(&mut caller, encoded, dst_ptr, dst_cap)
}

fn caller_account(mut caller: Host<'_, '_>, dst_ptr: i32, dst_cap: i32) -> HostResult<i32> {
    charge(&mut caller, HOST_CALL_FUEL)?;
    let account = caller.data().ctx.caller().account().into_bytes();
    produce(&mut caller, account, dst_ptr, dst_cap)
}

fn caller_org(mut caller: Host<'_, '_>, dst_ptr: i32, dst_cap: i32) -> HostResult<i32> {
    charge(&mut caller, HOST_CALL_FUEL)?;
    let org = caller.data().ctx.caller().org.clone().into_bytes();
    produce(&mut caller, org, dst_ptr, dst_cap)
}

fn caller_has_role(mut caller: Host<'_, '_>, role: i32) -> HostResult<i32> {
    charge(&mut caller, HOST_CALL_FUEL)?;
    let roles = &caller.data().ctx.caller().roles;
    Ok(i32::from(roles.iter().any(|r| i32::from(*r as u8) == role)))
}

fn calling_contract(mut caller: Host<'_, '_>, dst_ptr: i32, dst_cap: i32) -> HostResult<i32> {
    charge(&mut caller, HOST_CALL_FUEL)?;
    match caller.data().ctx.calling_contract() {
        None => {
            caller.data_mut().result.clear();
            Ok(ABSENT)
        }
        Some(name) => {
            let name = name.as_bytes().to_vec();
            produce(&mut caller, name, dst_ptr, dst_cap)
        }
    }
}

fn block_height(mut caller: Host<'_, '_>) -> HostResult<i64> {
    charge(&mut caller, HOST_CALL_FUEL)?;
    Ok(i64::try_from(caller.data().ctx.block().height).unwrap_or(i64::MAX))
}

fn block_time_ms(mut caller: Host<'_, '_>) -> HostResult<i64> {
    charge(&mut caller, HOST_CALL_FUEL)?;
    Ok(i64::try_from(caller.data().ctx.block().timestamp_ms).unwrap_or(i64::MAX))
}

fn tx_id(mut caller: Host<'_, '_>, dst_ptr: i32) -> HostResult<()> {
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(32, BYTE_FUEL)),
    )?;
    let memory = memory(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let dst = span(data.len(), dst_ptr, 32)?;
    data[dst].copy_from_slice(&state.ctx.tx_id().0);
    Ok(())
}

fn emit(
    mut caller: Host<'_, '_>,
    name_ptr: i32,
    name_len: i32,
    data_ptr: i32,
    data_len: i32,
) -> HostResult<()> {
    let (name_len, data_len) = (unsigned(name_len), unsigned(data_len));
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(
            name_len.saturating_add(data_len),
            BYTE_FUEL + STORED_BYTE_FUEL,
        )),
    )?;
    let memory = memory(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let name = span(data.len(), name_ptr, name_len)?;
    let payload = span(data.len(), data_ptr, data_len)?;
    let name = std::str::from_utf8(&data[name]).map_err(|_| {
        fault(ContractError::BadArguments(
            "event name is not UTF-8".into(),
        ))
    })?;
    state.ctx.emit(name, &data[payload]).map_err(ctx_err)
}

fn return_data(mut caller: Host<'_, '_>, ptr: i32, len: i32) -> HostResult<()> {
    let len = unsigned(len);
    if len > OUTPUT_BYTES_MAX {
        return Err(fault(ContractError::LimitExceeded(format!(
            "output of {len} bytes > {OUTPUT_BYTES_MAX}"
        ))));
    }
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(len, BYTE_FUEL + STORED_BYTE_FUEL)),
    )?;
    let memory = memory(&caller)?;
    let (data, state) = memory.data_and_store_mut(&mut caller);
    let src = span(data.len(), ptr, len)?;
    state.output.clear();
    state.output.extend_from_slice(&data[src]);
    Ok(())
}

fn read_message(caller: &mut Host<'_, '_>, ptr: i32, len: i32) -> HostResult<String> {
    let len = unsigned(len);
    if len > MESSAGE_BYTES_MAX {
        return Err(fault(ContractError::LimitExceeded(format!(
            "abort message of {len} bytes > {MESSAGE_BYTES_MAX}"
        ))));
    }
    charge(
        caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(len, BYTE_FUEL)),
    )?;
    Ok(String::from_utf8_lossy(&read_bytes(caller, ptr, len)?).into_owned())
}

fn abort(mut caller: Host<'_, '_>, msg_ptr: i32, msg_len: i32) -> HostResult<()> {
    let msg = read_message(&mut caller, msg_ptr, msg_len)?;
    Err(fault(ContractError::Refused(msg)))
}

fn fail(mut caller: Host<'_, '_>, kind: i32, msg_ptr: i32, msg_len: i32) -> HostResult<()> {
    let msg = read_message(&mut caller, msg_ptr, msg_len)?;
    Err(fault(match kind {
        FAIL_REFUSED => ContractError::Refused(msg),
        FAIL_BAD_ARGUMENTS => ContractError::BadArguments(msg),
        FAIL_NOT_AUTHORIZED => ContractError::NotAuthorized(msg),
        other => ContractError::Trap(format!("fail with unknown kind {other}: {msg}")),
    }))
}

#[allow(clippy::too_many_arguments)]
fn call(
    mut caller: Host<'_, '_>,
    contract_ptr: i32,
    contract_len: i32,
    method_ptr: i32,
    method_len: i32,
    args_ptr: i32,
    args_len: i32,
    dst_ptr: i32,
    dst_cap: i32,
) -> HostResult<i32> {
    let args_len = unsigned(args_len);
    let moved = unsigned(contract_len)
        .saturating_add(unsigned(method_len))
        .saturating_add(args_len);
    charge(
        &mut caller,
        HOST_CALL_FUEL.saturating_add(bytes_fuel(moved, BYTE_FUEL)),
    )?;
    let contract = read_name(&caller, "contract name", contract_ptr, contract_len)?;
    let method = read_name(&caller, "method name", method_ptr, method_len)?;
    if args_len > OUTPUT_BYTES_MAX {
        return Err(fault(ContractError::LimitExceeded(format!(
            "call arguments of {args_len} bytes > {OUTPUT_BYTES_MAX}"
        ))));
    }
    let args = read_bytes(&caller, args_ptr, args_len)?;
    // The callee runs on this transaction's fuel: lend it what is left.
    let loan = Loan::lend(caller.get_fuel()?);
    let out = caller.data_mut().ctx.call(&contract, &method, &args);
    caller.set_fuel(loan.settle())?;
    match out {
        Ok(bytes) => produce(&mut caller, bytes, dst_ptr, dst_cap),
        Err(e) if error_is_fatal(&e) => Err(fault(e)),
        Err(e) => {
            caller.data_mut().result = e.to_string().into_bytes();
            Ok(call_error_status(&e))
        }
    }
}

fn result_read(mut caller: Host<'_, '_>, dst_ptr: i32, dst_cap: i32) -> HostResult<i32> {
    charge(&mut caller, HOST_CALL_FUEL)?;
    let bytes = std::mem::take(&mut caller.data_mut().result);
    produce(&mut caller, bytes, dst_ptr, dst_cap)
}

/// The host function behind `import`, created in `store`.
pub(crate) fn func(store: &mut Store<HostState<'_>>, import: HostImport) -> Func {
    match import {
        HostImport::StateGet => Func::wrap(store, state_get),
        HostImport::StatePut => Func::wrap(store, state_put),
        HostImport::StateDelete => Func::wrap(store, state_delete),
        HostImport::StateRange => Func::wrap(store, state_range),
        HostImport::CallerAccount => Func::wrap(store, caller_account),
        HostImport::CallerOrg => Func::wrap(store, caller_org),
        HostImport::CallerHasRole => Func::wrap(store, caller_has_role),
        HostImport::CallingContract => Func::wrap(store, calling_contract),
        HostImport::BlockHeight => Func::wrap(store, block_height),
        HostImport::BlockTimeMs => Func::wrap(store, block_time_ms),
        HostImport::TxId => Func::wrap(store, tx_id),
        HostImport::Emit => Func::wrap(store, emit),
        HostImport::ReturnData => Func::wrap(store, return_data),
        HostImport::Abort => Func::wrap(store, abort),
        HostImport::Fail => Func::wrap(store, fail),
        HostImport::Call => Func::wrap(store, call),
        HostImport::ResultRead => Func::wrap(store, result_read),
    }
}

//! The contract ABI: what a WASM contract must export, what the host lets it
//! import, the status and error codes crossing the boundary, and what each
//! host call costs in fuel. `docs/CONTRACT_ABI.md` is the prose version of
//! this file; `sdk/productivist.h` is its C binding. The three must agree.

use productivist_engine::block::InvalidCode;
use productivist_engine::contract::ContractError;

/// The module name of every host import.
pub const IMPORT_MODULE: &str = "productivist";

/// The exported linear memory (the only memory a contract may have).
pub const EXPORT_MEMORY: &str = "memory";
/// `alloc(len: i32) -> ptr: i32`: the host calls it once per call to get
/// room for the method name and the arguments.
pub const EXPORT_ALLOC: &str = "alloc";
/// `call(method_ptr, method_len, args_ptr, args_len: i32) -> status: i32`:
/// the entry point.
pub const EXPORT_CALL: &str = "call";

/// `call` returned this: success; the output is the last `return_data`.
pub const STATUS_OK: i32 = 0;

/// Returned by imports that produce bytes when there is nothing (absent key,
/// no calling contract).
pub const ABSENT: i32 = -1;

/// `fail(kind, ...)` kinds: the [`ContractError`] the call fails with.
pub const FAIL_REFUSED: i32 = 0;
/// Bad arguments.
pub const FAIL_BAD_ARGUMENTS: i32 = 1;
/// Not authorized.
pub const FAIL_NOT_AUTHORIZED: i32 = 2;

/// Longest message `abort` or `fail` accepts, in bytes.
pub const MESSAGE_BYTES_MAX: usize = 1024;
/// Longest contract or method name a contract may pass to `call`.
pub const NAME_BYTES_MAX: usize = 256;

/// Fuel charged for every host call, on top of the bytes it moves.
pub const HOST_CALL_FUEL: u64 = 100;
/// Fuel per byte copied between contract memory and the host.
pub const BYTE_FUEL: u64 = 1;
/// Extra fuel per byte that ends up on chain (state writes, events, output).
pub const STORED_BYTE_FUEL: u64 = 10;

/// Most stack frames (WASM calls) one contract call may nest.
pub const RECURSION_DEPTH_MAX: usize = 1024;
/// Most table elements a module may declare or grow to.
pub const TABLE_ELEMENTS_MAX: usize = 10_000;

/// A value type in an import signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AbiType {
    /// `i32`: pointers, lengths, statuses, roles.
    I32,
    /// `i64`: heights and times.
    I64,
}

use AbiType::{I32, I64};

/// Every host function a contract may import, all from [`IMPORT_MODULE`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostImport {
    /// `state_get(key_ptr, key_len, dst_ptr, dst_cap) -> len | -1`.
    StateGet,
    /// `state_put(key_ptr, key_len, val_ptr, val_len)`.
    StatePut,
    /// `state_delete(key_ptr, key_len)`.
    StateDelete,
    /// `state_range(start_ptr, start_len, end_ptr, end_len | -1, limit,
    /// dst_ptr, dst_cap) -> len` (borsh `Vec<(Vec<u8>, Vec<u8>)>`).
    StateRange,
    /// `caller_account(dst_ptr, dst_cap) -> len` (`subject@org`).
    CallerAccount,
    /// `caller_org(dst_ptr, dst_cap) -> len`.
    CallerOrg,
    /// `caller_has_role(role) -> 0 | 1` (role ids as in the engine's `Role`).
    CallerHasRole,
    /// `calling_contract(dst_ptr, dst_cap) -> len | -1`.
    CallingContract,
    /// `block_height() -> i64`.
    BlockHeight,
    /// `block_time_ms() -> i64`.
    BlockTimeMs,
    /// `tx_id(dst_ptr)`: writes the 32-byte transaction id.
    TxId,
    /// `emit(name_ptr, name_len, data_ptr, data_len)`.
    Emit,
    /// `return_data(ptr, len)`: sets the call's output (last one wins).
    ReturnData,
    /// `abort(msg_ptr, msg_len)`: refuses the call; never returns.
    Abort,
    /// `fail(kind, msg_ptr, msg_len)`: fails with a chosen error kind.
    Fail,
    /// `call(contract_ptr, contract_len, method_ptr, method_len, args_ptr,
    /// args_len, dst_ptr, dst_cap) -> len | -code`.
    Call,
    /// `result_read(dst_ptr, dst_cap) -> len`: the last produced bytes.
    ResultRead,
}

impl HostImport {
    /// Every import, in ABI order.
    pub const ALL: [HostImport; 17] = [
        HostImport::StateGet,
        HostImport::StatePut,
        HostImport::StateDelete,
        HostImport::StateRange,
        HostImport::CallerAccount,
        HostImport::CallerOrg,
        HostImport::CallerHasRole,
        HostImport::CallingContract,
        HostImport::BlockHeight,
        HostImport::BlockTimeMs,
        HostImport::TxId,
        HostImport::Emit,
        HostImport::ReturnData,
        HostImport::Abort,
        HostImport::Fail,
        HostImport::Call,
        HostImport::ResultRead,
    ];

    /// The import's field name.
    pub fn name(self) -> &'static str {
        match self {
            HostImport::StateGet => "state_get",
            HostImport::StatePut => "state_put",
            HostImport::StateDelete => "state_delete",
            HostImport::StateRange => "state_range",
            HostImport::CallerAccount => "caller_account",
            HostImport::CallerOrg => "caller_org",
            HostImport::CallerHasRole => "caller_has_role",
            HostImport::CallingContract => "calling_contract",
            HostImport::BlockHeight => "block_height",
            HostImport::BlockTimeMs => "block_time_ms",
            HostImport::TxId => "tx_id",
            HostImport::Emit => "emit",
            HostImport::ReturnData => "return_data",
            HostImport::Abort => "abort",
            HostImport::Fail => "fail",
            HostImport::Call => "call",
            HostImport::ResultRead => "result_read",
        }
    }

    /// The import named `name`, if the ABI has one.
    pub fn from_name(name: &str) -> Option<HostImport> {
        HostImport::ALL.into_iter().find(|i| i.name() == name)
    }

    /// Parameter and result types.
    pub fn signature(self) -> (&'static [AbiType], &'static [AbiType]) {
        match self {
            HostImport::StateGet => (&[I32, I32, I32, I32], &[I32]),
            HostImport::StatePut => (&[I32, I32, I32, I32], &[]),
            HostImport::StateDelete => (&[I32, I32], &[]),
            HostImport::StateRange => (&[I32, I32, I32, I32, I32, I32, I32], &[I32]),
            HostImport::CallerAccount | HostImport::CallerOrg | HostImport::CallingContract => {
                (&[I32, I32], &[I32])
            }
            HostImport::CallerHasRole => (&[I32], &[I32]),
            HostImport::BlockHeight | HostImport::BlockTimeMs => (&[], &[I64]),
            HostImport::TxId => (&[I32], &[]),
            HostImport::Emit => (&[I32, I32, I32, I32], &[]),
            HostImport::ReturnData | HostImport::Abort => (&[I32, I32], &[]),
            HostImport::Fail => (&[I32, I32, I32], &[]),
            HostImport::Call => (&[I32, I32, I32, I32, I32, I32, I32, I32], &[I32]),
            HostImport::ResultRead => (&[I32, I32], &[I32]),
        }
    }
}

/// The negative status `call` returns to a contract whose nested call
/// failed with `error`: `-(InvalidCode as i32)`.
pub fn call_error_status(error: &ContractError) -> i32 {
    let code = error.code().unwrap_or(InvalidCode::Trap);
    -i32::from(code as u8)
}

/// Whether a nested call's error must end the calling contract too, instead
/// of being returned to it as a status: storage failures (the node's
/// problem) and running out of fuel (the budget is shared).
pub fn error_is_fatal(error: &ContractError) -> bool {
    matches!(
        error,
        ContractError::Storage(_) | ContractError::OutOfFuel(_)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_round_trip() {
        for (i, a) in HostImport::ALL.iter().enumerate() {
            assert_eq!(HostImport::from_name(a.name()), Some(*a));
            for b in &HostImport::ALL[..i] {
                assert_ne!(a.name(), b.name());
            }
        }
        assert_eq!(HostImport::from_name("launch_missiles"), None);
    }

    #[test]
    fn call_error_status_is_negative_code() {
        assert_eq!(
            call_error_status(&ContractError::Refused("x".into())),
            -(InvalidCode::Refused as i32)
        );
        assert!(error_is_fatal(&ContractError::Storage("x".into())));
        assert!(!error_is_fatal(&ContractError::Refused("x".into())));
    }
}

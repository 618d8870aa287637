//! Helpers shared by the native contracts: typed state access, nested calls,
//! caller checks and argument validation. Arguments come from untrusted
//! clients, so every check here returns an error and never panics.

use super::api::{AllowList, LIST_ITEMS_MAX, Stamp};
use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::contract::{Context, ContractError};
use productivist_engine::identity::{Role, check_name};

/// Encodes a value (into memory: cannot fail).
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    productivist_engine::codec::encode(value)
}

/// Reads and decodes a stored value. A value that does not decode was not
/// written by this code: the state is corrupt, which is the node's problem,
/// so it is a storage failure rather than a refusal.
pub fn load<T: BorshDeserialize>(
    ctx: &mut dyn Context,
    key: &[u8],
) -> Result<Option<T>, ContractError> {
    match ctx.get(key)? {
        None => Ok(None),
        Some(bytes) => productivist_engine::codec::decode("stored value", &bytes)
            .map(Some)
            .map_err(|e| {
                ContractError::Storage(format!("corrupt state at {}: {e}", show_key(key)))
            }),
    }
}

/// Encodes and stores a value.
pub fn save<T: BorshSerialize>(
    ctx: &mut dyn Context,
    key: &[u8],
    value: &T,
) -> Result<(), ContractError> {
    ctx.put(key, &encode(value))
}

/// Emits an event with borsh data.
pub fn emit<T: BorshSerialize>(
    ctx: &mut dyn Context,
    name: &str,
    data: &T,
) -> Result<(), ContractError> {
    ctx.emit(name, &encode(data))
}

/// Encodes a method's output.
pub fn output<T: BorshSerialize>(value: &T) -> Result<Vec<u8>, ContractError> {
    Ok(encode(value))
}

/// Calls another contract with borsh args and decodes its borsh output.
pub fn call<A: BorshSerialize, R: BorshDeserialize>(
    ctx: &mut dyn Context,
    contract: &str,
    method: &str,
    args: &A,
) -> Result<R, ContractError> {
    let out = ctx.call(contract, method, &encode(args))?;
    productivist_engine::codec::decode("contract output", &out).map_err(|e| {
        ContractError::Trap(format!(
            "{contract}.{method} returned a malformed output: {e}"
        ))
    })
}

/// Where the current transaction is: block height, block time, tx id.
pub fn stamp(ctx: &dyn Context) -> Stamp {
    Stamp {
        height: ctx.block().height,
        time_ms: ctx.block().timestamp_ms,
        tx_id: *ctx.tx_id(),
    }
}

/// Readable form of a key for messages.
pub fn show_key(key: &[u8]) -> String {
    key.iter()
        .map(|b| {
            if b.is_ascii_graphic() {
                (*b as char).to_string()
            } else {
                format!("\\x{b:02x}")
            }
        })
        .collect()
}

/// Refuses unless this is a nested call from `contract`. Internal methods
/// (escrow, licenses, production records, reputation facts) trust their
/// arguments only because a known contract checked them first.
pub fn require_calling_contract(
    ctx: &dyn Context,
    contract: &str,
    method: &str,
) -> Result<(), ContractError> {
    match ctx.calling_contract() {
        Some(c) if c == contract => Ok(()),
        Some(c) => Err(ContractError::NotAuthorized(format!(
            "{method} may only be called by the {contract} contract, not by {c}"
        ))),
        None => Err(ContractError::NotAuthorized(format!(
            "{method} may only be called by the {contract} contract, not directly by a transaction"
        ))),
    }
}

/// Refuses unless the caller holds one of `roles`.
pub fn require_role(ctx: &dyn Context, roles: &[Role], action: &str) -> Result<(), ContractError> {
    if roles.iter().any(|r| ctx.caller().has_role(*r)) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.name()).collect();
    Err(ContractError::NotAuthorized(format!(
        "{} may not {action}: needs role {}",
        ctx.caller().account(),
        names.join(" or ")
    )))
}

fn bad(msg: String) -> ContractError {
    ContractError::BadArguments(msg)
}

/// Checks an identifier (material, process, region, machine, serial, ...):
/// 1 to 64 bytes of `[A-Za-z0-9._-]`.
pub fn check_ident(what: &str, value: &str) -> Result<(), ContractError> {
    check_name(what, value).map_err(bad)
}

/// Checks free text: 1 to `max_bytes` bytes (0 allowed if `allow_empty`),
/// no control characters.
pub fn check_text(
    what: &str,
    value: &str,
    max_bytes: usize,
    allow_empty: bool,
) -> Result<(), ContractError> {
    if value.len() > max_bytes {
        return Err(bad(format!(
            "{what} is {} bytes; at most {max_bytes}",
            value.len()
        )));
    }
    if value.is_empty() && !allow_empty {
        return Err(bad(format!("{what} must not be empty")));
    }
    if value.chars().any(char::is_control) {
        return Err(bad(format!("{what} contains control characters")));
    }
    Ok(())
}

/// Checks the syntax of an account `subject@org`; returns the org.
pub fn check_account_syntax<'a>(what: &str, account: &'a str) -> Result<&'a str, ContractError> {
    let Some((subject, org)) = account.split_once('@') else {
        return Err(bad(format!(
            "{what} {account:?} is not an account (subject@org)"
        )));
    };
    check_name(what, subject).map_err(bad)?;
    check_name(what, org).map_err(bad)?;
    Ok(org)
}

/// Checks an account `subject@org` whose organization is a member of the
/// channel (a typo would otherwise send tokens to an account nobody holds).
pub fn check_account(ctx: &dyn Context, what: &str, account: &str) -> Result<(), ContractError> {
    let org = check_account_syntax(what, account)?;
    if ctx.config().org(org).is_none() {
        return Err(bad(format!(
            "{what} {account:?}: organization {org:?} is not a member of this channel"
        )));
    }
    Ok(())
}

/// Checks an allow-list of identifiers (or accounts if `accounts`).
pub fn check_allow_list(
    ctx: &dyn Context,
    what: &str,
    list: &AllowList,
    accounts: bool,
) -> Result<(), ContractError> {
    let AllowList::Only(values) = list else {
        return Ok(());
    };
    if values.is_empty() || values.len() > LIST_ITEMS_MAX {
        return Err(bad(format!(
            "{what} lists {} values; 1 to {LIST_ITEMS_MAX} (or Any)",
            values.len()
        )));
    }
    for (i, v) in values.iter().enumerate() {
        if accounts {
            check_account(ctx, what, v)?;
        } else {
            check_ident(what, v)?;
        }
        if values[..i].contains(v) {
            return Err(bad(format!("{what} lists {v:?} twice")));
        }
    }
    Ok(())
}

/// Checks a list length against a bound.
pub fn check_len(what: &str, len: usize, min: usize, max: usize) -> Result<(), ContractError> {
    if len < min || len > max {
        return Err(bad(format!(
            "{what} has {len} entries; {min} to {max} allowed"
        )));
    }
    Ok(())
}

/// Refuses an unknown method.
pub fn unknown_method(contract: &str, method: &str) -> ContractError {
    bad(format!("{contract} has no method {method:?}"))
}

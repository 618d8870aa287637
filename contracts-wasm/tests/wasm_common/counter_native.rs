//! The native twin of `examples/counter.c`: same methods, same state keys
//! and encodings, same errors and messages, same events.

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::contract::{Context, Contract, ContractError};
use productivist_engine::identity::Role;

const KEY_BYTES_MAX: usize = 64;

/// Arguments of `incr`.
#[derive(BorshSerialize, BorshDeserialize)]
pub struct IncrArgs {
    pub key: String,
    pub by: u64,
}

/// Arguments of `get` and `reset`.
#[derive(BorshSerialize, BorshDeserialize)]
pub struct KeyArgs {
    pub key: String,
}

/// The counter contract, natively.
pub struct CounterNative;

fn bad(msg: &str) -> ContractError {
    ContractError::BadArguments(msg.into())
}

fn decode<T: BorshDeserialize>(args: &[u8]) -> Result<T, ContractError> {
    // Same acceptance as the C reader: exact borsh, nothing left over.
    borsh::from_slice(args).map_err(|_| bad("bad arguments"))
}

fn check_key(key: &str) -> Result<Vec<u8>, ContractError> {
    if key.is_empty() || key.len() > KEY_BYTES_MAX {
        return Err(bad("key must be 1 to 64 bytes"));
    }
    Ok([b"k/".as_slice(), key.as_bytes()].concat())
}

fn load(ctx: &mut dyn Context, k: &[u8]) -> Result<u64, ContractError> {
    match ctx.get(k)? {
        None => Ok(0),
        Some(v) => {
            Ok(u64::from_le_bytes(v.as_slice().try_into().map_err(
                |_| ContractError::Refused("corrupt counter".into()),
            )?))
        }
    }
}

impl Contract for CounterNative {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "incr" => {
                let a: IncrArgs = decode(args)?;
                let k = check_key(&a.key)?;
                if a.by == 0 {
                    return Err(bad("by must be at least 1"));
                }
                let next = load(ctx, &k)?
                    .checked_add(a.by)
                    .ok_or_else(|| ContractError::Refused("counter would overflow".into()))?;
                ctx.put(&k, &next.to_le_bytes())?;
                ctx.emit(
                    "incremented",
                    &borsh::to_vec(&(a.key, next)).expect("encode"),
                )?;
                Ok(next.to_le_bytes().to_vec())
            }
            "get" => {
                let a: KeyArgs = decode(args)?;
                let k = check_key(&a.key)?;
                Ok(load(ctx, &k)?.to_le_bytes().to_vec())
            }
            "reset" => {
                let a: KeyArgs = decode(args)?;
                let k = check_key(&a.key)?;
                if !ctx.caller().has_role(Role::Admin) {
                    return Err(ContractError::NotAuthorized(
                        "reset needs the admin role".into(),
                    ));
                }
                ctx.delete(&k)?;
                ctx.emit("reset", &borsh::to_vec(&a.key).expect("encode"))?;
                Ok(Vec::new())
            }
            _ => Err(bad("unknown method")),
        }
    }
}

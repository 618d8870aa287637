//! A minimal native token for nested-call tests that must not depend on the
//! real `token` contract: `mint {to, amount}` (no checks) and
//! `transfer {to, amount, memo}` from the signer, with `token.transfer`'s
//! argument encoding.

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::contract::{Context, Contract, ContractError, decode_args, refuse};

/// `transfer` arguments (as the native token's `TransferArgs`).
#[derive(BorshSerialize, BorshDeserialize)]
pub struct Transfer {
    pub to: String,
    pub amount: u64,
    pub memo: String,
}

/// `mint` arguments.
#[derive(BorshSerialize, BorshDeserialize)]
pub struct Mint {
    pub to: String,
    pub amount: u64,
}

/// The mini token.
pub struct MiniToken;

fn key(account: &str) -> Vec<u8> {
    [b"b/".as_slice(), account.as_bytes()].concat()
}

fn balance(ctx: &mut dyn Context, account: &str) -> Result<u64, ContractError> {
    Ok(ctx
        .get(&key(account))?
        .map(|v| u64::from_le_bytes(v.try_into().unwrap_or([0; 8])))
        .unwrap_or(0))
}

impl Contract for MiniToken {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "mint" => {
                let a: Mint = decode_args(args)?;
                let b = balance(ctx, &a.to)? + a.amount;
                ctx.put(&key(&a.to), &b.to_le_bytes())?;
                Ok(Vec::new())
            }
            "transfer" => {
                let a: Transfer = decode_args(args)?;
                let from = ctx.caller().account();
                let have = balance(ctx, &from)?;
                if have < a.amount {
                    return refuse(format!("{from} has {have}, needs {}", a.amount));
                }
                ctx.put(&key(&from), &(have - a.amount).to_le_bytes())?;
                let to = balance(ctx, &a.to)? + a.amount;
                ctx.put(&key(&a.to), &to.to_le_bytes())?;
                ctx.emit("transferred", &borsh::to_vec(&a).expect("encode"))?;
                Ok(Vec::new())
            }
            "balance" => {
                let account: String = decode_args(args)?;
                Ok(balance(ctx, &account)?.to_le_bytes().to_vec())
            }
            other => Err(ContractError::BadArguments(format!(
                "unknown method {other}"
            ))),
        }
    }
}

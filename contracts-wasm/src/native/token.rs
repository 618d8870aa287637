//! `token`: the fiat-pegged service token.
//!
//! Issuers named in the channel config (and holding the `issuer` role) mint
//! against fiat received off-chain and burn on redemption; anyone transfers;
//! only the `market` contract moves tokens into and out of escrow.
//!
//! Invariant: Σ balances + Σ open escrows = minted − burned, and the
//! `escrowed` total equals Σ open escrows. Every arithmetic step is checked
//! and refuses on overflow, so no balance or escrow ever goes negative.
//!
//! Keys:
//! - `b/{account}` → `u64` balance (absent = 0; a zero balance is deleted)
//! - `e/{escrow_id:be64}` → [`Escrow`]
//! - `r/mint/{blake3(reference)}`, `r/burn/{blake3(reference)}` → [`Stamp`]
//! - `totals` → [`Totals`]

use super::api::*;
use super::keys::{be64, key};
use super::kit::*;
use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::Hash;
use productivist_engine::contract::{Context, Contract, ContractError, decode_args, refuse};
use productivist_engine::identity::Role;

/// Running totals of the token.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Totals {
    /// Tokens ever minted.
    pub minted: u64,
    /// Tokens ever burned.
    pub burned: u64,
    /// Tokens in open escrows.
    pub escrowed: u64,
}

impl Totals {
    fn check(&self) {
        // Burns come out of balances and escrows come out of balances, and
        // both are bounded by what was minted.
        assert!(self.burned <= self.minted, "burned exceeds minted");
        assert!(
            self.escrowed <= self.minted - self.burned,
            "escrowed exceeds supply"
        );
    }
}

const TOTALS_KEY: &[u8] = b"totals";

/// The token contract.
pub struct Token;

fn balance_key(account: &str) -> Vec<u8> {
    key("b", &[account.as_bytes()])
}

fn escrow_key(id: u64) -> Vec<u8> {
    key("e", &[&be64(id)])
}

fn reference_key(kind: &str, reference: &str) -> Vec<u8> {
    key("r", &[kind.as_bytes(), &Hash::of(reference.as_bytes()).0])
}

fn balance_of(ctx: &mut dyn Context, account: &str) -> Result<u64, ContractError> {
    Ok(load::<u64>(ctx, &balance_key(account))?.unwrap_or(0))
}

fn set_balance(ctx: &mut dyn Context, account: &str, amount: u64) -> Result<(), ContractError> {
    let k = balance_key(account);
    if amount == 0 {
        ctx.delete(&k)
    } else {
        save(ctx, &k, &amount)
    }
}

fn credit(ctx: &mut dyn Context, account: &str, amount: u64) -> Result<(), ContractError> {
    let before = balance_of(ctx, account)?;
    let Some(after) = before.checked_add(amount) else {
        return refuse(format!("balance of {account} would overflow"));
    };
    set_balance(ctx, account, after)
}

fn debit(ctx: &mut dyn Context, account: &str, amount: u64) -> Result<(), ContractError> {
    let before = balance_of(ctx, account)?;
    let Some(after) = before.checked_sub(amount) else {
        return refuse(format!(
            "insufficient balance: {account} has {before}, needs {amount}"
        ));
    };
    set_balance(ctx, account, after)
}

fn totals(ctx: &mut dyn Context) -> Result<Totals, ContractError> {
    Ok(load(ctx, TOTALS_KEY)?.unwrap_or_default())
}

fn save_totals(ctx: &mut dyn Context, t: &Totals) -> Result<(), ContractError> {
    t.check();
    save(ctx, TOTALS_KEY, t)
}

fn check_amount(amount: u64) -> Result<(), ContractError> {
    if amount == 0 {
        return Err(ContractError::BadArguments(
            "amount must be at least 1".into(),
        ));
    }
    Ok(())
}

fn require_issuer(ctx: &dyn Context, action: &str) -> Result<String, ContractError> {
    let account = ctx.caller().account();
    if !ctx.caller().has_role(Role::Issuer) {
        return Err(ContractError::NotAuthorized(format!(
            "{account} may not {action}: needs role issuer"
        )));
    }
    if !ctx.config().token.issuers.contains(&account) {
        return Err(ContractError::NotAuthorized(format!(
            "{account} may not {action}: not an issuer named in the channel config"
        )));
    }
    Ok(account)
}

fn use_reference(ctx: &mut dyn Context, kind: &str, reference: &str) -> Result<(), ContractError> {
    check_text("reference", reference, TEXT_BYTES_MAX, false)?;
    let k = reference_key(kind, reference);
    if let Some(first) = load::<Stamp>(ctx, &k)? {
        return refuse(format!(
            "{kind} reference {reference:?} was already used at height {}",
            first.height
        ));
    }
    let here = stamp(ctx);
    save(ctx, &k, &here)
}

fn mint(ctx: &mut dyn Context, args: MintArgs) -> Result<Vec<u8>, ContractError> {
    require_issuer(ctx, "mint")?;
    check_account(ctx, "recipient", &args.to)?;
    check_amount(args.amount)?;
    use_reference(ctx, "mint", &args.reference)?;
    let mut t = totals(ctx)?;
    let Some(minted) = t.minted.checked_add(args.amount) else {
        return refuse("total supply would overflow");
    };
    t.minted = minted;
    credit(ctx, &args.to, args.amount)?;
    save_totals(ctx, &t)?;
    emit(
        ctx,
        "minted",
        &Minted {
            to: args.to,
            amount: args.amount,
            reference: args.reference,
        },
    )?;
    Ok(Vec::new())
}

fn burn(ctx: &mut dyn Context, args: BurnArgs) -> Result<Vec<u8>, ContractError> {
    let from = require_issuer(ctx, "burn")?;
    check_amount(args.amount)?;
    use_reference(ctx, "burn", &args.reference)?;
    debit(ctx, &from, args.amount)?;
    let mut t = totals(ctx)?;
    // The debit succeeded, so the amount was part of the supply.
    t.burned = t.burned.checked_add(args.amount).ok_or_else(|| {
        ContractError::Storage("burned total overflows: token totals are corrupt".into())
    })?;
    save_totals(ctx, &t)?;
    emit(
        ctx,
        "burned",
        &Burned {
            from,
            amount: args.amount,
            reference: args.reference,
        },
    )?;
    Ok(Vec::new())
}

fn transfer(ctx: &mut dyn Context, args: TransferArgs) -> Result<Vec<u8>, ContractError> {
    let from = ctx.caller().account();
    check_account(ctx, "recipient", &args.to)?;
    check_amount(args.amount)?;
    check_text("memo", &args.memo, TEXT_BYTES_MAX, true)?;
    if args.to == from {
        return refuse("cannot transfer to yourself");
    }
    debit(ctx, &from, args.amount)?;
    credit(ctx, &args.to, args.amount)?;
    emit(
        ctx,
        "transferred",
        &Transferred {
            from,
            to: args.to,
            amount: args.amount,
            memo: args.memo,
        },
    )?;
    Ok(Vec::new())
}

fn load_escrow(ctx: &mut dyn Context, id: u64) -> Result<Escrow, ContractError> {
    match load::<Escrow>(ctx, &escrow_key(id))? {
        Some(e) => Ok(e),
        None => refuse(format!("no escrow {id}")),
    }
}

fn open_escrow(ctx: &mut dyn Context, id: u64) -> Result<Escrow, ContractError> {
    let e = load_escrow(ctx, id)?;
    match e.state {
        EscrowState::Locked => Ok(e),
        // The second payout of an escrow always ends here.
        EscrowState::Released => refuse(format!("escrow {id} was already released")),
        EscrowState::Refunded => refuse(format!("escrow {id} was already refunded")),
    }
}

fn close_escrow(
    ctx: &mut dyn Context,
    mut e: Escrow,
    state: EscrowState,
    payouts: Vec<Payout>,
) -> Result<(), ContractError> {
    assert_eq!(e.state, EscrowState::Locked);
    let mut t = totals(ctx)?;
    t.escrowed = t.escrowed.checked_sub(e.amount).ok_or_else(|| {
        ContractError::Storage(format!(
            "escrowed total below escrow {}: totals are corrupt",
            e.escrow_id
        ))
    })?;
    save_totals(ctx, &t)?;
    let event = EscrowEvent {
        escrow_id: e.escrow_id,
        amount: e.amount,
        payouts: payouts.clone(),
    };
    e.state = state;
    e.closed = Some(stamp(ctx));
    e.payouts = payouts;
    save(ctx, &escrow_key(e.escrow_id), &e)?;
    let name = if state == EscrowState::Released {
        "escrow_released"
    } else {
        "escrow_refunded"
    };
    emit(ctx, name, &event)
}

fn escrow_lock(ctx: &mut dyn Context, args: EscrowLockArgs) -> Result<Vec<u8>, ContractError> {
    require_calling_contract(ctx, MARKET, "token.escrow_lock")?;
    check_account(ctx, "payer", &args.from)?;
    check_amount(args.amount)?;
    if load::<Escrow>(ctx, &escrow_key(args.escrow_id))?.is_some() {
        return refuse(format!("escrow {} already exists", args.escrow_id));
    }
    debit(ctx, &args.from, args.amount)?;
    let mut t = totals(ctx)?;
    t.escrowed = t.escrowed.checked_add(args.amount).ok_or_else(|| {
        ContractError::Storage("escrowed total overflows: token totals are corrupt".into())
    })?;
    save_totals(ctx, &t)?;
    let e = Escrow {
        escrow_id: args.escrow_id,
        payer: args.from,
        amount: args.amount,
        state: EscrowState::Locked,
        locked: stamp(ctx),
        closed: None,
        payouts: Vec::new(),
    };
    save(ctx, &escrow_key(e.escrow_id), &e)?;
    emit(
        ctx,
        "escrow_locked",
        &EscrowEvent {
            escrow_id: e.escrow_id,
            amount: e.amount,
            payouts: Vec::new(),
        },
    )?;
    Ok(Vec::new())
}

fn escrow_release(
    ctx: &mut dyn Context,
    args: EscrowReleaseArgs,
) -> Result<Vec<u8>, ContractError> {
    require_calling_contract(ctx, MARKET, "token.escrow_release")?;
    check_len("payouts", args.payouts.len(), 1, PAYOUTS_MAX)?;
    let mut sum: u64 = 0;
    for p in &args.payouts {
        // Syntax only: the market computed the payees from accounts checked
        // when the order was accepted. Requiring channel membership again
        // would let an organization leaving the channel freeze the escrow.
        check_account_syntax("payee", &p.to)?;
        check_amount(p.amount)?;
        sum = sum
            .checked_add(p.amount)
            .ok_or_else(|| ContractError::BadArguments("payouts overflow".into()))?;
    }
    let e = open_escrow(ctx, args.escrow_id)?;
    if sum != e.amount {
        return refuse(format!(
            "payouts of escrow {} add up to {sum}, but it holds {}",
            e.escrow_id, e.amount
        ));
    }
    for p in &args.payouts {
        credit(ctx, &p.to, p.amount)?;
    }
    close_escrow(ctx, e, EscrowState::Released, args.payouts)?;
    Ok(Vec::new())
}

fn escrow_refund(ctx: &mut dyn Context, args: EscrowIdArgs) -> Result<Vec<u8>, ContractError> {
    require_calling_contract(ctx, MARKET, "token.escrow_refund")?;
    let e = open_escrow(ctx, args.escrow_id)?;
    credit(ctx, &e.payer, e.amount)?;
    let payouts = vec![Payout {
        to: e.payer.clone(),
        amount: e.amount,
    }];
    close_escrow(ctx, e, EscrowState::Refunded, payouts)?;
    Ok(Vec::new())
}

impl Contract for Token {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "mint" => mint(ctx, decode_args(args)?),
            "burn" => burn(ctx, decode_args(args)?),
            "transfer" => transfer(ctx, decode_args(args)?),
            "escrow_lock" => escrow_lock(ctx, decode_args(args)?),
            "escrow_release" => escrow_release(ctx, decode_args(args)?),
            "escrow_refund" => escrow_refund(ctx, decode_args(args)?),
            "balance" => {
                let a: AccountArgs = decode_args(args)?;
                check_account(ctx, "account", &a.account)?;
                let amount = balance_of(ctx, &a.account)?;
                output(&Balance {
                    account: a.account,
                    amount,
                })
            }
            "supply" => {
                let () = decode_args(args)?;
                let t = totals(ctx)?;
                let params = &ctx.config().token;
                output(&Supply {
                    unit: params.unit.clone(),
                    peg: params.peg.clone(),
                    minted: t.minted,
                    burned: t.burned,
                    escrowed: t.escrowed,
                })
            }
            "escrow" => {
                let a: EscrowIdArgs = decode_args(args)?;
                output(&load::<Escrow>(ctx, &escrow_key(a.escrow_id))?)
            }
            other => Err(unknown_method(TOKEN, other)),
        }
    }
}

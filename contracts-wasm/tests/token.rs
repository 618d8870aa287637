//! `token`: minting, burning, transfers and escrow, and their refusals.

mod common;

use common::*;
use productivist_contracts::api::*;
use productivist_engine::block::InvalidCode;

fn mint_args(to: &str, amount: u64, reference: &str) -> MintArgs {
    MintArgs {
        to: to.into(),
        amount,
        reference: reference.into(),
    }
}

#[test]
fn only_configured_issuers_with_the_issuer_role_mint_and_burn() {
    let mut net = Net::new();
    net.refused(
        CARLA,
        TOKEN,
        "mint",
        &mint_args(CARLA, 10, "r1"),
        InvalidCode::NotAuthorized,
        "needs role issuer",
    );
    net.refused(
        CARLA,
        TOKEN,
        "burn",
        &BurnArgs {
            amount: 1,
            reference: "x".into(),
        },
        InvalidCode::NotAuthorized,
        "needs role issuer",
    );

    // The issuer role alone is not enough: the account must be named in config.token.issuers.
    let mut net = Net::build(|c| c.token.issuers.clear(), |_| {});
    net.refused(
        ISSUER,
        TOKEN,
        "mint",
        &mint_args(CARLA, 10, "r1"),
        InvalidCode::NotAuthorized,
        "not an issuer named in the channel config",
    );
    net.refused(
        ISSUER,
        TOKEN,
        "burn",
        &BurnArgs {
            amount: 1,
            reference: "x".into(),
        },
        InvalidCode::NotAuthorized,
        "not an issuer named in the channel config",
    );
}

#[test]
fn mint_refuses_reused_references_bad_amounts_unknown_accounts_and_overflow() {
    let mut net = Net::new();
    net.ok(ISSUER, TOKEN, "mint", &mint_args(CARLA, 100, "SEPA-1"));
    net.refused(
        ISSUER,
        TOKEN,
        "mint",
        &mint_args(ANNA, 100, "SEPA-1"),
        InvalidCode::Refused,
        "already used",
    );
    net.refused(
        ISSUER,
        TOKEN,
        "mint",
        &mint_args(CARLA, 0, "SEPA-2"),
        InvalidCode::BadArguments,
        "at least 1",
    );
    net.refused(
        ISSUER,
        TOKEN,
        "mint",
        &mint_args(CARLA, 1, ""),
        InvalidCode::BadArguments,
        "reference must not be empty",
    );
    net.refused(
        ISSUER,
        TOKEN,
        "mint",
        &mint_args("mallory@nowhere", 1, "SEPA-3"),
        InvalidCode::BadArguments,
        "not a member of this channel",
    );
    net.refused(
        ISSUER,
        TOKEN,
        "mint",
        &mint_args("carla", 1, "SEPA-4"),
        InvalidCode::BadArguments,
        "not an account",
    );
    net.refused(
        ISSUER,
        TOKEN,
        "mint",
        &mint_args(ANNA, u64::MAX, "SEPA-5"),
        InvalidCode::Refused,
        "total supply would overflow",
    );
    // Malformed arguments are a clear BadArguments, not a panic.
    let tx = {
        let channel = net.net.config.channel_id.clone();
        net.member(ISSUER)
            .call_bytes(&channel, TOKEN, "mint", vec![1, 2, 3], 999)
    };
    let r = net.block(vec![tx]).remove(0);
    assert_invalid(&r, InvalidCode::BadArguments, "bad arguments");
    assert_eq!(net.balance(CARLA), 100);
    assert_eq!(net.supply().minted, 100);
    net.assert_conservation();
}

#[test]
fn transfers_never_overdraw() {
    let mut net = Net::new();
    net.mint(CARLA, 50);
    let t = |to: &str, amount: u64| TransferArgs {
        to: to.into(),
        amount,
        memo: String::new(),
    };
    net.refused(
        CARLA,
        TOKEN,
        "transfer",
        &t(ANNA, 51),
        InvalidCode::Refused,
        "insufficient balance: carla@customers has 50, needs 51",
    );
    net.refused(
        ANNA,
        TOKEN,
        "transfer",
        &t(CARLA, 1),
        InvalidCode::Refused,
        "insufficient balance",
    );
    net.refused(
        CARLA,
        TOKEN,
        "transfer",
        &t(CARLA, 1),
        InvalidCode::Refused,
        "yourself",
    );
    net.refused(
        CARLA,
        TOKEN,
        "transfer",
        &t(ANNA, 0),
        InvalidCode::BadArguments,
        "at least 1",
    );
    net.refused(
        CARLA,
        TOKEN,
        "transfer",
        &t("anna@elsewhere", 1),
        InvalidCode::BadArguments,
        "not a member",
    );
    net.ok(CARLA, TOKEN, "transfer", &t(ANNA, 50));
    assert_eq!((net.balance(CARLA), net.balance(ANNA)), (0, 50));
    net.assert_conservation();
}

#[test]
fn burn_comes_out_of_the_issuers_own_balance_once_per_reference() {
    let mut net = Net::new();
    net.mint(CARLA, 100);
    net.refused(
        ISSUER,
        TOKEN,
        "burn",
        &BurnArgs {
            amount: 1,
            reference: "OUT-1".into(),
        },
        InvalidCode::Refused,
        "insufficient balance",
    );
    net.ok(
        CARLA,
        TOKEN,
        "transfer",
        &TransferArgs {
            to: ISSUER.into(),
            amount: 60,
            memo: "redeem".into(),
        },
    );
    net.ok(
        ISSUER,
        TOKEN,
        "burn",
        &BurnArgs {
            amount: 40,
            reference: "OUT-1".into(),
        },
    );
    net.refused(
        ISSUER,
        TOKEN,
        "burn",
        &BurnArgs {
            amount: 10,
            reference: "OUT-1".into(),
        },
        InvalidCode::Refused,
        "already used",
    );
    let s = net.supply();
    assert_eq!((s.minted, s.burned, net.balance(ISSUER)), (100, 40, 20));
    net.assert_conservation();
}

#[test]
fn escrow_methods_answer_only_the_market_contract() {
    let mut net = token_only_net();
    net.mint(CARLA, 100);
    let lock = EscrowLockArgs {
        escrow_id: 7,
        from: CARLA.into(),
        amount: 10,
    };
    net.refused(
        CARLA,
        TOKEN,
        "escrow_lock",
        &lock,
        InvalidCode::NotAuthorized,
        "only be called by the market contract, not directly",
    );
    net.refused(
        CARLA,
        "broker",
        "escrow_lock",
        &lock,
        InvalidCode::NotAuthorized,
        "only be called by the market contract, not by broker",
    );
    let release = EscrowReleaseArgs {
        escrow_id: 7,
        payouts: vec![Payout {
            to: ANNA.into(),
            amount: 10,
        }],
    };
    net.refused(
        CARLA,
        TOKEN,
        "escrow_release",
        &release,
        InvalidCode::NotAuthorized,
        "market contract",
    );
    net.refused(
        CARLA,
        "broker",
        "escrow_refund",
        &EscrowIdArgs { escrow_id: 7 },
        InvalidCode::NotAuthorized,
        "not by broker",
    );
    // Through the stand-in market it works.
    net.ok(CARLA, MARKET, "escrow_lock", &lock);
    assert_eq!(net.balance(CARLA), 90);
    net.assert_conservation();
}

#[test]
fn an_escrow_pays_out_exactly_once_and_exactly_its_amount() {
    let mut net = token_only_net();
    net.mint(CARLA, 100);
    let lock = |id, amount| EscrowLockArgs {
        escrow_id: id,
        from: CARLA.into(),
        amount,
    };
    net.refused(
        CARLA,
        MARKET,
        "escrow_lock",
        &lock(1, 101),
        InvalidCode::Refused,
        "insufficient balance",
    );
    net.ok(CARLA, MARKET, "escrow_lock", &lock(1, 30));
    net.refused(
        CARLA,
        MARKET,
        "escrow_lock",
        &lock(1, 5),
        InvalidCode::Refused,
        "escrow 1 already exists",
    );
    let pay = |amounts: &[(&str, u64)]| EscrowReleaseArgs {
        escrow_id: 1,
        payouts: amounts
            .iter()
            .map(|(to, amount)| Payout {
                to: to.to_string(),
                amount: *amount,
            })
            .collect(),
    };
    net.refused(
        CARLA,
        MARKET,
        "escrow_release",
        &pay(&[(ANNA, 20)]),
        InvalidCode::Refused,
        "add up to 20, but it holds 30",
    );
    net.refused(
        CARLA,
        MARKET,
        "escrow_release",
        &pay(&[(ANNA, 31)]),
        InvalidCode::Refused,
        "add up to 31",
    );
    net.refused(
        CARLA,
        MARKET,
        "escrow_release",
        &pay(&[]),
        InvalidCode::BadArguments,
        "payouts has 0 entries",
    );
    net.refused(
        CARLA,
        MARKET,
        "escrow_release",
        &pay(&[(ANNA, 30), (BEN, 0)]),
        InvalidCode::BadArguments,
        "at least 1",
    );
    net.refused(
        CARLA,
        MARKET,
        "escrow_release",
        &EscrowReleaseArgs {
            escrow_id: 2,
            payouts: vec![Payout {
                to: ANNA.into(),
                amount: 1,
            }],
        },
        InvalidCode::Refused,
        "no escrow 2",
    );
    net.ok(
        CARLA,
        MARKET,
        "escrow_release",
        &pay(&[(ANNA, 20), (BEN, 10)]),
    );
    net.refused(
        CARLA,
        MARKET,
        "escrow_release",
        &pay(&[(ANNA, 20), (BEN, 10)]),
        InvalidCode::Refused,
        "escrow 1 was already released",
    );
    net.refused(
        CARLA,
        MARKET,
        "escrow_refund",
        &EscrowIdArgs { escrow_id: 1 },
        InvalidCode::Refused,
        "already released",
    );
    assert_eq!(
        (net.balance(CARLA), net.balance(ANNA), net.balance(BEN)),
        (70, 20, 10)
    );

    net.ok(CARLA, MARKET, "escrow_lock", &lock(2, 70));
    net.ok(
        CARLA,
        MARKET,
        "escrow_refund",
        &EscrowIdArgs { escrow_id: 2 },
    );
    net.refused(
        CARLA,
        MARKET,
        "escrow_refund",
        &EscrowIdArgs { escrow_id: 2 },
        InvalidCode::Refused,
        "escrow 2 was already refunded",
    );
    assert_eq!(net.balance(CARLA), 70);
    let e: Option<Escrow> = net.query(TOKEN, "escrow", &EscrowIdArgs { escrow_id: 2 });
    let e = e.expect("escrow 2");
    assert_eq!((e.state, e.payouts.len()), (EscrowState::Refunded, 1));
    net.assert_conservation();
}

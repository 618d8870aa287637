//! Property tests through the real ledger:
//!
//! 1. Token conservation: random mints, burns, transfers and escrow locks,
//!    releases and refunds (through a test-only stand-in for the market)
//!    match a reference model transaction by transaction, and after every
//!    block Σ balances + Σ open escrows = minted − burned.
//! 2. Escrow safety through the real market: random acceptances,
//!    production, confirmations, timeouts, reclaims, disputes and rulings
//!    never pay an escrow twice, always pay out exactly what was locked, and
//!    keep every order's state consistent with its escrow.

mod common;

use common::*;
use productivist_contracts::api::*;
use productivist_engine::block::{TxResult, TxStatus};
use proptest::prelude::*;
use std::collections::BTreeMap;

const ACCOUNTS: [&str; 5] = [ISSUER, CARLA, ANNA, BEN, DORA];
const OPS_PER_BLOCK_MAX: usize = 6;

#[derive(Clone, Debug)]
enum TokenOp {
    Mint {
        to: usize,
        amount: u64,
    },
    Burn {
        amount: u64,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: u64,
    },
    Lock {
        id: u64,
        from: usize,
        amount: u64,
    },
    /// Pays escrow `id` to `payees`, splitting its amount plus `skew`
    /// (0 most of the time: an exact, valid split).
    Release {
        id: u64,
        payees: Vec<usize>,
        skew: i8,
    },
    Refund {
        id: u64,
    },
}

/// Mostly amounts that fit the seeded balances, sometimes zero, rarely
/// amounts that overflow the supply.
fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        16 => 1u64..400,
        2 => 400u64..3_000,
        1 => Just(0u64),
        1 => (u64::MAX / 2)..=u64::MAX,
    ]
}

/// Few escrow ids, so locks, releases and refunds meet.
const ESCROW_IDS: u64 = 3;
/// Every account starts with this much (minted in the first block).
const SEED: u64 = 1_000;

fn token_op() -> impl Strategy<Value = TokenOp> {
    let who = 0..ACCOUNTS.len();
    prop_oneof![
        3 => (who.clone(), amount()).prop_map(|(to, amount)| TokenOp::Mint { to, amount }),
        1 => amount().prop_map(|amount| TokenOp::Burn { amount }),
        4 => (who.clone(), who.clone(), amount()).prop_map(|(from, to, amount)| TokenOp::Transfer { from, to, amount }),
        3 => (0..ESCROW_IDS, who.clone(), amount()).prop_map(|(id, from, amount)| TokenOp::Lock { id, from, amount }),
        3 => (0..ESCROW_IDS, prop::collection::vec(who, 0..4), prop_oneof![6 => Just(0i8), 1 => Just(1i8), 1 => Just(-1i8)])
            .prop_map(|(id, payees, skew)| TokenOp::Release { id, payees, skew }),
        2 => (0..ESCROW_IDS).prop_map(|id| TokenOp::Refund { id }),
    ]
}

/// The reference model of the token.
#[derive(Default)]
struct Model {
    balances: BTreeMap<usize, u64>,
    /// Escrow id → (payer, amount, open).
    escrows: BTreeMap<u64, (usize, u64, bool)>,
    minted: u64,
    burned: u64,
    closes: BTreeMap<u64, u32>,
}

impl Model {
    fn bal(&self, who: usize) -> u64 {
        self.balances.get(&who).copied().unwrap_or(0)
    }

    fn add(&mut self, who: usize, amount: u64) {
        let b = self.bal(who) + amount;
        self.balances.insert(who, b);
    }

    fn sub(&mut self, who: usize, amount: u64) {
        let b = self.bal(who) - amount;
        self.balances.insert(who, b);
    }

    /// The payouts a Release op sends, given the model's view of the escrow.
    fn payouts(&self, id: u64, payees: &[usize], skew: i8) -> Vec<Payout> {
        let total = self.escrows.get(&id).map_or(10, |e| e.1);
        let total = total.saturating_add_signed(i64::from(skew));
        let n = payees.len() as u64;
        payees
            .iter()
            .enumerate()
            .map(|(i, p)| Payout {
                to: ACCOUNTS[*p].to_string(),
                // The first payee takes the remainder.
                amount: total / n + if i == 0 { total % n } else { 0 },
            })
            .collect()
    }

    /// Applies `op` if the token should accept it; returns whether it did.
    fn apply(&mut self, op: &TokenOp, payouts: &[Payout]) -> bool {
        match *op {
            TokenOp::Mint { to, amount } => {
                let ok = amount > 0 && self.minted.checked_add(amount).is_some();
                if ok {
                    self.minted += amount;
                    self.add(to, amount);
                }
                ok
            }
            TokenOp::Burn { amount } => {
                let ok = amount > 0 && self.bal(0) >= amount;
                if ok {
                    self.burned += amount;
                    self.sub(0, amount);
                }
                ok
            }
            TokenOp::Transfer { from, to, amount } => {
                let ok = amount > 0 && from != to && self.bal(from) >= amount;
                if ok {
                    self.sub(from, amount);
                    self.add(to, amount);
                }
                ok
            }
            TokenOp::Lock { id, from, amount } => {
                let ok = amount > 0 && !self.escrows.contains_key(&id) && self.bal(from) >= amount;
                if ok {
                    self.sub(from, amount);
                    self.escrows.insert(id, (from, amount, true));
                }
                ok
            }
            TokenOp::Release { id, .. } => {
                let Some(&(payer, amount, open)) = self.escrows.get(&id) else {
                    return false;
                };
                let sum = payouts
                    .iter()
                    .try_fold(0u64, |s, p| s.checked_add(p.amount));
                let ok = open
                    && (1..=PAYOUTS_MAX).contains(&payouts.len())
                    && payouts.iter().all(|p| p.amount > 0)
                    && sum == Some(amount);
                if ok {
                    for p in payouts {
                        let who = ACCOUNTS
                            .iter()
                            .position(|a| *a == p.to)
                            .expect("known payee");
                        self.add(who, p.amount);
                    }
                    self.escrows.insert(id, (payer, amount, false));
                    *self.closes.entry(id).or_default() += 1;
                }
                ok
            }
            TokenOp::Refund { id } => {
                let Some(&(payer, amount, open)) = self.escrows.get(&id) else {
                    return false;
                };
                if open {
                    self.add(payer, amount);
                    self.escrows.insert(id, (payer, amount, false));
                    *self.closes.entry(id).or_default() += 1;
                }
                open
            }
        }
    }
}

fn token_tx(net: &mut Net, op: &TokenOp, payouts: &[Payout], n: usize) -> Vec<u8> {
    match op {
        TokenOp::Mint { to, amount } => net.tx(
            ISSUER,
            TOKEN,
            "mint",
            &MintArgs {
                to: ACCOUNTS[*to].into(),
                amount: *amount,
                reference: format!("ref-{n}"),
            },
        ),
        TokenOp::Burn { amount } => net.tx(
            ISSUER,
            TOKEN,
            "burn",
            &BurnArgs {
                amount: *amount,
                reference: format!("out-{n}"),
            },
        ),
        TokenOp::Transfer { from, to, amount } => net.tx(
            ACCOUNTS[*from],
            TOKEN,
            "transfer",
            &TransferArgs {
                to: ACCOUNTS[*to].into(),
                amount: *amount,
                memo: String::new(),
            },
        ),
        TokenOp::Lock { id, from, amount } => net.tx(
            ACCOUNTS[*from],
            MARKET,
            "escrow_lock",
            &EscrowLockArgs {
                escrow_id: *id,
                from: ACCOUNTS[*from].into(),
                amount: *amount,
            },
        ),
        TokenOp::Release { id, .. } => net.tx(
            CARLA,
            MARKET,
            "escrow_release",
            &EscrowReleaseArgs {
                escrow_id: *id,
                payouts: payouts.to_vec(),
            },
        ),
        TokenOp::Refund { id } => net.tx(
            CARLA,
            MARKET,
            "escrow_refund",
            &EscrowIdArgs { escrow_id: *id },
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn token_supply_is_conserved(ops in prop::collection::vec(token_op(), 1..64)) {
        let mut net = token_only_net();
        let mut model = Model::default();
        let mut n = 0usize;
        let seed: Vec<TokenOp> = (0..ACCOUNTS.len()).map(|to| TokenOp::Mint { to, amount: SEED }).collect();
        for chunk in std::iter::once(&seed[..]).chain(ops.chunks(OPS_PER_BLOCK_MAX)) {
            let mut txs = Vec::with_capacity(chunk.len());
            let mut expected = Vec::with_capacity(chunk.len());
            for op in chunk {
                n += 1;
                let payouts = match op {
                    TokenOp::Release { id, payees, skew } => model.payouts(*id, payees, *skew),
                    _ => Vec::new(),
                };
                txs.push(token_tx(&mut net, op, &payouts, n));
                expected.push(model.apply(op, &payouts));
            }
            let results = net.block(txs);
            for ((op, want), got) in chunk.iter().zip(&expected).zip(&results) {
                prop_assert_eq!(*want, got.status.is_valid(), "{:?} -> {}", op, got.status);
            }
            for (i, account) in ACCOUNTS.iter().enumerate() {
                prop_assert_eq!(net.balance(account), model.bal(i), "balance of {}", account);
            }
            net.assert_conservation();
            let s = net.supply();
            prop_assert_eq!((s.minted, s.burned), (model.minted, model.burned));
        }
        for (id, closes) in &model.closes {
            prop_assert!(*closes <= 1, "escrow {} closed {} times", id, closes);
        }
        for (id, (_, amount, open)) in &model.escrows {
            let e: Option<Escrow> = net.query(TOKEN, "escrow", &EscrowIdArgs { escrow_id: *id });
            let e = e.expect("escrow exists");
            prop_assert_eq!(e.amount, *amount);
            prop_assert_eq!(e.state == EscrowState::Locked, *open);
        }
    }
}

// ---------------------------------------------------------------------------
// Escrow safety through the real market.

const ORDERS: u64 = 3;

#[derive(Clone, Debug)]
enum MarketOp {
    Accept {
        order: u64,
        offer_no: u32,
    },
    /// By the licensed producer if `licensed` (else by the other one).
    Produce {
        order: u64,
        licensed: bool,
        units: usize,
    },
    Confirm {
        order: u64,
    },
    Settle {
        order: u64,
    },
    Reclaim {
        order: u64,
    },
    Dispute {
        order: u64,
        by_customer: bool,
    },
    Resolve {
        order: u64,
        producer_pct: u64,
        producer_won: bool,
    },
    Cancel {
        order: u64,
    },
    Advance {
        hours: u64,
    },
}

fn market_op() -> impl Strategy<Value = MarketOp> {
    let order = 1..=ORDERS;
    prop_oneof![
        2 => (order.clone(), 1u32..=2).prop_map(|(order, offer_no)| MarketOp::Accept { order, offer_no }),
        8 => (order.clone(), prop::bool::weighted(0.85), 1usize..=2)
            .prop_map(|(order, licensed, units)| MarketOp::Produce { order, licensed, units }),
        1 => order.clone().prop_map(|order| MarketOp::Confirm { order }),
        3 => order.clone().prop_map(|order| MarketOp::Settle { order }),
        2 => order.clone().prop_map(|order| MarketOp::Reclaim { order }),
        1 => (order.clone(), any::<bool>()).prop_map(|(order, by_customer)| MarketOp::Dispute { order, by_customer }),
        3 => (order.clone(), 0u64..=100, any::<bool>())
            .prop_map(|(order, producer_pct, producer_won)| MarketOp::Resolve { order, producer_pct, producer_won }),
        1 => order.prop_map(|order| MarketOp::Cancel { order }),
        3 => (1u64..=48).prop_map(|hours| MarketOp::Advance { hours }),
        1 => (48u64..=(16 * 24)).prop_map(|hours| MarketOp::Advance { hours }),
    ]
}

fn closes_escrow(r: &TxResult) -> usize {
    r.events
        .iter()
        .filter(|e| {
            e.contract == TOKEN && (e.name == "escrow_released" || e.name == "escrow_refunded")
        })
        .count()
}

/// Checks every order against its escrow and the token totals.
fn check_market(net: &Net, minted: u64) -> Result<(), TestCaseError> {
    net.assert_conservation();
    let mut balances: u64 = 0;
    for a in [CARLA, ANNA, BEN, DORA, PLATFORM] {
        balances += net.balance(a);
    }
    let s = net.supply();
    prop_assert_eq!(balances + s.escrowed, minted, "no token created or lost");
    for id in 1..=ORDERS {
        let o = net.order(id);
        let escrow: Option<Escrow> = net.query(TOKEN, "escrow", &EscrowIdArgs { escrow_id: id });
        match o.state {
            OrderState::Open | OrderState::Cancelled => prop_assert!(escrow.is_none()),
            OrderState::Accepted | OrderState::Delivered | OrderState::Disputed => {
                let e = escrow.expect("locked escrow");
                prop_assert_eq!(e.state, EscrowState::Locked);
                prop_assert_eq!(
                    e.amount,
                    o.acceptance.as_ref().expect("accepted").escrow_total
                );
                prop_assert!(o.settlement.is_none());
            }
            OrderState::Completed | OrderState::Reclaimed | OrderState::Resolved => {
                let e = escrow.expect("closed escrow");
                prop_assert!(e.state != EscrowState::Locked);
                let settlement = o.settlement.expect("settled");
                prop_assert_eq!(&e.payouts, &settlement.payouts);
                let paid: u64 = e.payouts.iter().map(|p| p.amount).sum();
                prop_assert_eq!(paid, o.acceptance.as_ref().expect("accepted").escrow_total);
            }
        }
        prop_assert!(
            o.produced_units <= o.quantity,
            "never beyond the licensed quantity"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn market_escrows_pay_out_once_and_exactly(
        royalty in 0u64..=10,
        quantities in prop::collection::vec(1u64..=4, ORDERS as usize),
        first_offers in prop::collection::vec(1u32..=2, 2),
        ops in prop::collection::vec(market_op(), 1..50),
    ) {
        const MINTED: u64 = 100_000;
        // A short receipt timeout so assumed receipts happen within a case.
        let mut net = Net::build(|c| c.market.receipt_timeout_ms = 2 * DAY_MS, |_| {});
        net.mint(CARLA, MINTED);
        let mut t = terms();
        t.royalty_per_unit = royalty;
        let model = register_args("prop", 1, None, t);
        net.ok(DORA, MODEL, "register", &model);
        net.accredit(ERIC, 1);
        let deadline = net.now_ms + 10 * DAY_MS;
        for q in &quantities {
            let id: u64 = net.ok_as(CARLA, MARKET, "post_order", &order_args(model.file_hash, *q, deadline));
            net.ok(ANNA, MARKET, "offer", &OfferArgs { order_id: id, price: 900, lead_time_ms: DAY_MS, process: "FDM".into() });
            net.ok(BEN, MARKET, "offer", &OfferArgs { order_id: id, price: 1_100, lead_time_ms: DAY_MS, process: "SLA".into() });
        }
        // Orders 1 and 2 start accepted (so production starts early); order
        // 3 stays open for the random ops.
        for (order_id, offer_no) in (1..).zip(&first_offers) {
            net.ok(CARLA, MARKET, "accept", &AcceptArgs { order_id, offer_no: *offer_no });
        }
        let mut closes: BTreeMap<u64, usize> = BTreeMap::new();
        let mut serial = 0usize;
        for op in &ops {
            let result = match *op {
                MarketOp::Advance { hours } => {
                    net.advance(hours * HOUR_MS);
                    continue;
                }
                MarketOp::Accept { order, offer_no } => net.call(CARLA, MARKET, "accept", &AcceptArgs { order_id: order, offer_no }),
                MarketOp::Produce { order, licensed, units } => {
                    let serials: Vec<String> = (0..units).map(|_| { serial += 1; format!("P-{serial}") }).collect();
                    let refs: Vec<&str> = serials.iter().map(String::as_str).collect();
                    let holder = net.order(order).acceptance.map_or(ANNA.to_string(), |a| a.offer.producer);
                    let who = match (licensed, holder == BEN) {
                        (true, _) => holder,
                        (false, true) => ANNA.to_string(),
                        (false, false) => BEN.to_string(),
                    };
                    net.call(&who, MARKET, "report_production", &report(order, &refs))
                }
                MarketOp::Confirm { order } => net.call(CARLA, MARKET, "confirm_receipt", &OrderIdArgs { order_id: order }),
                MarketOp::Settle { order } => net.call(DORA, MARKET, "settle", &OrderIdArgs { order_id: order }),
                MarketOp::Reclaim { order } => net.call(CARLA, MARKET, "reclaim", &OrderIdArgs { order_id: order }),
                MarketOp::Dispute { order, by_customer } => {
                    // The producer side is whoever holds the license, if anyone; else ben.
                    let producer = net.order(order).acceptance.map_or(BEN.to_string(), |a| a.offer.producer);
                    let who = if by_customer { CARLA.to_string() } else { producer };
                    net.call(&who, MARKET, "dispute", &DisputeArgs { order_id: order, reason: "quality".into() })
                }
                MarketOp::Resolve { order, producer_pct, producer_won } => {
                    let (price, royalty_total) = net
                        .order(order)
                        .acceptance
                        .map_or((0, 0), |a| (a.offer.price, a.royalty_total));
                    let to_producer = price * producer_pct / 100;
                    net.call(ERIC, MARKET, "resolve", &ResolveArgs {
                        order_id: order,
                        winner: if producer_won { Party::Producer } else { Party::Customer },
                        to_producer,
                        to_designer: royalty_total,
                        to_customer: price - to_producer,
                        ruling: "split".into(),
                    })
                }
                MarketOp::Cancel { order } => net.call(CARLA, MARKET, "cancel", &OrderIdArgs { order_id: order }),
            };
            if result.status == TxStatus::Valid {
                let n = closes_escrow(&result);
                if n > 0 {
                    let order = match *op {
                        MarketOp::Confirm { order } | MarketOp::Settle { order } | MarketOp::Reclaim { order }
                        | MarketOp::Resolve { order, .. } => order,
                        _ => return Err(TestCaseError::fail(format!("{op:?} closed an escrow"))),
                    };
                    *closes.entry(order).or_default() += n;
                }
            } else {
                prop_assert!(result.events.is_empty(), "an invalid tx leaves no events");
            }
            check_market(&net, MINTED)?;
        }
        for (order, n) in &closes {
            prop_assert_eq!(*n, 1, "escrow {} closed {} times", order, n);
        }
    }
}

//! `market`: orders, offers, acceptance, production, receipt, timeout,
//! missed deadlines and disputes, with every refusal.

mod common;

use common::*;
use productivist_contracts::api::*;
use productivist_engine::block::InvalidCode;

fn oid(order_id: u64) -> OrderIdArgs {
    OrderIdArgs { order_id }
}

fn offer(order_id: u64, price: u64, lead_time_ms: u64, process: &str) -> OfferArgs {
    OfferArgs {
        order_id,
        price,
        lead_time_ms,
        process: process.into(),
    }
}

#[test]
fn posting_an_order_checks_role_model_deadline_and_material() {
    let mut s = story_posted();
    let n = &mut s.net;
    let deadline = n.now_ms + DAY_MS;
    n.refused(
        DORA,
        MARKET,
        "post_order",
        &order_args(s.model, 1, deadline),
        InvalidCode::NotAuthorized,
        "needs role customer",
    );
    n.refused(
        CARLA,
        MARKET,
        "post_order",
        &order_args(model_hash("nope"), 1, deadline),
        InvalidCode::Refused,
        "unknown model",
    );
    n.refused(
        CARLA,
        MARKET,
        "post_order",
        &order_args(s.model, 1, n.now_ms),
        InvalidCode::Refused,
        "is not after the block time",
    );
    n.refused(
        CARLA,
        MARKET,
        "post_order",
        &order_args(s.model, 0, deadline),
        InvalidCode::BadArguments,
        "quantity",
    );
    let mut abs = order_args(s.model, 1, deadline);
    abs.material = "ABS".into();
    n.refused(
        CARLA,
        MARKET,
        "post_order",
        &abs,
        InvalidCode::Refused,
        "does not allow material ABS",
    );
    let mut bad_region = order_args(s.model, 1, deadline);
    bad_region.region = "Île de France".into();
    n.refused(
        CARLA,
        MARKET,
        "post_order",
        &bad_region,
        InvalidCode::BadArguments,
        "region",
    );
}

#[test]
fn offers_check_role_cap_deadline_and_uniqueness() {
    let mut s = story_posted();
    let (n, id) = (&mut s.net, s.order_id);
    n.refused(
        CARLA,
        MARKET,
        "offer",
        &offer(id, 100, DAY_MS, "FDM"),
        InvalidCode::NotAuthorized,
        "needs role producer or industrial",
    );
    n.refused(
        ANNA,
        MARKET,
        "offer",
        &offer(id, 2_001, DAY_MS, "FDM"),
        InvalidCode::Refused,
        "price cap 2000",
    );
    n.refused(
        ANNA,
        MARKET,
        "offer",
        &offer(id, 100, 11 * DAY_MS, "FDM"),
        InvalidCode::Refused,
        "cannot meet the deadline",
    );
    n.refused(
        ANNA,
        MARKET,
        "offer",
        &offer(99, 100, DAY_MS, "FDM"),
        InvalidCode::Refused,
        "no order 99",
    );
    n.ok(ANNA, MARKET, "offer", &offer(id, 100, DAY_MS, "FDM"));
    n.refused(
        ANNA,
        MARKET,
        "offer",
        &offer(id, 90, DAY_MS, "FDM"),
        InvalidCode::Refused,
        "already made offer 1",
    );
}

#[test]
fn acceptance_is_the_customers_once_and_locks_price_plus_royalty() {
    let mut s = story_accepted();
    let (n, id) = (&mut s.net, s.order_id);
    assert_eq!(n.balance(CARLA), 10_000 - ESCROW);
    let acc = n.order(id).acceptance.expect("accepted");
    assert_eq!(
        (acc.royalty_total, acc.escrow_total, acc.platform_fee_bps),
        (ROYALTY, ESCROW, 200)
    );
    n.refused(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: id,
            offer_no: 1,
        },
        InvalidCode::Refused,
        "already accepted (offer 2 by ben@printshop-lyon)",
    );
    n.refused(
        ANNA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: id,
            offer_no: 1,
        },
        InvalidCode::NotAuthorized,
        "only the customer carla@customers",
    );
    n.refused(
        ANNA,
        MARKET,
        "offer",
        &offer(id, 100, DAY_MS, "FDM"),
        InvalidCode::Refused,
        "accepted and in production",
    );
    n.refused(
        CARLA,
        MARKET,
        "cancel",
        &oid(id),
        InvalidCode::Refused,
        "cannot cancel order 1",
    );
    assert_eq!(n.balance(CARLA), 10_000 - ESCROW, "nothing moved twice");
    n.assert_conservation();
}

#[test]
fn acceptance_without_funds_is_refused_and_leaves_no_license() {
    let mut s = story_posted();
    let (n, id) = (&mut s.net, s.order_id);
    n.ok(ANNA, MARKET, "offer", &offer(id, 1_500, DAY_MS, "FDM"));
    n.ok(
        CARLA,
        TOKEN,
        "transfer",
        &TransferArgs {
            to: ANNA.into(),
            amount: 9_000,
            memo: String::new(),
        },
    );
    n.refused(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: id,
            offer_no: 1,
        },
        InvalidCode::Refused,
        "insufficient balance: carla@customers has 1000, needs 1520",
    );
    n.refused(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: id,
            offer_no: 7,
        },
        InvalidCode::Refused,
        "no offer 7 on order 1",
    );
    let license: Option<PrintLicense> = n.query(MODEL, "license", &oid(id));
    assert!(
        license.is_none(),
        "the failed acceptance's license was rolled back"
    );
    match n.query(MODEL, "authenticate", &FileHashArgs { file_hash: s.model }) {
        Authenticity::Authentic { model, .. } => assert_eq!(model.units_licensed, 0),
        Authenticity::Unknown => panic!("model unknown"),
    }
    assert_eq!(n.order(id).state, OrderState::Open);
}

#[test]
fn acceptance_enforces_the_model_license_terms() {
    let mut net = Net::new();
    net.mint(CARLA, 100_000);
    let mut t = terms();
    t.producers = AllowList::Only(vec![ANNA.into()]);
    t.processes = AllowList::Only(vec!["FDM".into()]);
    t.max_units = 5;
    let model = register_args("limited", 1, None, t);
    net.ok(DORA, MODEL, "register", &model);
    let deadline = net.now_ms + 10 * DAY_MS;
    let o1: u64 = net.ok_as(
        CARLA,
        MARKET,
        "post_order",
        &order_args(model.file_hash, 4, deadline),
    );
    net.ok(BEN, MARKET, "offer", &offer(o1, 100, DAY_MS, "FDM"));
    net.ok(ANNA, MARKET, "offer", &offer(o1, 100, DAY_MS, "SLA"));
    net.refused(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: o1,
            offer_no: 1,
        },
        InvalidCode::Refused,
        "does not allow producer ben@printshop-lyon",
    );
    net.refused(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: o1,
            offer_no: 2,
        },
        InvalidCode::Refused,
        "does not allow process SLA",
    );

    let o2: u64 = net.ok_as(
        CARLA,
        MARKET,
        "post_order",
        &order_args(model.file_hash, 4, deadline),
    );
    net.ok(ANNA, MARKET, "offer", &offer(o2, 100, DAY_MS, "FDM"));
    net.ok(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: o2,
            offer_no: 1,
        },
    );
    let o3: u64 = net.ok_as(
        CARLA,
        MARKET,
        "post_order",
        &order_args(model.file_hash, 2, deadline),
    );
    net.ok(ANNA, MARKET, "offer", &offer(o3, 100, DAY_MS, "FDM"));
    net.refused(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: o3,
            offer_no: 1,
        },
        InvalidCode::Refused,
        "allows at most 5 units; 4 already licensed, 2 requested",
    );
}

#[test]
fn production_needs_the_license_and_stays_within_its_quantity() {
    let mut s = story_posted();
    let (n, id) = (&mut s.net, s.order_id);
    n.ok(BEN, MARKET, "offer", &offer(id, PRICE, DAY_MS, "SLA"));
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["S-1"]),
        InvalidCode::Refused,
        "no print license: order 1 has no accepted offer",
    );
    n.ok(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: id,
            offer_no: 1,
        },
    );
    n.refused(
        ANNA,
        MARKET,
        "report_production",
        &report(id, &["S-1"]),
        InvalidCode::NotAuthorized,
        "anna@fablab-paris holds no print license for order 1 (licensed to ben@printshop-lyon)",
    );
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["S-1", "S-2", "S-3", "S-4", "S-5"]),
        InvalidCode::Refused,
        "beyond the licensed quantity: order 1 licenses 4 units, 0 already reported, 5 more",
    );
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["S-1", "S-1"]),
        InvalidCode::BadArguments,
        "serial S-1 is listed twice",
    );
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &[]),
        InvalidCode::BadArguments,
        "serials has 0 entries",
    );
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["bad serial"]),
        InvalidCode::BadArguments,
        "serial",
    );
    n.ok(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["S-1", "S-2", "S-3"]),
    );
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["S-4", "S-5"]),
        InvalidCode::Refused,
        "4 units, 3 already reported, 2 more",
    );
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["S-3"]),
        InvalidCode::Refused,
        "serial S-3 is already recorded (order 1 batch 1",
    );
    n.ok(BEN, MARKET, "report_production", &report(id, &["S-4"]));
    assert_eq!(n.order(id).state, OrderState::Delivered);
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["S-5"]),
        InvalidCode::Refused,
        "beyond the licensed quantity",
    );
    // Production records are written only through the market.
    let direct = RecordProductionArgs {
        batch: 9,
        file_hash: s.model,
        producer: BEN.into(),
        material: "PLA".into(),
        report: report(id, &["S-9"]),
    };
    n.refused(
        BEN,
        CERTIFY,
        "record_production",
        &direct,
        InvalidCode::NotAuthorized,
        "only be called by the market contract",
    );
}

#[test]
fn serials_are_unique_across_orders() {
    let mut s = story_delivered();
    let n = &mut s.net;
    let deadline = n.now_ms + 5 * DAY_MS;
    let o2: u64 = n.ok_as(
        CARLA,
        MARKET,
        "post_order",
        &order_args(s.model, 1, deadline),
    );
    n.ok(ANNA, MARKET, "offer", &offer(o2, 100, DAY_MS, "FDM"));
    n.ok(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: o2,
            offer_no: 1,
        },
    );
    n.refused(
        ANNA,
        MARKET,
        "report_production",
        &report(o2, &["PVT-0002"]),
        InvalidCode::Refused,
        "serials are unique on the channel",
    );
}

#[test]
fn receipt_is_confirmed_once_by_the_customer_only() {
    let mut s = story_accepted();
    let (n, id) = (&mut s.net, s.order_id);
    n.refused(
        CARLA,
        MARKET,
        "confirm_receipt",
        &oid(id),
        InvalidCode::Refused,
        "cannot confirm receipt of order 1: it is accepted and in production",
    );
    n.ok(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["A-1", "A-2", "A-3", "A-4"]),
    );
    n.refused(
        BEN,
        MARKET,
        "confirm_receipt",
        &oid(id),
        InvalidCode::NotAuthorized,
        "only the customer carla@customers",
    );
    n.ok(CARLA, MARKET, "confirm_receipt", &oid(id));
    n.refused(
        CARLA,
        MARKET,
        "confirm_receipt",
        &oid(id),
        InvalidCode::Refused,
        "it was already settled",
    );
    n.refused(
        ANNA,
        MARKET,
        "settle",
        &oid(id),
        InvalidCode::Refused,
        "it was already settled",
    );
    n.refused(
        CARLA,
        MARKET,
        "reclaim",
        &oid(id),
        InvalidCode::Refused,
        "already settled",
    );
    n.refused(
        CARLA,
        MARKET,
        "dispute",
        &DisputeArgs {
            order_id: id,
            reason: "late claim".into(),
        },
        InvalidCode::Refused,
        "already settled",
    );
    assert_eq!(
        (n.balance(BEN), n.balance(DORA), n.balance(PLATFORM)),
        (PRICE - FEE, ROYALTY, FEE),
        "paid exactly once"
    );
    n.assert_conservation();
}

#[test]
fn receipt_is_assumed_after_the_timeout_and_anyone_may_settle() {
    let mut s = story_delivered();
    let (n, id) = (&mut s.net, s.order_id);
    let timeout_ms = n.net.config.market.receipt_timeout_ms;
    let delivered_ms = n.order(id).delivered.expect("delivered").time_ms;
    n.advance(timeout_ms - 1);
    n.refused(
        ANNA,
        MARKET,
        "settle",
        &oid(id),
        InvalidCode::Refused,
        &format!("assumed only from {} ms", delivered_ms + timeout_ms),
    );
    n.advance(1);
    n.ok(ANNA, MARKET, "settle", &oid(id));
    let o = n.order(id);
    assert_eq!(o.state, OrderState::Completed);
    assert_eq!(
        o.settlement.expect("settled").kind,
        SettlementKind::AssumedReceipt
    );
    assert_eq!(
        (n.balance(BEN), n.balance(DORA), n.balance(PLATFORM)),
        (PRICE - FEE, ROYALTY, FEE)
    );
    n.refused(
        ANNA,
        MARKET,
        "settle",
        &oid(id),
        InvalidCode::Refused,
        "already settled",
    );
    n.refused(
        CARLA,
        MARKET,
        "confirm_receipt",
        &oid(id),
        InvalidCode::Refused,
        "already settled",
    );
    assert_eq!(n.reputation(BEN).stats.orders_on_time, 1);
    n.assert_conservation();
}

#[test]
fn a_missed_deadline_lets_the_customer_reclaim_the_escrow() {
    let mut s = story_accepted();
    let (n, id) = (&mut s.net, s.order_id);
    let deadline = n.order(id).deadline_ms;
    n.ok(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["L-1", "L-2"]),
    );
    n.refused(
        CARLA,
        MARKET,
        "reclaim",
        &oid(id),
        InvalidCode::Refused,
        "has not passed",
    );
    n.now_ms = deadline + 1;
    n.refused(
        BEN,
        MARKET,
        "reclaim",
        &oid(id),
        InvalidCode::NotAuthorized,
        "only the customer",
    );
    n.ok(CARLA, MARKET, "reclaim", &oid(id));
    assert_eq!(n.balance(CARLA), 10_000);
    assert_eq!(n.balance(BEN), 0);
    let o = n.order(id);
    assert_eq!(
        (o.state, o.settlement.expect("closed").kind),
        (OrderState::Reclaimed, SettlementKind::Reclaimed)
    );
    n.refused(
        CARLA,
        MARKET,
        "reclaim",
        &oid(id),
        InvalidCode::Refused,
        "already reclaimed",
    );
    n.refused(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["L-3", "L-4"]),
        InvalidCode::Refused,
        "already reclaimed",
    );
    n.refused(
        CARLA,
        REPUTATION,
        "rate",
        &RateArgs {
            order_id: id,
            stars: 1,
            comment: String::new(),
        },
        InvalidCode::Refused,
        "only completed orders",
    );
    let ben = n.reputation(BEN);
    assert_eq!((ben.stats.orders_missed, ben.producer_score), (1, -20));
    let escrow: Option<Escrow> = n.query(TOKEN, "escrow", &EscrowIdArgs { escrow_id: id });
    assert_eq!(escrow.expect("escrow").state, EscrowState::Refunded);
    n.assert_conservation();
}

#[test]
fn a_late_delivery_completes_but_counts_as_late() {
    let mut s = story_accepted();
    let (n, id) = (&mut s.net, s.order_id);
    n.now_ms = n.order(id).deadline_ms + HOUR_MS;
    n.ok(
        BEN,
        MARKET,
        "report_production",
        &report(id, &["Z-1", "Z-2", "Z-3", "Z-4"]),
    );
    n.refused(
        CARLA,
        MARKET,
        "reclaim",
        &oid(id),
        InvalidCode::Refused,
        "it is delivered and awaits receipt",
    );
    n.ok(CARLA, MARKET, "confirm_receipt", &oid(id));
    let ben = n.reputation(BEN);
    assert_eq!((ben.stats.orders_on_time, ben.stats.orders_late), (0, 1));
}

#[test]
fn a_dispute_goes_to_an_accredited_expert_who_splits_the_escrow() {
    let mut s = story_delivered();
    let (n, id) = (&mut s.net, s.order_id);
    let dispute = DisputeArgs {
        order_id: id,
        reason: "two units cracked".into(),
    };
    n.refused(
        ANNA,
        MARKET,
        "dispute",
        &dispute,
        InvalidCode::NotAuthorized,
        "only the customer or the producer",
    );
    n.refused(
        CARLA,
        MARKET,
        "dispute",
        &DisputeArgs {
            order_id: id,
            reason: String::new(),
        },
        InvalidCode::BadArguments,
        "reason",
    );
    n.ok(CARLA, MARKET, "dispute", &dispute);
    n.refused(
        BEN,
        MARKET,
        "dispute",
        &dispute,
        InvalidCode::Refused,
        "it is in dispute",
    );
    n.refused(
        CARLA,
        MARKET,
        "confirm_receipt",
        &oid(id),
        InvalidCode::Refused,
        "it is in dispute",
    );
    n.advance(30 * DAY_MS);
    n.refused(
        ANNA,
        MARKET,
        "settle",
        &oid(id),
        InvalidCode::Refused,
        "it is in dispute",
    );

    let split = |p, d, c| ResolveArgs {
        order_id: id,
        winner: Party::Customer,
        to_producer: p,
        to_designer: d,
        to_customer: c,
        ruling: "half the units are defective".into(),
    };
    n.refused(
        BEN,
        MARKET,
        "resolve",
        &split(600, 20, 600),
        InvalidCode::NotAuthorized,
        "needs role expert",
    );
    n.refused(
        "erin@certilab",
        MARKET,
        "resolve",
        &split(600, 20, 600),
        InvalidCode::NotAuthorized,
        "no accreditation",
    );
    n.accredit(ERIC, 1);
    n.refused(
        ERIC,
        MARKET,
        "resolve",
        &split(600, 20, 599),
        InvalidCode::Refused,
        "must add up to the escrow of 1220",
    );
    n.refused(
        ERIC,
        MARKET,
        "resolve",
        &split(u64::MAX, 20, 600),
        InvalidCode::Refused,
        "must add up",
    );
    n.ok(ERIC, MARKET, "resolve", &split(600, 20, 600));
    n.refused(
        ERIC,
        MARKET,
        "resolve",
        &split(600, 20, 600),
        InvalidCode::Refused,
        "not in dispute",
    );
    assert_eq!(
        (
            n.balance(BEN),
            n.balance(DORA),
            n.balance(CARLA),
            n.balance(PLATFORM)
        ),
        (600, 20, 10_000 - ESCROW + 600, 0)
    );
    let o = n.order(id);
    assert_eq!(o.state, OrderState::Resolved);
    let d = o.dispute.expect("dispute");
    assert_eq!(
        (d.raised_by, d.interrupted),
        (Party::Customer, OrderState::Delivered)
    );
    let ruling = d.ruling.expect("ruling");
    assert_eq!(
        (ruling.expert.as_str(), ruling.winner),
        (ERIC, Party::Customer)
    );
    assert_eq!(n.reputation(BEN).stats.disputes_lost, 1);
    assert_eq!(n.reputation(CARLA).stats.disputes_won, 1);
    n.assert_conservation();
}

#[test]
fn a_producer_may_dispute_and_a_party_may_not_arbitrate() {
    const CECILE: &str = "cecile@customers";
    let mut net = Net::build(|c| c.market.platform_account = None, |_| {});
    net.mint(CECILE, 10_000);
    let m = register_args("bracket", 1, None, terms());
    net.ok(DORA, MODEL, "register", &m);
    let deadline = net.now_ms + 10 * DAY_MS;
    let id: u64 = net.ok_as(
        CECILE,
        MARKET,
        "post_order",
        &order_args(m.file_hash, 2, deadline),
    );
    net.ok(BEN, MARKET, "offer", &offer(id, 500, DAY_MS, "SLA"));
    net.ok(
        CECILE,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: id,
            offer_no: 1,
        },
    );
    assert_eq!(
        net.order(id).acceptance.expect("accepted").platform_fee_bps,
        0,
        "no platform account, no fee"
    );
    net.ok(
        BEN,
        MARKET,
        "dispute",
        &DisputeArgs {
            order_id: id,
            reason: "customer changed the spec".into(),
        },
    );
    assert_eq!(
        net.order(id).dispute.expect("dispute").interrupted,
        OrderState::Accepted
    );
    net.accredit(ERIC, 1);
    net.accredit(CECILE, 2);
    let ruling = ResolveArgs {
        order_id: id,
        winner: Party::Producer,
        to_producer: 500,
        to_designer: 10,
        to_customer: 0,
        ruling: "spec was agreed".into(),
    };
    net.refused(
        CECILE,
        MARKET,
        "resolve",
        &ruling,
        InvalidCode::NotAuthorized,
        "is a party to order 1",
    );
    net.ok(ERIC, MARKET, "resolve", &ruling);
    assert_eq!((net.balance(BEN), net.balance(DORA)), (500, 10));
    assert_eq!(net.reputation(BEN).stats.disputes_won, 1);
    assert_eq!(net.reputation(CECILE).stats.disputes_lost, 1);
    net.assert_conservation();
}

#[test]
fn an_open_order_can_be_cancelled_by_its_customer_only() {
    let mut s = story_posted();
    let (n, id) = (&mut s.net, s.order_id);
    n.refused(
        ANNA,
        MARKET,
        "cancel",
        &oid(id),
        InvalidCode::NotAuthorized,
        "only the customer",
    );
    n.ok(CARLA, MARKET, "cancel", &oid(id));
    n.refused(
        ANNA,
        MARKET,
        "offer",
        &offer(id, 100, DAY_MS, "FDM"),
        InvalidCode::Refused,
        "it was cancelled",
    );
}

#[test]
fn a_platform_account_outside_the_channel_is_refused_by_the_config() {
    // The market refuses acceptance when the platform account is unusable
    // (defence in depth), but the channel config never gets there: a config
    // naming a non-member account is refused at genesis.
    use productivist_engine::devnet::{DevNet, DevNetSpec};
    let mut net = DevNet::generate(&DevNetSpec::productivist(Some("platform"))).expect("devnet");
    net.config.market.platform_account = Some("fees@not-a-member".into());
    let err = net.config.validate().expect_err("refused");
    assert!(err.to_string().contains("fees@not-a-member"), "{err}");
}

//! The full Productivist story through the real ledger.

mod common;

use common::*;
use productivist_contracts::api::*;
use productivist_engine::Hash;
use productivist_engine::block::TxStatus;

#[test]
fn full_story_from_mint_to_verified_object() {
    let mut net = Net::new();

    // The issuer mints against carla's bank transfer.
    net.ok(
        ISSUER,
        TOKEN,
        "mint",
        &MintArgs {
            to: CARLA.into(),
            amount: 10_000,
            reference: "SEPA-2024-0001".into(),
        },
    );
    assert_eq!(net.balance(CARLA), 10_000);
    let supply = net.supply();
    assert_eq!(
        (supply.unit.as_str(), supply.peg.as_str()),
        ("PVT", "0.01 EUR")
    );

    // dora registers the model.
    let args = register_args("bracket", 1, None, terms());
    let model = args.file_hash;
    let register = net.call(DORA, MODEL, "register", &args);
    assert_eq!(register.status, TxStatus::Valid);
    let registered_height = net.ledger.head().unwrap().height;
    assert!(
        register
            .events
            .iter()
            .any(|e| e.contract == MODEL && e.name == "model_registered")
    );

    // carla orders 4 units; anna and ben offer; carla accepts ben's offer.
    let deadline_ms = net.now_ms + 10 * DAY_MS;
    let order_id: u64 = net.ok_as(
        CARLA,
        MARKET,
        "post_order",
        &order_args(model, 4, deadline_ms),
    );
    assert_eq!(order_id, 1);
    let anna_offer: u32 = net.ok_as(
        ANNA,
        MARKET,
        "offer",
        &OfferArgs {
            order_id,
            price: 1_500,
            lead_time_ms: 3 * DAY_MS,
            process: "FDM".into(),
        },
    );
    let ben_offer: u32 = net.ok_as(
        BEN,
        MARKET,
        "offer",
        &OfferArgs {
            order_id,
            price: PRICE,
            lead_time_ms: 2 * DAY_MS,
            process: "SLA".into(),
        },
    );
    let offers: Vec<Offer> = net.query(MARKET, "offers", &OrderIdArgs { order_id });
    assert_eq!(
        offers
            .iter()
            .map(|o| (o.offer_no, o.producer.as_str()))
            .collect::<Vec<_>>(),
        [(anna_offer, ANNA), (ben_offer, BEN)]
    );
    net.ok(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id,
            offer_no: ben_offer,
        },
    );
    assert_eq!(net.balance(CARLA), 10_000 - ESCROW);
    let escrow: Option<Escrow> = net.query(
        TOKEN,
        "escrow",
        &EscrowIdArgs {
            escrow_id: order_id,
        },
    );
    let escrow = escrow.expect("escrow");
    assert_eq!(
        (escrow.amount, escrow.state, escrow.payer.as_str()),
        (ESCROW, EscrowState::Locked, CARLA)
    );
    let license: Option<PrintLicense> = net.query(MODEL, "license", &OrderIdArgs { order_id });
    let license = license.expect("license");
    assert_eq!(
        (
            license.producer.as_str(),
            license.quantity,
            license.designer.as_str()
        ),
        (BEN, 4, DORA)
    );
    net.assert_conservation();

    // ben produces in two batches.
    net.advance(DAY_MS);
    let b1: u32 = net.ok_as(
        BEN,
        MARKET,
        "report_production",
        &report(order_id, &["PVT-0001", "PVT-0002"]),
    );
    assert_eq!(net.order(order_id).state, OrderState::Accepted);
    let b2: u32 = net.ok_as(
        BEN,
        MARKET,
        "report_production",
        &report(order_id, &["PVT-0003", "PVT-0004"]),
    );
    assert_eq!((b1, b2), (1, 2));
    let order = net.order(order_id);
    assert_eq!(
        (order.state, order.produced_units, order.batches),
        (OrderState::Delivered, 4, 2)
    );

    // Governance accredits eric; eric certifies two units.
    net.accredit(ERIC, 1);
    let status: Option<AccreditationStatus> = net.query(
        CERTIFY,
        "accreditation",
        &AccountArgs {
            account: ERIC.into(),
        },
    );
    assert!(status.expect("accredited").active);
    let cert_id: u64 = net.ok_as(
        ERIC,
        CERTIFY,
        "issue",
        &IssueCertificateArgs {
            serials: vec!["PVT-0001".into(), "PVT-0003".into()],
            claim: "ISO 527-2 tensile strength >= 40 MPa".into(),
            outcome: Outcome::Pass,
            evidence: Hash::of(b"tensile test report"),
            valid_from_ms: net.now_ms,
            valid_until_ms: net.now_ms + 365 * DAY_MS,
        },
    );
    assert_eq!(cert_id, 1);

    // carla confirms: the producer, the designer and the platform are paid.
    net.advance(HOUR_MS);
    net.ok(CARLA, MARKET, "confirm_receipt", &OrderIdArgs { order_id });
    assert_eq!(net.balance(CARLA), 10_000 - ESCROW);
    assert_eq!(net.balance(BEN), PRICE - FEE);
    assert_eq!(net.balance(DORA), ROYALTY);
    assert_eq!(net.balance(PLATFORM), FEE);
    assert_eq!(net.balance(ANNA), 0);
    let supply = net.supply();
    assert_eq!(
        (supply.minted, supply.burned, supply.escrowed),
        (10_000, 0, 0)
    );
    net.assert_conservation();

    // carla rates ben.
    net.ok(
        CARLA,
        REPUTATION,
        "rate",
        &RateArgs {
            order_id,
            stars: 5,
            comment: "perfect fit".into(),
        },
    );

    // Verify a unit by serial: the whole chain, each step with its stamp.
    let p: Option<Provenance> = net.query(
        CERTIFY,
        "verify",
        &SerialArgs {
            serial: "PVT-0003".into(),
        },
    );
    let p = p.expect("known serial");
    let m = p.model.expect("model");
    assert_eq!(
        (m.designer.as_str(), m.file_hash, m.registered.height),
        (DORA, model, registered_height)
    );
    assert!(m.superseded_by.is_none());
    let o = p.order.expect("order");
    assert_eq!(
        (o.customer.as_str(), o.state),
        (CARLA, OrderState::Completed)
    );
    let acc = o.acceptance.expect("acceptance");
    assert_eq!(
        (
            acc.offer.producer.as_str(),
            acc.offer.price,
            acc.escrow_total
        ),
        (BEN, PRICE, ESCROW)
    );
    assert!(o.delivered.is_some());
    let settlement = o.settlement.expect("settlement");
    assert_eq!(settlement.kind, SettlementKind::Confirmed);
    assert_eq!(
        settlement.payouts,
        vec![
            Payout {
                to: BEN.into(),
                amount: PRICE - FEE
            },
            Payout {
                to: DORA.into(),
                amount: ROYALTY
            },
            Payout {
                to: PLATFORM.into(),
                amount: FEE
            },
        ]
    );
    let lic = p.license.expect("license");
    assert_eq!((lic.producer.as_str(), lic.quantity), (BEN, 4));
    assert_eq!(
        (
            p.production.producer.as_str(),
            p.production.machine.as_str(),
            p.production.batch
        ),
        (BEN, "prusa-mk4-07", 2)
    );
    assert!(p.production.serials.contains(&"PVT-0003".to_string()));
    assert_eq!(p.certificates.len(), 1);
    assert_eq!(p.certificates[0].status, CertificateStatus::Valid);
    assert_eq!(p.certificates[0].certificate.issuer, ERIC);
    let rating = p.rating.expect("rating");
    assert_eq!((rating.stars, rating.producer.as_str()), (5, BEN));
    // Stamps are ordered like the story and carry real transaction ids.
    let heights = [
        m.registered.height,
        o.posted.height,
        acc.stamp.height,
        p.production.stamp.height,
        p.certificates[0].certificate.issued.height,
        settlement.stamp.height,
        rating.stamp.height,
    ];
    assert!(heights.windows(2).all(|w| w[0] < w[1]), "{heights:?}");
    for tx_id in [
        &m.registered.tx_id,
        &acc.stamp.tx_id,
        &settlement.stamp.tx_id,
    ] {
        assert!(
            net.ledger.tx(tx_id).unwrap().is_some(),
            "stamp names a committed tx"
        );
    }
    // PVT-0002 has no certificate; an unknown serial is None.
    let p2: Option<Provenance> = net.query(
        CERTIFY,
        "verify",
        &SerialArgs {
            serial: "PVT-0002".into(),
        },
    );
    assert!(p2.expect("known").certificates.is_empty());
    let unknown: Option<Provenance> = net.query(
        CERTIFY,
        "verify",
        &SerialArgs {
            serial: "NOPE-1".into(),
        },
    );
    assert!(unknown.is_none());

    // Reputation and rankings follow from the facts.
    let ben = net.reputation(BEN);
    assert_eq!(
        (ben.stats.orders_on_time, ben.stats.certificates_passed),
        (1, 1)
    );
    assert_eq!((ben.stats.ratings_count, ben.stats.stars_sum), (1, 5));
    assert_eq!(ben.producer_score, producer_score(&ben.stats, 0));
    assert_eq!(ben.producer_score, 10 + 3 + 4 * 2);
    let dora = net.reputation(DORA);
    assert_eq!(
        (
            dora.stats.models_registered,
            dora.stats.design_orders_completed,
            dora.stats.design_units_produced
        ),
        (1, 1, 4)
    );
    assert_eq!(net.reputation(CARLA).stats.orders_as_customer, 1);
    let by_pla: Vec<RankEntry> = net.query(
        REPUTATION,
        "rank_producers",
        &RankProducersArgs {
            filter: Some(Tag {
                kind: TagKind::Material,
                value: "PLA".into(),
            }),
            limit: 10,
        },
    );
    assert_eq!(
        by_pla,
        vec![RankEntry {
            account: BEN.into(),
            score: ben.producer_score
        }]
    );
    let designers: Vec<RankEntry> = net.query(
        REPUTATION,
        "rank_designers",
        &RankDesignersArgs { limit: 10 },
    );
    assert_eq!(
        designers,
        vec![RankEntry {
            account: DORA.into(),
            score: 5 + 10 + 4
        }]
    );

    // The model's authenticity answer.
    let auth: Authenticity = net.query(MODEL, "authenticate", &FileHashArgs { file_hash: model });
    match auth {
        Authenticity::Authentic { model: m, .. } => assert_eq!(m.units_licensed, 4),
        Authenticity::Unknown => panic!("registered model reported unknown"),
    }

    // Redemption: ben cashes out through the issuer.
    net.ok(
        BEN,
        TOKEN,
        "transfer",
        &TransferArgs {
            to: ISSUER.into(),
            amount: 1_000,
            memo: "redeem".into(),
        },
    );
    net.ok(
        ISSUER,
        TOKEN,
        "burn",
        &BurnArgs {
            amount: 1_000,
            reference: "PAYOUT-2024-0001".into(),
        },
    );
    assert_eq!(net.balance(BEN), PRICE - FEE - 1_000);
    assert_eq!(net.supply().burned, 1_000);
    net.assert_conservation();
}

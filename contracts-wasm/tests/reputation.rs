//! `reputation`: facts only from the witnessing contracts, ratings,
//! labster levels and bounded rankings.

mod common;

use common::*;
use productivist_contracts::api::*;
use productivist_engine::block::InvalidCode;
use productivist_engine::{ContractError, Hash};

fn rate(order_id: u64, stars: u8) -> RateArgs {
    RateArgs {
        order_id,
        stars,
        comment: String::new(),
    }
}

#[test]
fn facts_are_accepted_only_from_the_witnessing_contract() {
    let mut net = Net::new();
    let fact = Fact::OrderCompleted {
        producer: ANNA.into(),
        designer: DORA.into(),
        customer: CARLA.into(),
        on_time: true,
        units: 1_000,
        material: "PLA".into(),
        process: "FDM".into(),
        region: "FR".into(),
    };
    net.refused(
        ANNA,
        REPUTATION,
        "record",
        &fact,
        InvalidCode::NotAuthorized,
        "only be called by the market contract, not directly",
    );
    let fact = Fact::ModelRegistered {
        designer: DORA.into(),
    };
    net.refused(
        DORA,
        REPUTATION,
        "record",
        &fact,
        InvalidCode::NotAuthorized,
        "only be called by the model contract",
    );
    let fact = Fact::Certificate {
        producer: ANNA.into(),
        outcome: Outcome::Pass,
        revoked: false,
    };
    net.refused(
        ERIC,
        REPUTATION,
        "record",
        &fact,
        InvalidCode::NotAuthorized,
        "only be called by the certify contract",
    );
    assert_eq!(net.reputation(ANNA).stats, Stats::default());
}

#[test]
fn only_the_customer_rates_a_completed_order_once() {
    let mut s = story_delivered();
    let (n, id) = (&mut s.net, s.order_id);
    n.refused(
        CARLA,
        REPUTATION,
        "rate",
        &rate(id, 4),
        InvalidCode::Refused,
        "only completed orders can be rated; order 1 is delivered",
    );
    n.ok(
        CARLA,
        MARKET,
        "confirm_receipt",
        &OrderIdArgs { order_id: id },
    );
    n.refused(
        BEN,
        REPUTATION,
        "rate",
        &rate(id, 5),
        InvalidCode::NotAuthorized,
        "only the customer carla@customers may rate order 1",
    );
    n.refused(
        CARLA,
        REPUTATION,
        "rate",
        &rate(id, 0),
        InvalidCode::BadArguments,
        "1 to 5 stars, got 0",
    );
    n.refused(
        CARLA,
        REPUTATION,
        "rate",
        &rate(id, 6),
        InvalidCode::BadArguments,
        "got 6",
    );
    n.refused(
        CARLA,
        REPUTATION,
        "rate",
        &rate(77, 3),
        InvalidCode::Refused,
        "no order 77",
    );
    n.ok(CARLA, REPUTATION, "rate", &rate(id, 2));
    n.refused(
        CARLA,
        REPUTATION,
        "rate",
        &rate(id, 5),
        InvalidCode::Refused,
        "already rated (2 stars",
    );
    let ben = n.reputation(BEN);
    assert_eq!((ben.stats.ratings_count, ben.stats.stars_sum), (1, 2));
    assert_eq!(ben.producer_score, 10 + 4 * (2 - 3));
}

#[test]
fn labster_levels_come_from_accredited_experts() {
    let mut net = Net::new();
    let grant = |level| GrantLevelArgs {
        producer: ANNA.into(),
        level,
        evidence: Hash::of(b"audit"),
    };
    net.refused(
        DORA,
        REPUTATION,
        "grant_level",
        &grant(2),
        InvalidCode::NotAuthorized,
        "needs role expert",
    );
    net.refused(
        ERIC,
        REPUTATION,
        "grant_level",
        &grant(2),
        InvalidCode::NotAuthorized,
        "no accreditation",
    );
    net.accredit(ERIC, 1);
    net.refused(
        ERIC,
        REPUTATION,
        "grant_level",
        &grant(4),
        InvalidCode::BadArguments,
        "0 to 3, got 4",
    );
    net.refused(
        ERIC,
        REPUTATION,
        "grant_level",
        &GrantLevelArgs {
            producer: ERIC.into(),
            level: 1,
            evidence: Hash::ZERO,
        },
        InvalidCode::NotAuthorized,
        "themselves",
    );
    net.ok(ERIC, REPUTATION, "grant_level", &grant(2));
    let anna = net.reputation(ANNA);
    let level = anna.labster.expect("level");
    assert_eq!(
        (level.level, level.granted_by.as_str(), anna.producer_score),
        (2, ERIC, 50)
    );
    let ranking: Vec<RankEntry> = net.query(
        REPUTATION,
        "rank_producers",
        &RankProducersArgs {
            filter: None,
            limit: 5,
        },
    );
    assert_eq!(
        ranking,
        vec![RankEntry {
            account: ANNA.into(),
            score: 50
        }]
    );
    net.ok(ERIC, REPUTATION, "grant_level", &grant(0));
    assert!(net.reputation(ANNA).labster.is_none());
    let ranking: Vec<RankEntry> = net.query(
        REPUTATION,
        "rank_producers",
        &RankProducersArgs {
            filter: None,
            limit: 5,
        },
    );
    assert_eq!(
        ranking,
        vec![RankEntry {
            account: ANNA.into(),
            score: 0
        }],
        "the index moved with the score"
    );
}

/// Completes an order of `quantity` units in `material`/`process`/`region`
/// by `producer`, on time.
fn complete(
    net: &mut Net,
    model: Hash,
    producer: &str,
    material: &str,
    process: &str,
    region: &str,
    serial: &str,
) {
    let deadline = net.now_ms + 10 * DAY_MS;
    let mut args = order_args(model, 1, deadline);
    args.material = material.into();
    args.region = region.into();
    let id: u64 = net.ok_as(CARLA, MARKET, "post_order", &args);
    net.ok(
        producer,
        MARKET,
        "offer",
        &OfferArgs {
            order_id: id,
            price: 100,
            lead_time_ms: DAY_MS,
            process: process.into(),
        },
    );
    net.ok(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: id,
            offer_no: 1,
        },
    );
    net.ok(
        producer,
        MARKET,
        "report_production",
        &report(id, &[serial]),
    );
    net.ok(
        CARLA,
        MARKET,
        "confirm_receipt",
        &OrderIdArgs { order_id: id },
    );
}

#[test]
fn rankings_are_ordered_filtered_and_bounded() {
    let mut net = Net::new();
    net.mint(CARLA, 10_000);
    let m = register_args("bracket", 1, None, terms());
    net.ok(DORA, MODEL, "register", &m);
    let m2 = register_args("hinge", 1, None, terms());
    net.ok("dan@design-studio", MODEL, "register", &m2);
    complete(&mut net, m.file_hash, ANNA, "PLA", "FDM", "FR-IDF", "R-1");
    complete(&mut net, m.file_hash, ANNA, "PLA", "FDM", "FR-IDF", "R-2");
    complete(&mut net, m2.file_hash, BEN, "PETG", "SLA", "FR-ARA", "R-3");

    let rank = |net: &Net, filter: Option<Tag>| -> Vec<(String, i64)> {
        let r: Vec<RankEntry> = net.query(
            REPUTATION,
            "rank_producers",
            &RankProducersArgs { filter, limit: 10 },
        );
        r.into_iter().map(|e| (e.account, e.score)).collect()
    };
    let tag = |kind, value: &str| {
        Some(Tag {
            kind,
            value: value.into(),
        })
    };
    assert_eq!(rank(&net, None), vec![(ANNA.into(), 20), (BEN.into(), 10)]);
    assert_eq!(
        rank(&net, tag(TagKind::Material, "PLA")),
        vec![(ANNA.into(), 20)]
    );
    assert_eq!(
        rank(&net, tag(TagKind::Material, "PETG")),
        vec![(BEN.into(), 10)]
    );
    assert_eq!(
        rank(&net, tag(TagKind::Process, "SLA")),
        vec![(BEN.into(), 10)]
    );
    assert_eq!(
        rank(&net, tag(TagKind::Region, "FR-IDF")),
        vec![(ANNA.into(), 20)]
    );
    assert_eq!(rank(&net, tag(TagKind::Region, "DE")), vec![]);
    assert_eq!(net.reputation(BEN).tags.len(), 3);

    // A bad rating moves ben's filtered and unfiltered index entries alike.
    net.ok(CARLA, REPUTATION, "rate", &rate(3, 5));
    assert_eq!(
        rank(&net, tag(TagKind::Process, "SLA")),
        vec![(BEN.into(), 18)]
    );
    net.ok(CARLA, REPUTATION, "rate", &rate(1, 1));
    assert_eq!(
        rank(&net, None),
        vec![(ANNA.into(), 12), (BEN.into(), 18)]
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
    );

    let designers: Vec<RankEntry> = net.query(
        REPUTATION,
        "rank_designers",
        &RankDesignersArgs { limit: 1 },
    );
    assert_eq!(
        designers,
        vec![RankEntry {
            account: DORA.into(),
            score: 5 + 20 + 2
        }]
    );

    let err = net
        .query_raw(
            REPUTATION,
            "rank_producers",
            &RankProducersArgs {
                filter: None,
                limit: 0,
            },
        )
        .unwrap_err();
    assert!(
        matches!(err, ContractError::BadArguments(ref m) if m.contains("1 to 100")),
        "{err}"
    );
    let err = net
        .query_raw(
            REPUTATION,
            "rank_designers",
            &RankDesignersArgs { limit: 101 },
        )
        .unwrap_err();
    assert!(matches!(err, ContractError::BadArguments(_)), "{err}");
    // Queries cannot write: a state-changing method through query is refused.
    let err = net.query_raw(REPUTATION, "rate", &rate(2, 3)).unwrap_err();
    assert!(err.to_string().contains("cannot write"), "{err}");
}

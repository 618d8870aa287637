//! `certify`: governance accreditation, object certificates, revocation,
//! certificate standing and provenance.

mod common;

use common::*;
use productivist_contracts::api::*;
use productivist_engine::Hash;
use productivist_engine::block::InvalidCode;

fn issue_args(
    serials: &[&str],
    outcome: Outcome,
    from_ms: u64,
    until_ms: u64,
) -> IssueCertificateArgs {
    IssueCertificateArgs {
        serials: serials.iter().map(|s| s.to_string()).collect(),
        claim: "EN 1090 dimensional tolerance".into(),
        outcome,
        evidence: Hash::of(b"cmm report"),
        valid_from_ms: from_ms,
        valid_until_ms: until_ms,
    }
}

#[test]
fn accreditation_needs_the_governance_policy() {
    let mut net = Net::new();
    let a = net.accreditation(ERIC, 1, T0_MS + 365 * DAY_MS);
    let channel = net.net.config.channel_id.clone();
    let digest = accreditation_digest(&channel, &a);
    let args = |endorsements| AccreditArgs {
        accreditation: a.clone(),
        endorsements,
    };

    // 3 of 6 admins is not a majority.
    let three = net.endorse(&digest, &["productivist", "fablab-paris", "certilab"]);
    net.refused(
        ISSUER,
        CERTIFY,
        "accredit",
        &args(three),
        InvalidCode::PolicyNotSatisfied,
        "policy needs 4",
    );
    // Members who are not admins do not count.
    let mut not_admins = net.endorse(&digest, &["productivist", "fablab-paris", "certilab"]);
    for who in [CARLA, ERIC] {
        let m = net.member(who);
        not_admins.push(productivist_engine::policy::Endorsement::sign(
            m.cert.clone(),
            &m.key,
            &digest,
        ));
    }
    net.refused(
        ISSUER,
        CERTIFY,
        "accredit",
        &args(not_admins),
        InvalidCode::PolicyNotSatisfied,
        "got 3",
    );
    // Endorsements of another grant do not transfer.
    let other = accreditation_digest(&channel, &net.accreditation(ERIC, 2, T0_MS + 365 * DAY_MS));
    let wrong = net.endorse(
        &other,
        &["productivist", "fablab-paris", "certilab", "customers"],
    );
    net.refused(
        ISSUER,
        CERTIFY,
        "accredit",
        &args(wrong),
        InvalidCode::PolicyNotSatisfied,
        "bad signature",
    );
    // Nor do endorsements for another channel.
    let foreign = accreditation_digest("other-channel", &a);
    let foreign = net.endorse(
        &foreign,
        &["productivist", "fablab-paris", "certilab", "customers"],
    );
    net.refused(
        ISSUER,
        CERTIFY,
        "accredit",
        &args(foreign),
        InvalidCode::PolicyNotSatisfied,
        "bad signature",
    );

    let four = net.endorse(
        &digest,
        &["productivist", "fablab-paris", "certilab", "customers"],
    );
    net.ok(CARLA, CERTIFY, "accredit", &args(four.clone()));
    // A grant is accepted once: the same endorsed grant cannot be replayed.
    net.refused(
        CARLA,
        CERTIFY,
        "accredit",
        &args(four),
        InvalidCode::Refused,
        "grant 1 was already used",
    );

    let mut empty = net.accreditation(ERIC, 3, T0_MS);
    empty.valid_until_ms = empty.valid_from_ms;
    let d = accreditation_digest(&channel, &empty);
    let e = net.endorse(
        &d,
        &["productivist", "fablab-paris", "certilab", "customers"],
    );
    net.refused(
        ISSUER,
        CERTIFY,
        "accredit",
        &AccreditArgs {
            accreditation: empty,
            endorsements: e,
        },
        InvalidCode::BadArguments,
        "validity is empty",
    );
}

#[test]
fn only_accredited_experts_issue_certificates() {
    let mut s = story_delivered();
    let n = &mut s.net;
    let (from, until) = (n.now_ms, n.now_ms + 30 * DAY_MS);
    let args = issue_args(&["PVT-0001"], Outcome::Pass, from, until);
    n.refused(
        ANNA,
        CERTIFY,
        "issue",
        &args,
        InvalidCode::NotAuthorized,
        "needs role expert",
    );
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &args,
        InvalidCode::NotAuthorized,
        "no accreditation granted by governance",
    );

    // A short accreditation that lapses.
    let a = n.accreditation(ERIC, 1, n.now_ms + DAY_MS);
    let digest = accreditation_digest(&n.net.config.channel_id, &a);
    let endorsements = n.endorse(
        &digest,
        &["productivist", "fablab-paris", "certilab", "customers"],
    );
    n.ok(
        ISSUER,
        CERTIFY,
        "accredit",
        &AccreditArgs {
            accreditation: a,
            endorsements,
        },
    );
    n.ok(ERIC, CERTIFY, "issue", &args);
    n.advance(2 * DAY_MS);
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &args,
        InvalidCode::NotAuthorized,
        "is valid only from",
    );

    // Renewed, then withdrawn by governance.
    n.accredit(ERIC, 2);
    n.ok(ERIC, CERTIFY, "issue", &args);
    let w = Withdrawal {
        expert: ERIC.into(),
        grant_id: 2,
        reason: "audit failed".into(),
    };
    let digest = withdrawal_digest(&n.net.config.channel_id, &w);
    let too_few = n.endorse(&digest, &["productivist"]);
    n.refused(
        ISSUER,
        CERTIFY,
        "withdraw_accreditation",
        &WithdrawAccreditationArgs {
            withdrawal: w.clone(),
            endorsements: too_few,
        },
        InvalidCode::PolicyNotSatisfied,
        "policy needs 4",
    );
    let endorsements = n.endorse(
        &digest,
        &["productivist", "fablab-paris", "certilab", "customers"],
    );
    n.ok(
        ISSUER,
        CERTIFY,
        "withdraw_accreditation",
        &WithdrawAccreditationArgs {
            withdrawal: w.clone(),
            endorsements: endorsements.clone(),
        },
    );
    n.refused(
        ISSUER,
        CERTIFY,
        "withdraw_accreditation",
        &WithdrawAccreditationArgs {
            withdrawal: w,
            endorsements,
        },
        InvalidCode::Refused,
        "already withdrawn",
    );
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &args,
        InvalidCode::NotAuthorized,
        "accreditation 2 was withdrawn",
    );
    let status: Option<AccreditationStatus> = n.query(
        CERTIFY,
        "accreditation",
        &AccountArgs {
            account: ERIC.into(),
        },
    );
    assert!(!status.expect("record").active);
}

#[test]
fn certificates_need_recorded_serials_and_sane_arguments() {
    let mut s = story_delivered();
    let n = &mut s.net;
    n.accredit(ERIC, 1);
    let (from, until) = (n.now_ms, n.now_ms + 30 * DAY_MS);
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &issue_args(&["PVT-9999"], Outcome::Pass, from, until),
        InvalidCode::Refused,
        "unknown serial PVT-9999",
    );
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &issue_args(&[], Outcome::Pass, from, until),
        InvalidCode::BadArguments,
        "serials has 0 entries",
    );
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &issue_args(&["PVT-0001", "PVT-0001"], Outcome::Pass, from, until),
        InvalidCode::BadArguments,
        "listed twice",
    );
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &issue_args(&["PVT-0001"], Outcome::Pass, until, from),
        InvalidCode::BadArguments,
        "validity is empty",
    );
    let mut no_claim = issue_args(&["PVT-0001"], Outcome::Pass, from, until);
    no_claim.claim = String::new();
    n.refused(
        ERIC,
        CERTIFY,
        "issue",
        &no_claim,
        InvalidCode::BadArguments,
        "claim must not be empty",
    );
}

#[test]
fn certificate_standing_revocation_and_reputation() {
    let mut s = story_delivered();
    let n = &mut s.net;
    n.accredit(ERIC, 1);
    n.accredit("erin@certilab", 2);
    let now = n.now_ms;
    let pass: u64 = n.ok_as(
        ERIC,
        CERTIFY,
        "issue",
        &issue_args(
            &["PVT-0001", "PVT-0002"],
            Outcome::Pass,
            now,
            now + 10 * DAY_MS,
        ),
    );
    let fail: u64 = n.ok_as(
        ERIC,
        CERTIFY,
        "issue",
        &issue_args(&["PVT-0001"], Outcome::Fail, now, now + 100 * DAY_MS),
    );
    let later: u64 = n.ok_as(
        ERIC,
        CERTIFY,
        "issue",
        &issue_args(
            &["PVT-0001"],
            Outcome::Pass,
            now + 50 * DAY_MS,
            now + 100 * DAY_MS,
        ),
    );
    assert_eq!((pass, fail, later), (1, 2, 3));
    let ben = n.reputation(BEN).stats;
    assert_eq!((ben.certificates_passed, ben.certificates_failed), (2, 1));

    let revoke = RevokeCertificateArgs {
        certificate_id: fail,
        reason: "wrong gauge used".into(),
    };
    n.refused(
        "erin@certilab",
        CERTIFY,
        "revoke",
        &revoke,
        InvalidCode::NotAuthorized,
        "only the issuer eric@certilab",
    );
    n.refused(
        ERIC,
        CERTIFY,
        "revoke",
        &RevokeCertificateArgs {
            certificate_id: 42,
            reason: "x".into(),
        },
        InvalidCode::Refused,
        "no certificate 42",
    );
    n.ok(ERIC, CERTIFY, "revoke", &revoke);
    n.refused(
        ERIC,
        CERTIFY,
        "revoke",
        &revoke,
        InvalidCode::Refused,
        "already revoked",
    );
    assert_eq!(
        n.reputation(BEN).stats.certificates_failed,
        0,
        "a revoked certificate no longer counts"
    );

    n.advance_block(20 * DAY_MS);
    let p: Option<Provenance> = n.query(
        CERTIFY,
        "verify",
        &SerialArgs {
            serial: "PVT-0001".into(),
        },
    );
    let p = p.expect("known serial");
    let standing: Vec<(u64, CertificateStatus)> = p
        .certificates
        .iter()
        .map(|c| (c.certificate.certificate_id, c.status))
        .collect();
    assert_eq!(
        standing,
        vec![
            (pass, CertificateStatus::Expired),
            (fail, CertificateStatus::Revoked),
            (later, CertificateStatus::NotYetValid),
        ]
    );
    assert_eq!(p.checked_at_ms, n.ledger.head_time_ms().unwrap());
    let c: Option<CertificateView> = n.query(
        CERTIFY,
        "certificate",
        &CertificateIdArgs {
            certificate_id: fail,
        },
    );
    assert_eq!(
        c.expect("cert")
            .certificate
            .revoked
            .expect("revoked")
            .reason,
        "wrong gauge used"
    );
}

#[test]
fn provenance_of_an_unsettled_object_shows_what_is_known() {
    let s = story_delivered();
    let p: Option<Provenance> = s.net.query(
        CERTIFY,
        "verify",
        &SerialArgs {
            serial: "PVT-0004".into(),
        },
    );
    let p = p.expect("known");
    let order = p.order.expect("order");
    assert_eq!(order.state, OrderState::Delivered);
    assert!(order.settlement.is_none() && p.rating.is_none() && p.certificates.is_empty());
    assert_eq!(p.production.producer, BEN);
    let production: Option<ProductionRecord> = s.net.query(
        CERTIFY,
        "production",
        &ProductionArgs {
            order_id: s.order_id,
            batch: 1,
        },
    );
    assert_eq!(production.expect("record"), p.production);
    assert!(
        s.net
            .query_raw(
                CERTIFY,
                "verify",
                &SerialArgs {
                    serial: "bad serial".into()
                }
            )
            .is_err()
    );
}

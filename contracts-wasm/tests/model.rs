//! `model`: registration, versions, authenticity, fitness, and refusals.

mod common;

use common::*;
use productivist_contracts::api::*;
use productivist_engine::Hash;
use productivist_engine::block::InvalidCode;

fn authenticate(net: &Net, file_hash: Hash) -> Option<(ModelRecord, Vec<FitnessCertificate>)> {
    match net.query(MODEL, "authenticate", &FileHashArgs { file_hash }) {
        Authenticity::Unknown => None,
        Authenticity::Authentic { model, fitness } => Some((*model, fitness)),
    }
}

#[test]
fn only_designers_register_and_each_hash_registers_once() {
    let mut net = Net::new();
    let v1 = register_args("bracket", 1, None, terms());
    net.refused(
        ANNA,
        MODEL,
        "register",
        &v1,
        InvalidCode::NotAuthorized,
        "needs role designer",
    );
    net.ok(DORA, MODEL, "register", &v1);
    net.refused(
        DORA,
        MODEL,
        "register",
        &v1,
        InvalidCode::Refused,
        "is already registered (version 1 by dora@design-studio",
    );
    // Another designer cannot claim the same file either.
    net.refused(
        "dan@design-studio",
        MODEL,
        "register",
        &v1,
        InvalidCode::Refused,
        "already registered",
    );
}

#[test]
fn anyone_can_ask_whether_a_file_is_authentic() {
    let mut net = Net::new();
    assert!(authenticate(&net, model_hash("never-registered")).is_none());
    let v1 = register_args("bracket", 1, None, terms());
    let r = net.call(DORA, MODEL, "register", &v1);
    let head = net.ledger.head().unwrap().height;
    let (m, fitness) = authenticate(&net, v1.file_hash).expect("authentic");
    assert_eq!(
        (m.designer.as_str(), m.version, m.name.as_str()),
        (DORA, 1, "bracket")
    );
    assert_eq!(
        (m.registered.height, m.registered.time_ms),
        (head, net.now_ms)
    );
    let record = net.ledger.tx(&m.registered.tx_id).unwrap().expect("tx");
    assert_eq!(record.result, r);
    assert_eq!(m.license, terms());
    assert!(m.superseded_by.is_none() && fitness.is_empty());
}

#[test]
fn versions_chain_and_only_the_designer_supersedes() {
    let mut net = Net::new();
    let v1 = register_args("bracket", 1, None, terms());
    net.ok(DORA, MODEL, "register", &v1);
    let v2 = register_args("bracket", 2, Some(v1.file_hash), terms());
    net.refused(
        "dan@design-studio",
        MODEL,
        "register",
        &v2,
        InvalidCode::NotAuthorized,
        "only dora@design-studio, the designer of the previous version",
    );
    let skip = register_args("bracket", 3, Some(v1.file_hash), terms());
    net.refused(
        DORA,
        MODEL,
        "register",
        &skip,
        InvalidCode::BadArguments,
        "must be 2, got 3",
    );
    let first_as_2 = register_args("other", 2, None, terms());
    net.refused(
        DORA,
        MODEL,
        "register",
        &first_as_2,
        InvalidCode::BadArguments,
        "must be version 1",
    );
    let orphan = register_args("orphan", 2, Some(model_hash("nothing")), terms());
    net.refused(
        DORA,
        MODEL,
        "register",
        &orphan,
        InvalidCode::Refused,
        "is not registered",
    );

    net.ok(DORA, MODEL, "register", &v2);
    let (old, _) = authenticate(&net, v1.file_hash).expect("v1");
    let s = old.superseded_by.expect("superseded");
    assert_eq!((s.version, s.file_hash), (2, v2.file_hash));
    assert_eq!(
        authenticate(&net, v2.file_hash).expect("v2").0.previous,
        Some(v1.file_hash)
    );
    // A second successor of v1 is refused: the chain does not fork.
    let fork = register_args("bracket-fork", 2, Some(v1.file_hash), terms());
    net.refused(
        DORA,
        MODEL,
        "register",
        &fork,
        InvalidCode::Refused,
        "already superseded by version 2",
    );
    assert_eq!(net.reputation(DORA).stats.models_registered, 2);
}

#[test]
fn license_terms_are_validated() {
    let mut net = Net::new();
    let mut t = terms();
    t.max_units = 0;
    net.refused(
        DORA,
        MODEL,
        "register",
        &register_args("a", 1, None, t),
        InvalidCode::BadArguments,
        "max_units",
    );
    let mut t = terms();
    t.materials = AllowList::Only(vec![]);
    net.refused(
        DORA,
        MODEL,
        "register",
        &register_args("b", 1, None, t),
        InvalidCode::BadArguments,
        "allowed materials lists 0 values",
    );
    let mut t = terms();
    t.producers = AllowList::Only(vec![ANNA.into(), "zoe@unknown-org".into()]);
    net.refused(
        DORA,
        MODEL,
        "register",
        &register_args("c", 1, None, t),
        InvalidCode::BadArguments,
        "not a member",
    );
    let mut t = terms();
    t.processes = AllowList::Only(vec!["FDM".into(), "FDM".into()]);
    net.refused(
        DORA,
        MODEL,
        "register",
        &register_args("d", 1, None, t),
        InvalidCode::BadArguments,
        "twice",
    );
    let mut bad_name = register_args("e", 1, None, terms());
    bad_name.name = String::new();
    net.refused(
        DORA,
        MODEL,
        "register",
        &bad_name,
        InvalidCode::BadArguments,
        "model name must not be empty",
    );
}

#[test]
fn only_accredited_experts_certify_fitness() {
    let mut net = Net::new();
    let v1 = register_args("bracket", 1, None, terms());
    net.ok(DORA, MODEL, "register", &v1);
    let fit = CertifyFitnessArgs {
        file_hash: v1.file_hash,
        aspect: Aspect::Material,
        value: "PETG".into(),
        evidence: Hash::of(b"petg trials"),
    };
    net.refused(
        ANNA,
        MODEL,
        "certify_fitness",
        &fit,
        InvalidCode::NotAuthorized,
        "needs role expert",
    );
    net.refused(
        ERIC,
        MODEL,
        "certify_fitness",
        &fit,
        InvalidCode::NotAuthorized,
        "no accreditation granted by governance",
    );
    net.accredit(ERIC, 1);
    net.ok(ERIC, MODEL, "certify_fitness", &fit);
    let unknown = CertifyFitnessArgs {
        file_hash: model_hash("x"),
        ..fit.clone()
    };
    net.refused(
        ERIC,
        MODEL,
        "certify_fitness",
        &unknown,
        InvalidCode::Refused,
        "unknown model",
    );
    let (_, fitness) = authenticate(&net, v1.file_hash).expect("v1");
    assert_eq!(fitness.len(), 1);
    assert_eq!(
        (
            fitness[0].expert.as_str(),
            fitness[0].aspect,
            fitness[0].value.as_str()
        ),
        (ERIC, Aspect::Material, "PETG")
    );
}

#[test]
fn print_licenses_are_granted_only_through_the_market() {
    let mut net = Net::new();
    let v1 = register_args("bracket", 1, None, terms());
    net.ok(DORA, MODEL, "register", &v1);
    let grant = GrantLicenseArgs {
        file_hash: v1.file_hash,
        order_id: 1,
        producer: BEN.into(),
        quantity: 1,
        material: "PLA".into(),
        process: "FDM".into(),
    };
    net.refused(
        BEN,
        MODEL,
        "grant_license",
        &grant,
        InvalidCode::NotAuthorized,
        "only be called by the market contract",
    );
}

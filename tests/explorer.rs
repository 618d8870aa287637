//! The web explorer's pages, rendered through the node's router with
//! tower's `oneshot` (no sockets): the story's object verification page,
//! escaping of hostile names, private channels hidden from non-members,
//! model authentication, participants and labels.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use productivist::embedded::{DynStore, EmbeddedChain, genesis_block, native_contracts};
use productivist::explorer::session;
use productivist::node::channel::{ChannelShared, MEMPOOL_BYTES_MAX, MEMPOOL_TXS_MAX};
use productivist::node::http::{NodeState, router};
use productivist::node::mempool::Mempool;
use productivist::story;
use productivist_contracts::api::*;
use productivist_engine::crypto::Hash;
use productivist_engine::devnet::{DevNet, DevNetSpec, Member};
use productivist_engine::identity::check_certificate;
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use std::collections::BTreeMap;
use std::sync::Arc;
use tower::ServiceExt;

const SEED: &str = "explorer-test";
/// Block times in the test ledgers: fixed, so runs are deterministic.
const T0_MS: u64 = 1_750_000_000_000;

fn ledger_of(net: &DevNet) -> Ledger<DynStore> {
    let store: DynStore = Arc::new(RedbStore::in_memory().unwrap());
    let mut ledger = Ledger::open(store, native_contracts()).unwrap();
    let genesis = genesis_block(net, T0_MS).unwrap();
    let executed = ledger.verify(&genesis).unwrap();
    ledger.commit(executed).unwrap();
    ledger
}

fn shared(id: &str, ledger: Ledger<DynStore>) -> Arc<ChannelShared> {
    let (driver, _) = std::sync::mpsc::sync_channel(1);
    let (gossip, _) = tokio::sync::mpsc::channel(1);
    Arc::new(ChannelShared::new(
        id,
        ledger,
        Mempool::new(MEMPOOL_TXS_MAX, MEMPOOL_BYTES_MAX),
        driver,
        gossip,
    ))
}

struct World {
    state: Arc<NodeState>,
    net: DevNet,
    outcome: story::Outcome,
    hostile_model: Hash,
}

fn member<'a>(net: &'a DevNet, name: &str) -> &'a Member {
    net.find(name).unwrap()
}

/// The story told on a public channel, a hostile model registered, and a
/// private channel `atelier` whose only organizations are the platform and
/// the design studio.
fn world() -> World {
    let net = DevNet::generate(&DevNetSpec::productivist(Some(SEED))).unwrap();
    let mut ledger = ledger_of(&net);
    let proposer = net.nodes[0].2.public();
    let carla = member(&net, "carla");
    let reader =
        check_certificate(&carla.cert, &ledger.config().unwrap().orgs, &[], T0_MS).unwrap();
    let admins = net
        .orgs
        .iter()
        .flat_map(|o| o.members.iter())
        .filter(|m| m.name == "admin")
        .collect();
    let cast = story::Cast {
        channel: "public".into(),
        issuer: member(&net, "issuer"),
        carla,
        dora: member(&net, "dora"),
        anna: member(&net, "anna"),
        ben: member(&net, "ben"),
        eric: member(&net, "eric"),
        admins,
        platform: ledger
            .config()
            .and_then(|c| c.market.platform_account.clone()),
    };
    let mut chain = EmbeddedChain {
        ledger: &mut ledger,
        proposer,
        reader,
    };
    let outcome = story::tell(&mut chain, &cast, 1, false).unwrap();

    // A designer names a model like an attacker would.
    let hostile_model = Hash::of(b"hostile model file");
    let args = RegisterModelArgs {
        file_hash: hostile_model,
        name: "<script>alert(1)</script>".into(),
        version: 1,
        previous: None,
        license: LicenseTerms {
            royalty_per_unit: 1,
            producers: AllowList::Any,
            max_units: 10,
            materials: AllowList::Any,
            processes: AllowList::Any,
        },
    };
    let tx = cast.dora.call_bytes(
        "public",
        MODEL,
        "register",
        borsh::to_vec(&args).unwrap(),
        99,
    );
    let now = ledger.head_time_ms().unwrap() + 1000;
    let block = ledger.submit_block(vec![tx], now, proposer).unwrap();
    assert!(block.results[0].status.is_valid());

    let mut spec = DevNetSpec::productivist(Some(SEED));
    spec.channel = "atelier".into();
    spec.readers = productivist_engine::config::Readers::Members;
    spec.orgs
        .retain(|(o, _)| o == "productivist" || o == "design-studio");
    let private_net = DevNet::generate(&spec).unwrap();
    let private = ledger_of(&private_net);

    let mut channels = BTreeMap::new();
    channels.insert("public".to_string(), shared("public", ledger));
    channels.insert("atelier".to_string(), shared("atelier", private));
    let state = Arc::new(NodeState {
        name: "node0".into(),
        node_key: proposer,
        channels,
        started: std::time::Instant::now(),
        net: None,
    });
    World {
        state,
        net,
        outcome,
        hostile_model,
    }
}

async fn get(state: &Arc<NodeState>, uri: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::builder()
        .uri(uri)
        .header(header::HOST, "lab.test:8400");
    if let Some(token) = cookie {
        req = req.header(header::COOKIE, format!("{}={token}", session::COOKIE));
    }
    let resp = router(state.clone())
        .oneshot(req.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn get_bytes(state: &Arc<NodeState>, uri: &str) -> (StatusCode, Vec<u8>) {
    let req = Request::builder()
        .uri(uri)
        .header(header::HOST, "lab.test:8400")
        .body(Body::empty())
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, bytes.to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_explorer_shows_the_story_and_keeps_private_channels_private() {
    let w = world();
    let state = &w.state;
    let p = w.outcome.provenance.clone().unwrap();
    let serial = &w.outcome.serial;

    // Verification page: the chain names designer, producer and expert,
    // as a timeline with links to the blocks and transactions.
    let (status, page) = get(state, &format!("/verify/{serial}"), None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let designer = &p.model.as_ref().unwrap().designer;
    let expert = &p.certificates[0].certificate.issuer;
    for who in [designer, &p.production.producer, expert] {
        assert!(page.contains(who.as_str()), "{who} missing from the page");
    }
    assert!(page.contains("<svg"));
    assert!(page.contains("Model registered"));
    assert!(page.contains(&format!("/tx/public/{}", p.production.stamp.tx_id.to_hex())));
    assert!(page.contains(&format!("/blocks/public/{}", p.production.stamp.height)));
    assert!(page.contains(&format!("/label/{serial}.svg")));
    assert!(page.contains("PASS, valid until"));
    assert!(page.contains(&format!("/models?hash={}", w.outcome.model.to_hex())));

    // Unknown serials are said plainly.
    let (status, page) = get(state, "/verify/NO-SUCH-1", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("UNKNOWN SERIAL"));
    let (status, page) = get(state, "/verify/%3Cb%3E", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("&lt;b&gt;") && !page.contains("<b>"));

    // The hostile model name is shown as text, never as markup.
    let (status, page) = get(
        state,
        &format!("/models?hash={}", w.hostile_model.to_hex()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(!page.contains("<script>alert"));
    assert!(page.contains("AUTHENTIC"));
    let (_, page) = get(
        state,
        &format!("/models?hash={}", Hash::of(b"x").to_hex()),
        None,
    )
    .await;
    assert!(page.contains("NOT REGISTERED"));

    // Dropping the story's model file: the node hashes what it receives.
    let file = story::model_file(1);
    let req = Request::builder()
        .method("POST")
        .uri("/models/hash")
        .body(Body::from(file.clone()))
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let json: serde_json::Value = serde_json::from_slice(
        &axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["file_hash"], w.outcome.model.to_hex());
    assert_eq!(json["bytes"], file.len() as u64);

    // Participants: reputation, ranking and history.
    let producer = &p.production.producer;
    let (status, page) = get(state, &format!("/participants/{producer}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("Producer score") && page.contains("(#1)"),
        "{page}"
    );
    assert!(page.contains("reputation") || page.contains("market."));
    let (status, page) = get(state, "/participants", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(producer.as_str()));
    let (_, page) = get(state, &format!("/participants/{expert}"), None).await;
    assert!(page.contains("active"), "{page}");

    // Blocks and transactions.
    let (status, page) = get(
        state,
        &format!("/tx/public/{}", p.production.stamp.tx_id.to_hex()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("certify.record_production") || page.contains("market."),
        "{page}"
    );
    let (status, page) = get(
        state,
        &format!("/blocks/public/{}", p.production.stamp.height),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains(&p.production.stamp.tx_id.to_hex()));

    // The label served from the page decodes to this node's URL.
    let (status, png) = get_bytes(state, &format!("/label/{serial}.png")).await;
    assert_eq!(status, StatusCode::OK);
    let img = image::load_from_memory(&png).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    assert_eq!(
        grids[0].decode().unwrap().1,
        format!("http://lab.test:8400/verify/{serial}")
    );

    // Private channel: without a member's session it does not exist.
    let (home_status, home) = get(state, "/", None).await;
    assert_eq!(home_status, StatusCode::OK);
    assert!(home.contains("Channel public"));
    assert!(!home.contains("atelier"));
    let (s1, hidden) = get(state, "/channels/atelier", None).await;
    let (s2, absent) = get(state, "/channels/ateliex", None).await;
    assert_eq!((s1, s2), (StatusCode::NOT_FOUND, StatusCode::NOT_FOUND));
    assert_eq!(hidden.replace("atelier", "ateliex"), absent);
    let (s, _) = get(state, "/blocks/atelier/0", None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    let expires = productivist::embedded::now_ms() + 600_000;
    let dora = member(&w.net, "dora");
    let carla = member(&w.net, "carla");
    let dora_token = session::sign_token(&dora.cert, &dora.key, expires);
    let carla_token = session::sign_token(&carla.cert, &carla.key, expires);
    let (_, home) = get(state, "/", Some(&dora_token)).await;
    assert!(home.contains("Channel atelier"));
    let (s, page) = get(state, "/blocks/atelier/0", Some(&dora_token)).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    // A member of another channel only: still nothing.
    let (_, home) = get(state, "/", Some(&carla_token)).await;
    assert!(!home.contains("atelier"));
    let (s, _) = get(state, "/blocks/atelier/0", Some(&carla_token)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A forged token (carla's certificate, dora's key): nothing.
    let forged = session::sign_token(&carla.cert, &dora.key, expires);
    let (s, _) = get(state, "/channels/atelier", Some(&forged)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The session form sets the cookie.
    let req = Request::builder()
        .method("POST")
        .uri("/session")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(format!("token={dora_token}")))
        .unwrap();
    let resp = router(state.clone()).oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp.headers()[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.starts_with(&format!("{}={dora_token};", session::COOKIE)));
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_certificate_and_a_superseded_model_are_shown_plainly() {
    let w = world();
    let p = w.outcome.provenance.clone().unwrap();
    let cert = &p.certificates[0].certificate;
    let eric = member(&w.net, "eric");
    let args = RevokeCertificateArgs {
        certificate_id: cert.certificate_id,
        reason: "layer delamination found on audit".into(),
    };
    let revoke = eric.call_bytes(
        "public",
        CERTIFY,
        "revoke",
        borsh::to_vec(&args).unwrap(),
        7,
    );
    // The designer publishes version 2 of the object's model.
    let v2 = RegisterModelArgs {
        file_hash: Hash::of(b"wall bracket, version 2"),
        name: p.model.as_ref().unwrap().name.clone(),
        version: 2,
        previous: Some(w.outcome.model),
        license: p.model.as_ref().unwrap().license.clone(),
    };
    let supersede = member(&w.net, "dora").call_bytes(
        "public",
        MODEL,
        "register",
        borsh::to_vec(&v2).unwrap(),
        8,
    );
    {
        let ch = &w.state.channels["public"];
        let mut ledger = ch.ledger.write().unwrap();
        let now = ledger.head_time_ms().unwrap() + 1000;
        let proposer = w.net.nodes[0].2.public();
        let block = ledger
            .submit_block(vec![revoke, supersede], now, proposer)
            .unwrap();
        for r in &block.results {
            assert!(r.status.is_valid(), "{r:?}");
        }
    }
    let (status, page) = get(&w.state, &format!("/verify/{}", w.outcome.serial), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        page.contains("REVOKED: layer delamination found on audit"),
        "{page}"
    );
    assert!(page.contains("with warnings"));
    assert!(page.contains("data-tone=\"bad\""));
    assert!(page.contains("SUPERSEDED by version 2"), "{page}");
    assert!(page.contains("has been superseded by version 2"));
    let (_, page) = get(
        &w.state,
        &format!("/models?hash={}", w.outcome.model.to_hex()),
        None,
    )
    .await;
    assert!(page.contains("AUTHENTIC but SUPERSEDED"), "{page}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_members_only_public_channel_hides_the_application_pages() {
    let mut spec = DevNetSpec::productivist(Some(SEED));
    spec.readers = productivist_engine::config::Readers::Members;
    let net = DevNet::generate(&spec).unwrap();
    let mut channels = BTreeMap::new();
    channels.insert("public".to_string(), shared("public", ledger_of(&net)));
    let state = Arc::new(NodeState {
        name: "node0".into(),
        node_key: net.nodes[0].2.public(),
        channels,
        started: std::time::Instant::now(),
        net: None,
    });
    let dora = member(&net, "dora");
    let token = session::sign_token(
        &dora.cert,
        &dora.key,
        productivist::embedded::now_ms() + 600_000,
    );
    let model_page = format!("/models?hash={}", Hash::of(b"x").to_hex());
    for path in ["/verify/PVT-1-0001", "/participants", model_page.as_str()] {
        let (status, page) = get(&state, path, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert!(page.contains("hosts no channel"), "{path}: {page}");
    }
    let (status, page) = get(&state, "/verify/PVT-1-0001", Some(&token)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(page.contains("UNKNOWN SERIAL"), "{page}");
    let (status, _) = get(&state, "/participants", Some(&token)).await;
    assert_eq!(status, StatusCode::OK);
}

//! Every way a transaction can be refused gets its own, specific result code,
//! through a real [`Ledger`] on redb; valid transactions in the same block
//! still commit; a second ledger accepts the first's blocks by re-execution
//! and refuses tampered ones.

use productivist_engine::block::{BlockError, TxStatus};
use productivist_engine::codec::{self, CodecError};
use productivist_engine::contract::{Contracts, decode_args, refuse};
use productivist_engine::crypto::{CryptoError, KeyPair, PublicKey, Signed, domain};
use productivist_engine::devnet::{DevNet, DevNetSpec, Member};
use productivist_engine::identity::{
    CertBody, Certificate, IdentityError, Revocation, Role, cert_id, issue_certificate,
};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use productivist_engine::system::config_tx;
use productivist_engine::tx::{SignerRef, TxBody, decode_tx, encode_tx, sign_tx, tx_id};
use productivist_engine::{
    Block, Context, Contract, ContractError, InvalidCode, LedgerError, Transaction, TxResult,
};
use std::collections::HashSet;
use std::sync::Arc;

/// Block times start here (2023-11-14), well inside the dev certificates.
const T0: u64 = 1_700_000_000_000;
const KV: &str = "kv";

/// A tiny key-value/counter contract.
struct Kv;

impl Contract for Kv {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "put" => {
                let (k, v): (Vec<u8>, Vec<u8>) = decode_args(args)?;
                let old = ctx.get(&k)?;
                ctx.put(&k, &v)?;
                ctx.emit("put", &k)?;
                Ok(old.unwrap_or_default())
            }
            "incr" => {
                let k: Vec<u8> = decode_args(args)?;
                let n = match ctx.get(&k)? {
                    None => 0,
                    Some(b) => u64::from_le_bytes(
                        b.try_into()
                            .map_err(|_| ContractError::Refused("not a counter".into()))?,
                    ),
                } + 1;
                ctx.put(&k, &n.to_le_bytes())?;
                ctx.emit("incr", &n.to_le_bytes())?;
                Ok(n.to_le_bytes().to_vec())
            }
            "fail" => refuse("asked to fail"),
            "admin" => {
                if !ctx.caller().has_role(Role::Admin) {
                    return Err(ContractError::NotAuthorized(format!(
                        "{} is not an admin",
                        ctx.caller().account()
                    )));
                }
                Ok(Vec::new())
            }
            other => Err(ContractError::BadArguments(format!(
                "unknown method {other:?}"
            ))),
        }
    }
}

fn contracts() -> Contracts {
    let mut c = Contracts::new();
    c.register(KV, Arc::new(Kv));
    c
}

struct Net {
    devnet: DevNet,
    ledger: Ledger<RedbStore>,
    proposer: PublicKey,
    time: u64,
    _dir: tempfile::TempDir,
}

fn empty_ledger() -> (Ledger<RedbStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("ledger.redb")).unwrap();
    (Ledger::open(store, contracts()).unwrap(), dir)
}

impl Net {
    fn new() -> Net {
        Net::with_threads(1)
    }

    fn with_threads(threads: usize) -> Net {
        let devnet = DevNet::generate(&DevNetSpec::productivist(Some("seed"))).unwrap();
        let proposer = devnet.nodes[0].2.public();
        let (mut ledger, dir) = empty_ledger();
        ledger.set_threads(threads);
        let genesis = ledger
            .build_genesis(devnet.genesis_bytes(), T0, proposer)
            .unwrap();
        ledger.commit(genesis).unwrap();
        Net {
            devnet,
            ledger,
            proposer,
            time: T0,
            _dir: dir,
        }
    }

    fn member(&self, org: &str, subject: &str) -> Member {
        self.devnet.member(org, subject).unwrap().clone()
    }

    fn channel(&self) -> String {
        self.devnet.config.channel_id.clone()
    }

    /// Executes and commits the next block, one second after the last.
    fn block(&mut self, txs: Vec<Vec<u8>>) -> Block {
        self.time += 1_000;
        self.ledger
            .submit_block(txs, self.time, self.proposer)
            .unwrap()
    }

    /// A certificate issued by `org`'s real root key.
    fn issue(&self, org: &str, key: &KeyPair, serial: u64, window: (u64, u64)) -> Certificate {
        let root = &self
            .devnet
            .orgs
            .iter()
            .find(|o| o.name == org)
            .unwrap()
            .root;
        issue_certificate(root, cert_body(org, key.public(), serial, window)).unwrap()
    }
}

fn cert_body(org: &str, key: PublicKey, serial: u64, window: (u64, u64)) -> CertBody {
    CertBody {
        subject: format!("member{serial}"),
        org: org.into(),
        roles: vec![Role::Producer],
        public_key: key,
        not_before_ms: window.0,
        not_after_ms: window.1,
        serial,
    }
}

fn put_args(k: &str, v: &str) -> Vec<u8> {
    codec::encode(&(k.as_bytes().to_vec(), v.as_bytes().to_vec()))
}

fn body(
    channel: &str,
    signer: SignerRef,
    contract: &str,
    method: &str,
    args: Vec<u8>,
    nonce: u64,
) -> TxBody {
    TxBody {
        channel: channel.into(),
        signer,
        nonce,
        contract: contract.into(),
        method: method.into(),
        args,
    }
}

/// A `kv.put` signed with `key` by the holder of `signer`.
fn put_tx(channel: &str, signer: SignerRef, key: &KeyPair, k: &str, nonce: u64) -> Vec<u8> {
    let b = body(
        channel,
        signer,
        KV,
        "put",
        put_args(k, &format!("v{nonce}")),
        nonce,
    );
    encode_tx(&sign_tx(b, key))
}

fn code(r: &TxResult) -> Option<InvalidCode> {
    match &r.status {
        TxStatus::Valid => None,
        TxStatus::Invalid { code, .. } => Some(*code),
    }
}

/// Checks each result against its expectation (`None` = valid).
fn expect(block: &Block, want: &[(&str, Option<InvalidCode>)]) {
    assert_eq!(block.results.len(), want.len());
    for (i, ((what, want), got)) in want.iter().zip(&block.results).enumerate() {
        assert_eq!(
            code(got),
            *want,
            "block {} tx {i} ({what}): got {}",
            block.header.height,
            got.status
        );
    }
}

fn weak_key() -> PublicKey {
    // The identity point (y = 1): small order.
    let mut weak = [0u8; 32];
    weak[0] = 1;
    PublicKey(weak)
}

#[test]
fn trailing_bytes_are_refused_by_the_codec() {
    let net = Net::new();
    let carla = net.member("customers", "carla");
    let mut bytes = carla.call_bytes(&net.channel(), KV, "put", put_args("a", "b"), 1);
    assert!(codec::decode::<Transaction>("transaction", &bytes).is_ok());
    bytes.push(0);
    assert_eq!(
        codec::decode::<Transaction>("transaction", &bytes).unwrap_err(),
        CodecError::TrailingBytes {
            what: "transaction",
            extra: 1
        }
    );
    assert!(matches!(
        decode_tx(&bytes, usize::MAX),
        Err(CodecError::TrailingBytes { extra: 1, .. })
    ));
}

#[test]
fn a_weak_key_is_refused_at_issue() {
    let net = Net::new();
    let root = &net.devnet.orgs[0].root;
    let err = issue_certificate(
        root,
        cert_body("productivist", weak_key(), 77, (0, u64::MAX)),
    )
    .unwrap_err();
    assert_eq!(err, IdentityError::BadKey(CryptoError::WeakKey));
}

/// Runs the whole rejection scenario and returns the ledger it built.
fn rejection_scenario(threads: usize) -> Net {
    let mut net = Net::with_threads(threads);
    let ch = net.channel();
    let carla = net.member("customers", "carla");
    let anna = net.member("fablab-paris", "anna");
    let dora = net.member("design-studio", "dora");
    let admins = net.devnet.admins();
    let full = |m: &Member| SignerRef::Certificate(m.cert.clone());

    // Certificates made for the test.
    let forged_weak = Signed::sign(
        cert_body("customers", weak_key(), 801, (0, u64::MAX)),
        domain::CERTIFICATE,
        &net.devnet
            .orgs
            .iter()
            .find(|o| o.name == "customers")
            .unwrap()
            .root,
    );
    let expired_key = KeyPair::from_seed("expired");
    let expired = net.issue("customers", &expired_key, 802, (0, T0 - 1));
    let future_key = KeyPair::from_seed("future");
    let future = net.issue(
        "customers",
        &future_key,
        803,
        (T0 + 1_000_000_000, u64::MAX),
    );
    let outsider_root = KeyPair::from_seed("outsiders/root");
    let outsider_key = KeyPair::from_seed("outsiders/olga");
    let foreign = issue_certificate(
        &outsider_root,
        cert_body("outsiders", outsider_key.public(), 1, (0, u64::MAX)),
    )
    .unwrap();
    let impostor = issue_certificate(
        &outsider_root,
        cert_body("customers", outsider_key.public(), 804, (0, u64::MAX)),
    )
    .unwrap();
    let ben2_key = KeyPair::from_seed("ben2");
    let ben2 = net.issue("printshop-lyon", &ben2_key, 900, (0, u64::MAX));
    // Valid in blocks 1 and 2 (T0 + 1 s, T0 + 2 s), expired by block 3.
    let short_key = KeyPair::from_seed("short");
    let short = net.issue("customers", &short_key, 905, (0, T0 + 2_500));
    let short_id = SignerRef::CertId(cert_id(&short));

    let first = put_tx(&ch, full(&carla), &carla.key, "k1", 1);
    let mut trailing = carla.call_bytes(&ch, KV, "put", put_args("trail", "x"), 50);
    trailing.push(0);
    let mut flipped = carla.call_bytes(&ch, KV, "put", put_args("flip", "x"), 51);
    *flipped.last_mut().unwrap() ^= 1;
    let mut lean = net.devnet.config.clone();
    lean.version = 1;
    lean.market.platform_fee_bps = 0;
    let underendorsed = encode_tx(&config_tx(
        "update",
        &lean,
        &admins[..1],
        (&admins[0].0, &admins[0].1),
        60,
    ));

    // Block 1: one of each admission and execution refusal among valid txs.
    let b1 = net.block(vec![
        first.clone(),
        trailing,
        put_tx(&ch, full(&carla), &anna.key, "badsig", 52),
        flipped,
        put_tx(
            &ch,
            SignerRef::Certificate(forged_weak),
            &carla.key,
            "weak",
            53,
        ),
        put_tx(
            &ch,
            SignerRef::Certificate(expired),
            &expired_key,
            "old",
            54,
        ),
        put_tx(&ch, SignerRef::Certificate(future), &future_key, "new", 55),
        put_tx(
            &ch,
            SignerRef::Certificate(foreign),
            &outsider_key,
            "foreign",
            56,
        ),
        put_tx(
            &ch,
            SignerRef::Certificate(impostor),
            &outsider_key,
            "impostor",
            57,
        ),
        put_tx("another-channel", full(&carla), &carla.key, "elsewhere", 58),
        put_tx(
            &ch,
            SignerRef::CertId(cert_id(&dora.cert)),
            &dora.key,
            "early",
            59,
        ),
        carla.call_bytes(&ch, "nope", "put", put_args("a", "b"), 61),
        carla.call_bytes(&ch, KV, "admin", Vec::new(), 62),
        carla.call_bytes(&ch, "_certs", "put", put_args("a", "b"), 65),
        underendorsed,
        carla.call_bytes(&ch, KV, "fail", Vec::new(), 63),
        carla.call_bytes(&ch, KV, "put", vec![1, 2, 3], 64),
        first.clone(),
        carla.call_bytes(&ch, KV, "incr", codec::encode(&b"count".to_vec()), 2),
        put_tx(&ch, full(&dora), &dora.key, "dora", 1),
        put_tx(
            &ch,
            SignerRef::CertId(cert_id(&dora.cert)),
            &dora.key,
            "same-block",
            2,
        ),
        put_tx(
            &ch,
            SignerRef::Certificate(ben2.clone()),
            &ben2_key,
            "ben2",
            1,
        ),
        put_tx(
            &ch,
            SignerRef::Certificate(short.clone()),
            &short_key,
            "short-1",
            1,
        ),
    ]);
    use InvalidCode::*;
    let want = [
        ("valid put", None),
        ("trailing byte", Some(Malformed)),
        ("signed with another key", Some(BadSignature)),
        ("flipped signature bit", Some(BadSignature)),
        ("weak key in a forged certificate", Some(BadCertificate)),
        ("expired certificate", Some(CertificateExpired)),
        ("not yet valid certificate", Some(CertificateNotYetValid)),
        ("foreign organization", Some(ForeignCertificate)),
        (
            "certificate not signed by its org",
            Some(BadCertificateSignature),
        ),
        ("wrong channel", Some(WrongChannel)),
        ("cert id never registered", Some(UnknownCertificate)),
        ("unknown contract", Some(UnknownContract)),
        ("contract checks the caller's role", Some(NotAuthorized)),
        (
            "the certificate registry is not a contract",
            Some(UnknownContract),
        ),
        (
            "config update with one endorsement",
            Some(PolicyNotSatisfied),
        ),
        ("contract refusal", Some(Refused)),
        ("undecodable arguments", Some(BadArguments)),
        ("replay within the block", Some(Replay)),
        ("valid incr", None),
        ("dora's first tx, full certificate", None),
        (
            "dora by id in the registering block",
            Some(UnknownCertificate),
        ),
        ("ben2 before revocation", None),
        ("short-lived certificate while valid", None),
    ];
    expect(&b1, &want);
    // Eighteen refusals, fifteen distinct codes (two kinds of bad signature,
    // two kinds of unknown certificate, two kinds of unknown contract).
    let codes: Vec<InvalidCode> = b1.results.iter().filter_map(code).collect();
    let distinct: HashSet<InvalidCode> = codes.iter().copied().collect();
    assert_eq!(codes.len(), 18, "{codes:?}");
    assert_eq!(distinct.len(), 15, "{distinct:?}");
    // Valid txs committed, with their events; invalid ones wrote nothing.
    assert_eq!(b1.results[0].events[0].name, "put");
    assert_eq!(b1.results[18].events[0].name, "incr");
    assert_eq!(
        net.ledger.state(KV, b"k1").unwrap().as_deref(),
        Some(b"v1".as_slice())
    );
    assert_eq!(
        net.ledger.state(KV, b"count").unwrap(),
        Some(1u64.to_le_bytes().to_vec())
    );
    assert!(net.ledger.state(KV, b"dora").unwrap().is_some());
    assert!(net.ledger.state(KV, b"ben2").unwrap().is_some());
    for k in [
        "badsig",
        "weak",
        "old",
        "new",
        "foreign",
        "impostor",
        "elsewhere",
        "early",
        "same-block",
    ] {
        assert_eq!(net.ledger.state(KV, k.as_bytes()).unwrap(), None, "{k}");
    }
    assert_eq!(net.ledger.config().unwrap().version, 0);
    assert!(
        net.ledger
            .tx(&tx_id(&decode_tx(&first, usize::MAX).unwrap()))
            .unwrap()
            .is_some()
    );

    // Block 2: replays across blocks, a re-signed body, the id registered
    // by block 1, and a revocation endorsed by a majority of admins.
    let original = decode_tx(&first, usize::MAX).unwrap();
    let resigned = sign_tx(original.value().clone(), &carla.key);
    assert_eq!(tx_id(&resigned), tx_id(&original), "the id covers the body");
    let mut bad_sig = *resigned.signature();
    bad_sig.0[0] ^= 0x80;
    let missigned: Transaction =
        Signed::from_parts("transaction", resigned.bytes().to_vec(), bad_sig).unwrap();
    assert_eq!(tx_id(&missigned), tx_id(&original));
    let mut revoking = (**net.ledger.config().unwrap()).clone();
    revoking.version = 1;
    revoking.revocations.push(Revocation {
        org: "printshop-lyon".into(),
        serial: 900,
    });
    let majority = &admins[..admins.len() / 2 + 1];
    let revoke = encode_tx(&config_tx(
        "update",
        &revoking,
        majority,
        (&admins[0].0, &admins[0].1),
        70,
    ));
    let b2 = net.block(vec![
        first.clone(),
        encode_tx(&resigned),
        encode_tx(&missigned),
        put_tx(
            &ch,
            SignerRef::CertId(cert_id(&dora.cert)),
            &dora.key,
            "by-id",
            3,
        ),
        revoke,
        put_tx(
            &ch,
            SignerRef::Certificate(ben2.clone()),
            &ben2_key,
            "ben2-still",
            2,
        ),
        carla.call_bytes(&ch, KV, "fail", Vec::new(), 63),
        put_tx(&ch, short_id.clone(), &short_key, "short-2", 2),
    ]);
    expect(
        &b2,
        &[
            ("replay of a committed tx", Some(Replay)),
            ("same body re-signed", Some(Replay)),
            ("same body, bad signature", Some(BadSignature)),
            ("dora by id after registration", None),
            ("revocation", None),
            ("ben2 in the revoking block", None),
            ("replay of a refused (authenticated) tx", Some(Replay)),
            ("short-lived certificate by id while valid", None),
        ],
    );
    assert!(net.ledger.state(KV, b"by-id").unwrap().is_some());
    assert!(net.ledger.state(KV, b"ben2-still").unwrap().is_some());
    let config = net.ledger.config().unwrap();
    assert_eq!(config.version, 1);
    assert_eq!(config.revocations.len(), 1);

    // Block 3: the revocation is in force, by full certificate and by id.
    let b3 = net.block(vec![
        put_tx(
            &ch,
            SignerRef::Certificate(ben2.clone()),
            &ben2_key,
            "ben2-late",
            3,
        ),
        put_tx(
            &ch,
            SignerRef::CertId(cert_id(&ben2)),
            &ben2_key,
            "ben2-by-id",
            4,
        ),
        put_tx(&ch, full(&carla), &carla.key, "k3", 3),
        put_tx(&ch, short_id.clone(), &short_key, "short-3", 3),
    ]);
    expect(
        &b3,
        &[
            ("revoked certificate", Some(CertificateRevoked)),
            ("revoked certificate by id", Some(CertificateRevoked)),
            ("valid put", None),
            ("registered certificate expired", Some(CertificateExpired)),
        ],
    );
    assert_eq!(net.ledger.state(KV, b"ben2-late").unwrap(), None);
    assert!(net.ledger.state(KV, b"k3").unwrap().is_some());
    net
}

#[test]
fn every_rejection_has_its_own_code_and_valid_txs_still_commit() {
    let net = rejection_scenario(1);
    assert_eq!(net.ledger.head().unwrap().height, 3);
}

#[test]
fn the_same_rejections_on_four_threads() {
    let sequential = rejection_scenario(1);
    let parallel = rejection_scenario(4);
    assert_eq!(parallel.ledger.head(), sequential.ledger.head());
    assert_eq!(parallel.ledger.state_root(), sequential.ledger.state_root());
}

fn invalid_reason(r: Result<impl std::fmt::Debug, LedgerError>) -> String {
    match r {
        Err(LedgerError::Block(BlockError::Invalid { reason, .. })) => reason,
        other => panic!("expected an invalid block, got {other:?}"),
    }
}

#[test]
fn a_second_ledger_verifies_the_blocks_and_refuses_tampered_ones() {
    let mut net = rejection_scenario(1);
    let (mut replica, _dir) = empty_ledger();
    // The replica re-executes on several threads, the proposer on one.
    replica.set_threads(3);
    let head = net.ledger.head().unwrap();
    for h in 0..=head.height {
        let bytes = net.ledger.block_bytes(h).unwrap().unwrap();
        let executed = replica.verify(&bytes).unwrap();
        replica.commit(executed).unwrap();
    }
    assert_eq!(replica.head(), Some(head));
    assert_eq!(replica.state_root(), net.ledger.state_root());

    // The next block, proposed by the first ledger and not committed yet.
    let ch = net.channel();
    let carla = net.member("customers", "carla");
    let next = net
        .ledger
        .propose(
            vec![
                carla.call_bytes(&ch, KV, "put", put_args("next", "1"), 100),
                carla.call_bytes(&ch, KV, "fail", Vec::new(), 101),
            ],
            net.time + 1_000,
            net.proposer,
        )
        .unwrap();
    let good = next.bytes.clone();
    let block = next.block.clone();

    // A changed result, with the results root recomputed to match.
    let mut t = block.clone();
    t.results[0] = TxResult::invalid(InvalidCode::Refused, "forged");
    t.header.results_root = Block::results_root(&t.results);
    let reason = invalid_reason(replica.verify(&t.encode()));
    assert!(reason.contains("results differ"), "{reason}");
    // A changed result under the original header.
    let mut t = block.clone();
    t.results[1] = TxResult {
        status: TxStatus::Valid,
        events: Vec::new(),
        output: Vec::new(),
    };
    let reason = invalid_reason(replica.verify(&t.encode()));
    assert!(reason.contains("results_root"), "{reason}");
    // A changed state root.
    let mut t = block.clone();
    t.header.state_root.0[0] ^= 1;
    let reason = invalid_reason(replica.verify(&t.encode()));
    assert!(reason.contains("header differs"), "{reason}");
    // A wrong previous hash.
    let mut t = block.clone();
    t.header.prev_hash.0[31] ^= 1;
    let reason = invalid_reason(replica.verify(&t.encode()));
    assert!(reason.contains("previous hash"), "{reason}");
    // A block with trailing bytes does not even decode.
    let mut t = good.clone();
    t.push(0);
    assert!(matches!(
        replica.verify(&t),
        Err(LedgerError::Block(BlockError::Codec(
            CodecError::TrailingBytes { .. }
        )))
    ));

    // Nothing was committed by the refusals; the genuine block still verifies.
    assert_eq!(replica.head(), Some(head));
    let executed = replica.verify(&good).unwrap();
    replica.commit(executed).unwrap();
    net.ledger.commit(next).unwrap();
    assert_eq!(replica.head(), net.ledger.head());
    assert_eq!(replica.state_root(), net.ledger.state_root());
}

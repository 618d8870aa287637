//! A replica votes only for proposals a correct leader could have made
//! (engine/src/proposal.rs): every refusal has its own error, and what
//! depends on state the replica may lack is left to execution.

use productivist_engine::contract::Contracts;
use productivist_engine::crypto::{Hash, KeyPair, PublicKey};
use productivist_engine::devnet::{DevNet, DevNetSpec, Member};
use productivist_engine::ledger::Ledger;
use productivist_engine::proposal::{BlockProposal, CLOCK_SKEW_MAX_MS, ProposalError};
use productivist_engine::store::RedbStore;
use productivist_engine::tx::{SignerRef, TxBody, TxId, encode_tx, sign_tx, tx_id};
use productivist_engine::{InvalidCode, Transaction};

/// Inside the dev certificates' validity.
const T0: u64 = 1_700_000_000_000;

struct Replica {
    devnet: DevNet,
    ledger: Ledger<RedbStore>,
    proposer: PublicKey,
    _dir: tempfile::TempDir,
}

fn replica(threads: usize) -> Replica {
    let devnet = DevNet::generate(&DevNetSpec::productivist(Some("proposal"))).unwrap();
    let proposer = devnet.nodes[0].2.public();
    let dir = tempfile::tempdir().unwrap();
    let store = RedbStore::open(&dir.path().join("ledger.redb")).unwrap();
    let mut ledger = Ledger::open(store, Contracts::default()).unwrap();
    ledger.set_threads(threads);
    let genesis = ledger
        .build_genesis(devnet.genesis_bytes(), T0, proposer)
        .unwrap();
    ledger.commit(genesis).unwrap();
    Replica {
        devnet,
        ledger,
        proposer,
        _dir: dir,
    }
}

impl Replica {
    fn member(&self) -> Member {
        self.devnet.orgs[0].members[0].clone()
    }

    fn channel(&self) -> String {
        self.devnet.config.channel_id.clone()
    }

    fn txs(&self, n: u64) -> Vec<Vec<u8>> {
        let m = self.member();
        (0..n)
            .map(|i| m.call_bytes(&self.channel(), "kv", "put", vec![i as u8], i))
            .collect()
    }

    fn proposal(&self, txs: Vec<Vec<u8>>, timestamp_ms: u64) -> BlockProposal {
        BlockProposal {
            txs,
            timestamp_ms,
            proposer: self.proposer,
        }
    }

    fn check(
        &self,
        parent: Option<&BlockProposal>,
        p: &BlockProposal,
    ) -> Result<Option<BlockProposal>, ProposalError> {
        let parent = parent.map(BlockProposal::encode);
        self.ledger.check_proposal(
            parent.as_deref(),
            &p.encode(),
            Some(T0 + 10_000),
            &|_, _| false,
        )
    }
}

fn signed(body: TxBody, key: &KeyPair) -> Vec<u8> {
    encode_tx(&sign_tx(body, key))
}

fn body(channel: &str, signer: SignerRef) -> TxBody {
    TxBody {
        channel: channel.into(),
        signer,
        nonce: 7,
        contract: "kv".into(),
        method: "put".into(),
        args: vec![1],
    }
}

#[test]
fn a_correct_proposal_is_accepted_on_one_or_several_threads() {
    for threads in [1, 2] {
        let r = replica(threads);
        // Enough transactions to take the parallel path.
        let p = r.proposal(r.txs(100), T0 + 1_000);
        assert_eq!(r.check(None, &p).unwrap(), Some(p.clone()));
    }
}

#[test]
fn an_empty_payload_is_a_filler_block() {
    let r = replica(1);
    let got = r
        .ledger
        .check_proposal(None, &[], Some(T0), &|_, _| false)
        .unwrap();
    assert_eq!(got, None);
}

#[test]
fn garbage_and_trailing_bytes_are_refused() {
    let r = replica(1);
    let err = r
        .ledger
        .check_proposal(None, b"\xff\xff\xff\xffgarbage", None, &|_, _| false)
        .unwrap_err();
    assert!(matches!(err, ProposalError::Malformed(_)), "{err}");
    let mut bytes = r.proposal(r.txs(1), T0).encode();
    bytes.push(0);
    let err = r
        .ledger
        .check_proposal(None, &bytes, None, &|_, _| false)
        .unwrap_err();
    assert!(matches!(err, ProposalError::Malformed(_)), "{err}");
}

#[test]
fn a_proposal_over_the_channel_limits_is_refused() {
    let r = replica(1);
    let max = r.devnet.config.limits.max_txs as u64;
    let p = r.proposal(r.txs(max + 1), T0);
    let err = r.check(None, &p).unwrap_err();
    assert!(matches!(err, ProposalError::OverLimits { txs, .. } if txs as u64 == max + 1));
}

#[test]
fn a_proposer_outside_the_consenter_set_is_refused() {
    let r = replica(1);
    let mut p = r.proposal(r.txs(1), T0);
    p.proposer = KeyPair::from_seed("outsider").public();
    let err = r.check(None, &p).unwrap_err();
    assert!(matches!(err, ProposalError::UnknownProposer(k) if k == p.proposer));
}

#[test]
fn block_time_may_not_run_backwards_or_far_ahead() {
    let r = replica(1);
    let parent = r.proposal(r.txs(1), T0 + 5_000);
    let child = r.proposal(r.txs(2), T0 + 4_999);
    let err = r.check(Some(&parent), &child).unwrap_err();
    assert!(matches!(err, ProposalError::TimeBackwards { .. }), "{err}");
    let same = r.proposal(r.txs(2), T0 + 5_000);
    assert!(r.check(Some(&parent), &same).is_ok());
    // The replica's clock is T0 + 10 s in `check`.
    let ahead = r.proposal(r.txs(1), T0 + 10_000 + CLOCK_SKEW_MAX_MS + 1);
    let err = r.check(None, &ahead).unwrap_err();
    assert!(matches!(err, ProposalError::TimeAhead { .. }), "{err}");
    let edge = r.proposal(r.txs(1), T0 + 10_000 + CLOCK_SKEW_MAX_MS);
    assert!(r.check(None, &edge).is_ok());
}

#[test]
fn a_duplicate_transaction_is_refused() {
    let r = replica(1);
    let mut txs = r.txs(3);
    txs.push(txs[1].clone());
    let err = r.check(None, &r.proposal(txs, T0)).unwrap_err();
    let dup: Transaction = productivist_engine::tx::decode_tx(&r.txs(3)[1], usize::MAX).unwrap();
    assert!(
        matches!(err, ProposalError::Duplicate(id) if id == tx_id(&dup)),
        "{err}"
    );
}

#[test]
fn forged_or_foreign_transactions_are_refused_with_their_code() {
    let r = replica(1);
    let m = r.member();
    let ch = r.channel();
    // Signed with a key that is not the certificate's.
    let forged = signed(
        body(&ch, SignerRef::Certificate(m.cert.clone())),
        &KeyPair::from_seed("forger"),
    );
    let other_channel = signed(
        body("elsewhere", SignerRef::Certificate(m.cert.clone())),
        &m.key,
    );
    let cases: [(Vec<u8>, InvalidCode); 3] = [
        (forged, InvalidCode::BadSignature),
        (other_channel, InvalidCode::WrongChannel),
        (b"not a transaction".to_vec(), InvalidCode::Malformed),
    ];
    for (bad, want) in cases {
        let mut txs = r.txs(2);
        txs.insert(1, bad);
        let err = r.check(None, &r.proposal(txs, T0)).unwrap_err();
        assert!(
            matches!(err, ProposalError::BadTransaction { index: 1, code, .. } if code == want),
            "want {want}, got {err}"
        );
    }
}

#[test]
fn state_dependent_verdicts_are_left_to_execution() {
    let r = replica(1);
    let m = r.member();
    // A certificate referenced by id that this replica has not seen yet (it
    // may be registered by a block it has not committed).
    let unknown = signed(
        body(&r.channel(), SignerRef::CertId(Hash::of(b"later"))),
        &m.key,
    );
    let p = r.proposal(vec![unknown], T0);
    assert!(r.check(None, &p).is_ok());
}

#[test]
fn transactions_already_verified_are_not_verified_again() {
    let r = replica(1);
    let m = r.member();
    let forged = signed(
        body(&r.channel(), SignerRef::Certificate(m.cert.clone())),
        &KeyPair::from_seed("forger"),
    );
    let forged_id: TxId = tx_id(&productivist_engine::tx::decode_tx(&forged, usize::MAX).unwrap());
    let p = r.proposal(vec![forged], T0);
    // The mempool's verdict is trusted: the check is skipped for that id
    // only (this is what saves the second verification of every tx).
    let known = move |id: &TxId, _: &[u8]| *id == forged_id;
    assert!(
        r.ledger
            .check_proposal(None, &p.encode(), None, &known)
            .is_ok()
    );
    assert!(
        r.ledger
            .check_proposal(None, &p.encode(), None, &|_, _| false)
            .is_err()
    );
}

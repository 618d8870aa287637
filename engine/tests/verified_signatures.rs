//! `Ledger::propose_verified`: a node skips re-verifying at execution only
//! the signatures of the exact bytes it verified itself (its mempool's
//! admissions). A forged transaction in a peer's block is still refused,
//! the certificate is still judged at the block's time, and a block's
//! result is the same as `Ledger::propose`'s.

use productivist_engine::block::{InvalidCode, TxStatus};
use productivist_engine::contract::{Context, Contract, ContractError, Contracts};
use productivist_engine::crypto::{KeyPair, Signed};
use productivist_engine::devnet::{DEV_NOT_AFTER_MS, DevNet, DevNetSpec};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use productivist_engine::tx::{TxBody, decode_tx, encode_tx, tx_id};
use std::sync::Arc;

struct Noop;
impl Contract for Noop {
    fn call(&self, ctx: &mut dyn Context, _: &str, args: &[u8]) -> Result<Vec<u8>, ContractError> {
        ctx.put(args, b"x")?;
        Ok(Vec::new())
    }
}

fn ledger(net: &DevNet) -> Ledger<RedbStore> {
    let mut contracts = Contracts::new();
    contracts.register("noop", Arc::new(Noop));
    let mut ledger = Ledger::open(RedbStore::in_memory().unwrap(), contracts).unwrap();
    let g = ledger
        .build_genesis(net.genesis_bytes(), 1_000, net.nodes[0].2.public())
        .unwrap();
    ledger.commit(g).unwrap();
    ledger
}

/// The same body (hence the same transaction id) with another signature.
fn forged(bytes: &[u8]) -> Vec<u8> {
    let tx = decode_tx(bytes, usize::MAX).unwrap();
    let mut sig = *tx.signature();
    sig.0[40] ^= 1;
    let f = Signed::<TxBody>::from_parts("tx", tx.bytes().to_vec(), sig).unwrap();
    assert_eq!(tx_id(&f), tx_id(&tx), "same id, other bytes");
    encode_tx(&f)
}

fn code(
    ledger: &Ledger<RedbStore>,
    txs: Vec<Vec<u8>>,
    verified: &[bool],
    time_ms: u64,
) -> Vec<Option<InvalidCode>> {
    let key = KeyPair::from_seed("proposer").public();
    let executed = ledger
        .propose_verified(txs, verified, time_ms, key)
        .unwrap();
    executed
        .block
        .results
        .iter()
        .map(|r| match &r.status {
            TxStatus::Valid => None,
            TxStatus::Invalid { code, .. } => Some(*code),
        })
        .collect()
}

#[test]
fn known_signatures_skip_only_the_signature_check() {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("verified"))).unwrap();
    let carla = net.find("carla").unwrap();
    let good: Vec<Vec<u8>> = (0..4u64)
        .map(|i| carla.call_bytes("public", "noop", "x", format!("k{i}").into_bytes(), i))
        .collect();
    for threads in [1usize, 2] {
        let mut l = ledger(&net);
        l.set_threads(threads);
        let key = KeyPair::from_seed("proposer").public();
        // The same block, with and without the flags: identical.
        let plain = l.propose(good.clone(), 2_000, key).unwrap();
        let flagged = l
            .propose_verified(good.clone(), &[true; 4], 2_000, key)
            .unwrap();
        assert_eq!(plain.hash, flagged.hash, "threads={threads}");
        assert_eq!(plain.bytes, flagged.bytes, "threads={threads}");

        // A peer's block carries a forged copy of a transaction this node
        // admitted: the bytes differ, so the node does not flag it, and
        // execution refuses it.
        let fake = forged(&good[0]);
        assert_eq!(
            code(
                &l,
                vec![fake.clone(), good[1].clone()],
                &[false, true],
                2_000
            ),
            vec![Some(InvalidCode::BadSignature), None],
            "threads={threads}"
        );
        // Unflagged transactions are verified whatever their position.
        assert_eq!(
            code(&l, vec![good[1].clone(), fake], &[true], 2_000),
            vec![None, Some(InvalidCode::BadSignature)],
            "threads={threads}"
        );

        // The flag is trusted, which is why a node sets it only for the
        // exact bytes it verified: flagged, the forgery would pass.
        assert_eq!(
            code(&l, vec![forged(&good[3])], &[true], 2_000),
            vec![None],
            "threads={threads}"
        );

        // The certificate is still judged at the block's time.
        assert_eq!(
            code(&l, vec![good[2].clone()], &[true], DEV_NOT_AFTER_MS),
            vec![Some(InvalidCode::CertificateExpired)],
            "threads={threads}"
        );
    }
}

//! Crafted signatures get one verdict on every path: dalek's own
//! `verify_strict`, Productivist's single and batched verification
//! (`sigverify`, in any grouping), sequential block execution, and parallel
//! execution with any thread count and any order of the block. `verify_batch`, which uses the
//! cofactored equation, accepts several of them; that is why Productivist
//! never uses it (docs/DECISIONS.md).

use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT as B, EIGHT_TORSION};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::scalar::Scalar;
use productivist_engine::block::{InvalidCode, TxStatus};
use productivist_engine::contract::{Context, Contract, ContractError, Contracts};
use productivist_engine::crypto::{CryptoError, Hash, PublicKey, SignatureBytes, Signed, domain};
use productivist_engine::devnet::{DevNet, DevNetSpec};
use productivist_engine::identity::{CertBody, Role};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use productivist_engine::tx::{SignerRef, TxBody, encode_tx};
use sha2::{Digest, Sha512};
use std::sync::Arc;

/// The group order l, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn k(r: &[u8; 32], a: &[u8; 32], m: &[u8]) -> Scalar {
    let mut h = Sha512::new();
    h.update(r);
    h.update(a);
    h.update(m);
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

fn scalar(seed: &str) -> Scalar {
    let mut wide = [0u8; 64];
    wide[..32].copy_from_slice(&Hash::of(seed.as_bytes()).0);
    wide[32..].copy_from_slice(&Hash::of(format!("{seed}/2").as_bytes()).0);
    Scalar::from_bytes_mod_order_wide(&wide)
}

/// A signature `(R, S)` by secret scalar `a` for public point `a_pub`, with
/// nonce point `r_pub = [r]B + extra` (extra: a torsion component or none).
fn sign_raw(
    a: Scalar,
    a_pub: EdwardsPoint,
    r: Scalar,
    extra: EdwardsPoint,
    msg: &[u8],
) -> [u8; 64] {
    let r_pub = (B * r + extra).compress().to_bytes();
    let a_bytes = a_pub.compress().to_bytes();
    let s = r + k(&r_pub, &a_bytes, msg) * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_pub);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

/// `x + y` as 256-bit little-endian integers (no overflow for the values used).
fn add_le(x: &[u8], y: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(x[i]) + u16::from(y[i]) + carry;
        out[i] = v as u8;
        carry = v >> 8;
    }
    out
}

fn add_l(s: &[u8]) -> [u8; 32] {
    add_le(s, &L)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Honest,
    NonCanonicalS,
    SmallOrderR,
    MixedOrderR,
    MixedOrderKey,
    SmallOrderKey,
}

const CASES: [Case; 6] = [
    Case::Honest,
    Case::NonCanonicalS,
    Case::SmallOrderR,
    Case::MixedOrderR,
    Case::MixedOrderKey,
    Case::SmallOrderKey,
];

/// `(public key, signature)` for `msg` under each case.
fn craft(case: Case, msg: &[u8]) -> ([u8; 32], [u8; 64]) {
    let a = scalar("a");
    let r = scalar(&format!("r/{msg:?}"));
    let a_pub = B * a;
    let t = EIGHT_TORSION[1]; // a point of order 8
    match case {
        Case::Honest => (
            a_pub.compress().to_bytes(),
            sign_raw(a, a_pub, r, EdwardsPoint::default(), msg),
        ),
        Case::NonCanonicalS => {
            let mut sig = sign_raw(a, a_pub, r, EdwardsPoint::default(), msg);
            let s = add_l(&sig[32..]);
            sig[32..].copy_from_slice(&s);
            (a_pub.compress().to_bytes(), sig)
        }
        Case::SmallOrderR => {
            // R = T, S = k·a: the cofactored equation holds.
            let r_bytes = t.compress().to_bytes();
            let a_bytes = a_pub.compress().to_bytes();
            let s = k(&r_bytes, &a_bytes, msg) * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r_bytes);
            sig[32..].copy_from_slice(s.as_bytes());
            (a_bytes, sig)
        }
        Case::MixedOrderR => (a_pub.compress().to_bytes(), sign_raw(a, a_pub, r, t, msg)),
        Case::MixedOrderKey => {
            let mixed = a_pub + t;
            // Try nonces until k is not a multiple of 8, so that the torsion
            // component really matters (bounded: each try succeeds w.p. 7/8).
            for i in 0..64 {
                let r = scalar(&format!("r/{i}/{msg:?}"));
                let sig = sign_raw(a, mixed, r, EdwardsPoint::default(), msg);
                let kk = k(
                    sig[..32].try_into().unwrap(),
                    &mixed.compress().to_bytes(),
                    msg,
                );
                if !kk.as_bytes()[0].is_multiple_of(8) {
                    return (mixed.compress().to_bytes(), sig);
                }
            }
            unreachable!("64 nonces all gave k = 0 mod 8")
        }
        Case::SmallOrderKey => {
            // A = T, R = -k·T, S = 0: the equation holds even cofactorless.
            let a_bytes = t.compress().to_bytes();
            let r0 = EdwardsPoint::default().compress().to_bytes();
            // With R = identity, need S·B = R + k·A, i.e. k·T = 0 for S = 0;
            // pick R so that it holds: R = -k(R)·T has a fixed point search.
            for i in 0u8..8 {
                let cand = (-(t * Scalar::from(i))).compress().to_bytes();
                let kk = k(&cand, &a_bytes, msg);
                if t * kk == t * Scalar::from(i) {
                    let mut sig = [0u8; 64];
                    sig[..32].copy_from_slice(&cand);
                    return (a_bytes, sig);
                }
            }
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&r0);
            (a_bytes, sig)
        }
    }
}

#[test]
fn strict_rejects_every_crafted_signature_and_batch_does_not() {
    let msg = Hash::of(b"message");
    let mut batch_accepts = Vec::new();
    for case in CASES {
        let (key, sig) = craft(case, &msg.0);
        let verdict = PublicKey(key).verify(&msg, &SignatureBytes(sig));
        match case {
            Case::Honest => assert_eq!(verdict, Ok(()), "{case:?}"),
            Case::SmallOrderKey => assert_eq!(verdict, Err(CryptoError::WeakKey), "{case:?}"),
            _ => assert_eq!(verdict, Err(CryptoError::BadSignature), "{case:?}"),
        }
        // Execution verifies with the key decompressed once per certificate;
        // keys it cannot prepare are refused at load, and for the others
        // the verdict is the same.
        match PublicKey(key).prepare() {
            Ok(prepared) => assert_eq!(
                prepared.verify(&msg, &SignatureBytes(sig)),
                verdict,
                "{case:?}"
            ),
            Err(_) => assert!(
                matches!(case, Case::MixedOrderKey | Case::SmallOrderKey),
                "{case:?}"
            ),
        }
        if let Ok(vk) = ed25519_dalek::VerifyingKey::from_bytes(&key) {
            let s = ed25519_dalek::Signature::from_bytes(&sig);
            if ed25519_dalek::verify_batch(&[&msg.0[..]], &[s], &[vk]).is_ok() {
                batch_accepts.push(case);
            }
        }
    }
    // dalek's batch equation is cofactored: it accepts a signature under a
    // mixed-order key that verify_strict refuses. Verdicts here never go
    // through verify_batch, and every key that could make the two disagree
    // is refused when its certificate is loaded.
    assert!(
        batch_accepts.contains(&Case::MixedOrderKey),
        "{batch_accepts:?}"
    );
    for case in &batch_accepts {
        if *case != Case::Honest {
            let (key, _) = craft(*case, &msg.0);
            assert!(
                PublicKey(key).check_strong().is_err(),
                "{case:?} must be refused at load"
            );
        }
    }
}

#[test]
fn mixed_and_small_order_certificate_keys_are_refused_at_load() {
    let (mixed, _) = craft(Case::MixedOrderKey, b"m");
    let (small, _) = craft(Case::SmallOrderKey, b"m");
    assert_eq!(
        PublicKey(mixed).check_strong().unwrap_err(),
        CryptoError::MixedOrderKey
    );
    assert_eq!(
        PublicKey(small).check_strong().unwrap_err(),
        CryptoError::WeakKey
    );
}

struct Noop;
impl Contract for Noop {
    fn call(&self, ctx: &mut dyn Context, _: &str, args: &[u8]) -> Result<Vec<u8>, ContractError> {
        ctx.put(args, b"x")?;
        Ok(Vec::new())
    }
}

/// Transactions whose signatures are crafted per case, signed under a
/// certificate for the crafted key (issued by a real org root, bypassing
/// the issuing checks, as an attacker with a compromised CA flow would).
fn crafted_txs(net: &DevNet) -> Vec<(Case, Vec<u8>)> {
    let org = &net.orgs[5]; // customers
    let mut out = Vec::new();
    for (i, case) in CASES.into_iter().enumerate() {
        for copy in 0..3u64 {
            // The key is fixed per case; the message is the tx id, known only
            // after building the body, so build, hash, then sign.
            let (key, _) = craft(case, b"probe");
            let cert = Signed::sign(
                CertBody {
                    subject: format!("crafted{i}"),
                    org: org.name.clone(),
                    roles: vec![Role::Customer],
                    public_key: PublicKey(key),
                    not_before_ms: 0,
                    not_after_ms: u64::MAX,
                    serial: 900 + i as u64,
                },
                domain::CERTIFICATE,
                &org.root,
            );
            let body = TxBody {
                channel: "public".into(),
                signer: SignerRef::Certificate(cert),
                nonce: copy,
                contract: "noop".into(),
                method: "x".into(),
                args: format!("{case:?}/{copy}").into_bytes(),
            };
            let body_bytes = borsh::to_vec(&body).unwrap();
            let id = Hash::tagged(domain::TX, &body_bytes);
            let (_, sig) = craft(case, &id.0);
            let tx = Signed::<TxBody>::from_parts("tx", body_bytes, SignatureBytes(sig)).unwrap();
            out.push((case, encode_tx(&tx)));
        }
    }
    out
}

fn expected(case: Case) -> Option<InvalidCode> {
    match case {
        Case::Honest => None,
        Case::MixedOrderKey | Case::SmallOrderKey => Some(InvalidCode::BadCertificate),
        _ => Some(InvalidCode::BadSignature),
    }
}

#[test]
fn one_verdict_on_every_path_thread_count_and_order() {
    let net = DevNet::generate(&DevNetSpec::productivist(Some("adversarial"))).unwrap();
    let mut contracts = Contracts::new();
    contracts.register("noop", Arc::new(Noop));
    let mut ledger = Ledger::open(RedbStore::in_memory().unwrap(), contracts).unwrap();
    let g = ledger
        .build_genesis(net.genesis_bytes(), 1_000, net.nodes[0].2.public())
        .unwrap();
    ledger.commit(g).unwrap();
    let txs = crafted_txs(&net);
    // Orders: as built, reversed, and a seeded shuffle (groupings differ).
    let mut orders: Vec<Vec<usize>> =
        vec![(0..txs.len()).collect(), (0..txs.len()).rev().collect()];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut shuffled: Vec<usize> = (0..txs.len()).collect();
    for i in (1..shuffled.len()).rev() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        shuffled.swap(i, (x % (i as u64 + 1)) as usize);
    }
    orders.push(shuffled);
    for order in &orders {
        for threads in [1usize, 2, 4] {
            ledger.set_threads(threads);
            let block: Vec<Vec<u8>> = order.iter().map(|&i| txs[i].1.clone()).collect();
            let executed = ledger
                .propose(block, 2_000, net.nodes[0].2.public())
                .unwrap();
            for (pos, &i) in order.iter().enumerate() {
                let case = txs[i].0;
                let status = &executed.block.results[pos].status;
                match (expected(case), status) {
                    (None, TxStatus::Valid) => {}
                    (Some(code), TxStatus::Invalid { code: got, .. }) if *got == code => {}
                    (want, got) => panic!("{case:?} threads={threads}: want {want:?}, got {got}"),
                }
            }
        }
    }
}

/// dalek's own `verify_strict`, the reference for every verdict.
fn dalek_strict(key: &[u8; 32], msg: &Hash, sig: &[u8; 64]) -> bool {
    ed25519_dalek::VerifyingKey::from_bytes(key).is_ok_and(|vk| {
        vk.verify_strict(&msg.0, &ed25519_dalek::Signature::from_bytes(sig))
            .is_ok()
    })
}

/// The same point as `r` with `p` added to its y coordinate, when that
/// still fits in 255 bits (only for y < 19): a non-canonical encoding that
/// dalek decompresses but never produces.
fn non_canonical(r: [u8; 32]) -> Option<[u8; 32]> {
    // p = 2^255 - 19, little-endian.
    let mut p = [0xffu8; 32];
    p[0] = 0xed;
    p[31] = 0x7f;
    let sign = r[31] & 0x80;
    let mut y = r;
    y[31] &= 0x7f;
    if y[1..].iter().any(|&b| b != 0) || y[0] >= 19 {
        return None;
    }
    let mut out = add_le(&y, &p);
    out[31] |= sign;
    Some(out)
}

/// Signatures for the batched-verification comparison: honest ones, the
/// crafted cases, every small-order R, honest R plus each torsion point,
/// non-canonical encodings, and seeded random corruptions of honest ones.
fn verdict_corpus() -> Vec<([u8; 32], Hash, [u8; 64])> {
    let mut out = Vec::new();
    let a = scalar("corpus/a");
    let a_pub = B * a;
    let a_bytes = a_pub.compress().to_bytes();
    for i in 0..40u32 {
        let msg = Hash::of(format!("m{i}").as_bytes());
        let r = scalar(&format!("corpus/r/{i}"));
        out.push((
            a_bytes,
            msg,
            sign_raw(a, a_pub, r, EdwardsPoint::default(), &msg.0),
        ));
        for case in CASES {
            let (key, sig) = craft(case, &msg.0);
            out.push((key, msg, sig));
        }
        for t in EIGHT_TORSION {
            // R is the torsion point itself, S = k·a.
            let rb = t.compress().to_bytes();
            let s = k(&rb, &a_bytes, &msg.0) * a;
            let mut sig = [0u8; 64];
            sig[..32].copy_from_slice(&rb);
            sig[32..].copy_from_slice(s.as_bytes());
            out.push((a_bytes, msg, sig));
            // R = [r]B + T, signed consistently for that R.
            out.push((a_bytes, msg, sign_raw(a, a_pub, r, t, &msg.0)));
            // A non-canonical encoding of a small-order R, and the encoding
            // of x = 0 with the sign bit set.
            if let Some(nc) = non_canonical(rb) {
                let mut sig2 = sig;
                sig2[..32].copy_from_slice(&nc);
                out.push((a_bytes, msg, sig2));
            }
            let mut sig3 = sig;
            sig3[31] |= 0x80;
            out.push((a_bytes, msg, sig3));
        }
    }
    // Seeded corruptions: one flipped bit anywhere in R, S or the message.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..600u32 {
        let msg = Hash::of(format!("c{i}").as_bytes());
        let r = scalar(&format!("corpus/c/{i}"));
        let mut sig = sign_raw(a, a_pub, r, EdwardsPoint::default(), &msg.0);
        let mut msg2 = msg;
        let bit = (next() % (96 * 8)) as usize;
        if bit < 512 {
            sig[bit / 8] ^= 1 << (bit % 8);
        } else {
            let b = bit - 512;
            msg2.0[b / 8] ^= 1 << (b % 8);
        }
        out.push((a_bytes, msg2, sig));
    }
    out
}

#[test]
fn batched_and_single_verdicts_equal_dalek_verify_strict_in_every_grouping() {
    use productivist_engine::sigverify::{StrictBatch, verify_one};
    let corpus = verdict_corpus();
    let reference: Vec<bool> = corpus
        .iter()
        .map(|(k, m, s)| dalek_strict(k, m, s))
        .collect();
    let accepted = reference.iter().filter(|v| **v).count();
    // The corpus exercises both verdicts.
    assert!(accepted >= 40, "{accepted} accepted");
    assert!(
        corpus.len() - accepted >= 600,
        "{accepted} of {}",
        corpus.len()
    );
    // Only keys a certificate can carry are verified (refused at load
    // otherwise); for those, every path gives dalek's verdict.
    let prepared: Vec<_> = corpus
        .iter()
        .map(|(k, _, _)| PublicKey(*k).prepare().ok())
        .collect();
    for (i, (key, msg, sig)) in corpus.iter().enumerate() {
        if let Some(p) = &prepared[i] {
            assert_eq!(
                verify_one(p, msg, &SignatureBytes(*sig)),
                reference[i],
                "single, item {i}"
            );
        }
        assert_eq!(
            PublicKey(*key).verify(msg, &SignatureBytes(*sig)).is_ok(),
            reference[i],
            "unprepared, item {i}"
        );
    }
    // Keys not decompressed beforehand (mixed and small order included),
    // all in one batch.
    let mut batch = StrictBatch::with_capacity(corpus.len());
    for (key, msg, sig) in &corpus {
        batch.push_key(&PublicKey(*key), msg, &SignatureBytes(*sig));
    }
    assert_eq!(batch.verdicts(), reference, "unprepared keys, one batch");
    let verifiable: Vec<usize> = (0..corpus.len())
        .filter(|&i| prepared[i].is_some())
        .collect();
    // Groupings: all at once, singletons, and seeded random cuts of a
    // seeded shuffle.
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..6 {
        let mut order = verifiable.clone();
        if round > 0 {
            for i in (1..order.len()).rev() {
                order.swap(i, (next() % (i as u64 + 1)) as usize);
            }
        }
        let mut start = 0;
        // Bounded: each group takes at least one item.
        while start < order.len() {
            let len = match round {
                0 => order.len(),
                1 => 1,
                _ => 1 + (next() % 300) as usize,
            };
            let group = &order[start..(start + len).min(order.len())];
            let mut batch = StrictBatch::with_capacity(group.len());
            for &i in group {
                let (_, msg, sig) = &corpus[i];
                batch.push(prepared[i].as_ref().unwrap(), msg, &SignatureBytes(*sig));
            }
            assert_eq!(batch.len(), group.len());
            for (&i, v) in group.iter().zip(batch.verdicts()) {
                assert_eq!(v, reference[i], "round {round}, item {i}");
            }
            start += group.len();
        }
    }
}

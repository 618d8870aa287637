//! Determinism: one seeded sequence of blocks (valid transactions with
//! invalid ones mixed in) applied to independent fresh stores gives the same
//! block bytes, hashes and state roots at every height, whatever the backend
//! and thread count; executing the same block twice gives the same bytes.

use productivist::engine::block::TxStatus;
use productivist::engine::codec;
use productivist::engine::contract::{Contracts, decode_args};
use productivist::engine::devnet::{DevNet, DevNetSpec, Member};
use productivist::engine::identity::cert_id;
use productivist::engine::ledger::Ledger;
use productivist::engine::store::{QUERY_ROWS_MAX, RedbStore, Store};
use productivist::engine::tx::{SignerRef, TxBody, encode_tx, sign_tx};
use productivist::engine::{Context, Contract, ContractError, InvalidCode, PublicKey};
use std::collections::HashMap;
use std::sync::Arc;

const T0: u64 = 1_700_000_000_000;
const KV: &str = "kv";
const BLOCKS: u64 = 40;

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
            "del" => {
                let k: Vec<u8> = decode_args(args)?;
                if ctx.get(&k)?.is_none() {
                    return Err(ContractError::Refused("no such key".into()));
                }
                ctx.delete(&k)?;
                ctx.emit("del", &k)?;
                Ok(Vec::new())
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
                Ok(n.to_le_bytes().to_vec())
            }
            "scan" => {
                // Reads a range: the output depends on the whole key space.
                let rows = ctx.range(b"k", Some(b"l"), 100)?;
                Ok(codec::encode(&rows))
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

/// splitmix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Generates the seeded transactions of every block.
struct TxGen {
    rng: Rng,
    members: Vec<Member>,
    channel: String,
    nonce: u64,
    sent: Vec<Vec<u8>>,
}

impl TxGen {
    fn call(&mut self, m: usize, signer: SignerRef, method: &str, args: Vec<u8>) -> Vec<u8> {
        self.call_on(m, signer, KV, method, args)
    }

    fn call_on(
        &mut self,
        m: usize,
        signer: SignerRef,
        contract: &str,
        method: &str,
        args: Vec<u8>,
    ) -> Vec<u8> {
        self.nonce += 1;
        let member = &self.members[m];
        let body = TxBody {
            channel: self.channel.clone(),
            signer,
            nonce: self.nonce,
            contract: contract.into(),
            method: method.into(),
            args,
        };
        encode_tx(&sign_tx(body, &member.key))
    }

    fn key(&mut self) -> Vec<u8> {
        format!("k{}", self.rng.below(12)).into_bytes()
    }

    fn tx(&mut self) -> Vec<u8> {
        let m = self.rng.below(self.members.len() as u64) as usize;
        let full = SignerRef::Certificate(self.members[m].cert.clone());
        let kind = self.rng.below(20);
        let tx = match kind {
            0..=5 => {
                let k = self.key();
                let v = self.rng.next().to_le_bytes()[..1 + self.rng.below(8) as usize].to_vec();
                self.call(m, full, "put", codec::encode(&(k, v)))
            }
            6..=7 => {
                let k = self.key();
                self.call(m, full, "incr", codec::encode(&k))
            }
            8 => {
                let k = self.key();
                self.call(m, full, "del", codec::encode(&k))
            }
            9 => self.call(m, full, "scan", Vec::new()),
            10 => {
                // By certificate id: valid once the member's certificate was
                // registered by an earlier block, unknown before.
                let id = SignerRef::CertId(cert_id(&self.members[m].cert));
                let k = self.key();
                self.call(m, id, "incr", codec::encode(&k))
            }
            11 => self.call_on(m, full, "nope", "put", Vec::new()),
            12 => {
                // Signed by another member's key.
                let other = (m + 1) % self.members.len();
                self.call(other, full, "incr", codec::encode(&b"x".to_vec()))
            }
            13 => {
                let mut tx = self.call(m, full, "incr", codec::encode(&b"y".to_vec()));
                tx.truncate(self.rng.below(tx.len() as u64) as usize);
                tx
            }
            14 => {
                let mut tx = self.call(m, full, "incr", codec::encode(&b"z".to_vec()));
                tx.push(0);
                tx
            }
            15 => {
                self.nonce += 1;
                let body = TxBody {
                    channel: "elsewhere".into(),
                    signer: full,
                    nonce: self.nonce,
                    contract: KV.into(),
                    method: "incr".into(),
                    args: codec::encode(&b"w".to_vec()),
                };
                encode_tx(&sign_tx(body, &self.members[m].key))
            }
            16 => {
                let junk = vec![9; self.rng.below(6) as usize];
                self.call(m, full, "put", junk)
            }
            _ => match self.sent.len() {
                0 => self.call(m, full, "scan", Vec::new()),
                n => return self.sent[self.rng.below(n as u64) as usize].clone(),
            },
        };
        self.sent.push(tx.clone());
        tx
    }

    fn block(&mut self) -> Vec<Vec<u8>> {
        let n = 1 + self.rng.below(10);
        (0..n).map(|_| self.tx()).collect()
    }
}

type DynLedger = Ledger<Arc<dyn Store>>;

fn ledger(store: Arc<dyn Store>) -> DynLedger {
    Ledger::open(store, contracts()).unwrap()
}

fn fresh_ledgers(dir: &std::path::Path) -> Vec<(&'static str, DynLedger)> {
    let redb = |name: &str| -> Arc<dyn Store> {
        Arc::new(RedbStore::open(&dir.join(format!("{name}.redb"))).unwrap())
    };
    // The same backend twice, once executing blocks on four threads: the
    // results must not depend on the thread count.
    let mut parallel = ledger(redb("b"));
    parallel.set_threads(4);
    #[allow(unused_mut)]
    let mut ledgers = vec![("redb", ledger(redb("a"))), ("redb-4-threads", parallel)];
    #[cfg(feature = "sled")]
    {
        let sled = productivist::engine::store::SledStore::open(&dir.join("sled")).unwrap();
        ledgers.push(("sled", ledger(Arc::new(sled))));
    }
    ledgers
}

fn rows(l: &DynLedger) -> Vec<(Vec<u8>, Vec<u8>)> {
    l.store().range(b"", None, QUERY_ROWS_MAX).unwrap()
}

#[test]
fn same_blocks_same_hashes_and_roots_on_every_store() {
    let devnet = DevNet::generate(&DevNetSpec::productivist(Some("determinism"))).unwrap();
    let proposer: PublicKey = devnet.nodes[0].2.public();
    let members = ["carla", "anna", "ben", "dora", "eric"]
        .iter()
        .map(|s| devnet.find(s).unwrap().clone())
        .collect();
    let mut tx_gen = TxGen {
        rng: Rng(0xd373_1a11),
        members,
        channel: devnet.config.channel_id.clone(),
        nonce: 0,
        sent: Vec::new(),
    };
    let dir = tempfile::tempdir().unwrap();
    let mut ledgers = fresh_ledgers(dir.path());
    // A replica that only ever verifies what the first ledger proposed.
    let mut replica = ledger(Arc::new(
        RedbStore::open(&dir.path().join("replica.redb")).unwrap(),
    ));
    let mut codes: HashMap<Option<InvalidCode>, usize> = HashMap::new();

    for h in 0..=BLOCKS {
        let (txs, time) = if h == 0 {
            (vec![devnet.genesis_bytes()], T0)
        } else {
            (tx_gen.block(), T0 + h * 1_000 + tx_gen.rng.below(1_000))
        };
        let mut reference: Option<(Vec<u8>, _, _)> = None;
        for (name, l) in &mut ledgers {
            let execute = |l: &DynLedger| {
                if h == 0 {
                    l.build_genesis(txs[0].clone(), time, proposer).unwrap()
                } else {
                    l.propose(txs.clone(), time, proposer).unwrap()
                }
            };
            let executed = execute(&*l);
            // Executing the same block twice gives the same bytes.
            let again = execute(&*l);
            assert_eq!(
                executed.bytes, again.bytes,
                "{name} at {h}: re-execution differs"
            );
            assert_eq!(executed.hash, again.hash);
            let bytes = executed.bytes.clone();
            let hash = executed.hash;
            l.commit(executed).unwrap();
            let root = l.state_root();
            match &reference {
                None => reference = Some((bytes, hash, root)),
                Some((b, hs, r)) => {
                    assert_eq!(hash, *hs, "{name}: block hash differs at {h}");
                    assert_eq!(root, *r, "{name}: state root differs at {h}");
                    assert_eq!(&bytes, b, "{name}: block bytes differ at {h}");
                }
            }
        }
        let (bytes, hash, root) = reference.unwrap();
        let verified = replica.verify(&bytes).unwrap();
        assert_eq!(
            verified.block.encode(),
            bytes,
            "verification re-encodes differently at {h}"
        );
        assert_eq!(verified.hash, hash);
        replica.commit(verified).unwrap();
        assert_eq!(replica.state_root(), root);
        if h > 0 {
            let block = ledgers[0].1.block(h).unwrap().unwrap();
            for r in &block.results {
                let code = match &r.status {
                    TxStatus::Valid => None,
                    TxStatus::Invalid { code, .. } => Some(*code),
                };
                *codes.entry(code).or_default() += 1;
            }
        }
    }

    // Same state, row by row, everywhere.
    let want = rows(&replica);
    assert!(want.len() > 10, "{} rows", want.len());
    for (name, l) in &ledgers {
        assert_eq!(rows(l), want, "{name}: state rows differ");
        assert_eq!(l.head(), replica.head());
    }
    // The sequence exercised both valid and many kinds of invalid txs.
    use InvalidCode::*;
    for c in [
        None,
        Some(Malformed),
        Some(BadSignature),
        Some(WrongChannel),
        Some(Replay),
        Some(UnknownContract),
        Some(BadArguments),
        Some(Refused),
    ] {
        assert!(codes.contains_key(&c), "no {c:?} in {codes:?}");
    }
    assert!(
        codes[&None] * 4 > codes.values().sum::<usize>(),
        "{codes:?}"
    );
}

//! The conformance suite every [`Store`] backend must pass.
//!
//! Backends call [`run`] from their tests with a function that opens the
//! backend in a directory; the suite reopens stores to check durability.

use super::{BlockCommit, Head, HistoryEntry, StateWrite, Store, StoreError, TxLocation};
use crate::crypto::Hash;
use std::path::Path;

type TestWrite<'a> = (&'a [u8], Option<&'a [u8]>, u32);

fn commit(height: u64, writes: Vec<TestWrite<'_>>, txs: &[&str]) -> BlockCommit {
    BlockCommit {
        height,
        hash: Hash::of(&height.to_le_bytes()),
        block: format!("block-{height}").into_bytes(),
        txs: txs
            .iter()
            .enumerate()
            .map(|(i, t)| (Hash::of(t.as_bytes()), i as u32))
            .collect(),
        writes: writes
            .into_iter()
            .map(|(k, v, i)| StateWrite {
                key: k.to_vec(),
                value: v.map(<[u8]>::to_vec),
                tx_index: i,
            })
            .collect(),
        lthash: vec![height as u8; 8],
    }
}

fn check(cond: bool, what: &str) -> Result<(), String> {
    if cond { Ok(()) } else { Err(what.to_string()) }
}

fn s(e: StoreError) -> String {
    e.to_string()
}

/// Runs the whole suite. `open` opens (or creates) a store in a directory;
/// `dir` must be empty. Returns the first failed expectation.
pub fn run<S: Store>(
    dir: &Path,
    open: &dyn Fn(&Path) -> Result<S, StoreError>,
) -> Result<(), String> {
    let a = dir.join("a");
    std::fs::create_dir_all(&a).map_err(|e| e.to_string())?;
    empty_store(&open(&a).map_err(s)?)?;
    let b = dir.join("b");
    std::fs::create_dir_all(&b).map_err(|e| e.to_string())?;
    {
        let store = open(&b).map_err(s)?;
        commits_and_queries(&store)?;
        out_of_order_is_refused(&store)?;
        ranges(&store)?;
        history(&store)?;
        snapshot_reads(&store)?;
    }
    // Everything acknowledged survives a reopen.
    reopened(&open(&b).map_err(s)?)?;
    Ok(())
}

fn empty_store<S: Store>(store: &S) -> Result<(), String> {
    check(
        store.head().map_err(s)?.is_none(),
        "empty store has no head",
    )?;
    check(
        store.block(0).map_err(s)?.is_none(),
        "empty store has no block 0",
    )?;
    check(
        store.get(b"k").map_err(s)?.is_none(),
        "empty store has no state",
    )?;
    check(
        store.lthash().map_err(s)?.is_none(),
        "empty store has no lthash",
    )?;
    check(
        store.range(b"", None, 10).map_err(s)?.is_empty(),
        "empty store ranges to nothing",
    )
}

fn commits_and_queries<S: Store>(store: &S) -> Result<(), String> {
    store
        .commit_block(&commit(0, vec![(b"k", Some(b"v0"), 0)], &["t0"]))
        .map_err(s)?;
    store
        .commit_block(&commit(
            1,
            vec![
                (b"k", Some(b"v1"), 0),
                (b"k", Some(b"v2"), 1),
                (b"gone", Some(b"x"), 0),
                (b"gone", None, 1),
            ],
            &["t1", "t2"],
        ))
        .map_err(s)?;
    check(
        store.head().map_err(s)?
            == Some(Head {
                height: 1,
                hash: Hash::of(&1u64.to_le_bytes()),
            }),
        "head is the last commit",
    )?;
    check(
        store.block(1).map_err(s)?.as_deref() == Some(b"block-1".as_slice()),
        "block by height",
    )?;
    check(
        store.height_of(&Hash::of(&0u64.to_le_bytes())).map_err(s)? == Some(0),
        "block height by hash",
    )?;
    check(
        store.tx_location(&Hash::of(b"t2")).map_err(s)?
            == Some(TxLocation {
                height: 1,
                index: 1,
            }),
        "tx location by id",
    )?;
    check(
        store.tx_location(&Hash::of(b"nope")).map_err(s)?.is_none(),
        "unknown tx",
    )?;
    check(
        store.get(b"k").map_err(s)?.as_deref() == Some(b"v2".as_slice()),
        "a later write in the block wins",
    )?;
    check(
        store.get(b"gone").map_err(s)?.is_none(),
        "a delete removes the key",
    )?;
    check(
        store.lthash().map_err(s)? == Some(vec![1; 8]),
        "lthash is the last commit's",
    )
}

fn out_of_order_is_refused<S: Store>(store: &S) -> Result<(), String> {
    for h in [0, 1, 3] {
        match store.commit_block(&commit(h, vec![(b"k", Some(b"bad"), 0)], &[])) {
            Err(StoreError::OutOfOrder { expected: 2, got }) if got == h => {}
            other => return Err(format!("commit at {h} should be refused, got {other:?}")),
        }
    }
    check(
        store.get(b"k").map_err(s)?.as_deref() == Some(b"v2".as_slice()),
        "a refused commit writes nothing",
    )
}

fn ranges<S: Store>(store: &S) -> Result<(), String> {
    let keys: [&[u8]; 5] = [b"r/a", b"r/a\x00", b"r/ab", b"r/b", b"r0"];
    store
        .commit_block(&commit(
            2,
            keys.iter().map(|k| (*k, Some(*k), 0)).collect(),
            &[],
        ))
        .map_err(s)?;
    let got = store.range(b"r/", Some(b"r0"), 100).map_err(s)?;
    let names: Vec<&[u8]> = got.iter().map(|(k, _)| k.as_slice()).collect();
    check(
        names == keys[..4].to_vec(),
        "range is [start, end) in byte order",
    )?;
    check(got.iter().all(|(k, v)| k == v), "range returns values")?;
    check(
        store.range(b"r/", Some(b"r0"), 2).map_err(s)?.len() == 2,
        "range honours the limit",
    )?;
    check(
        store.range(b"r0", Some(b"r/"), 10).map_err(s)?.is_empty(),
        "an inverted range is empty",
    )?;
    let open_ended = store.range(b"r/b", None, 100).map_err(s)?;
    check(
        open_ended.first().map(|(k, _)| k.as_slice()) == Some(b"r/b".as_slice())
            && open_ended.iter().any(|(k, _)| k == b"r0"),
        "an open-ended range runs to the end",
    )
}

fn history<S: Store>(store: &S) -> Result<(), String> {
    let h = store.history(b"k", 100).map_err(s)?;
    let want = vec![
        HistoryEntry {
            height: 0,
            tx_index: 0,
            value: Some(b"v0".to_vec()),
        },
        HistoryEntry {
            height: 1,
            tx_index: 0,
            value: Some(b"v1".to_vec()),
        },
        HistoryEntry {
            height: 1,
            tx_index: 1,
            value: Some(b"v2".to_vec()),
        },
    ];
    check(h == want, "history lists every write, oldest first")?;
    check(
        store.history(b"k", 2).map_err(s)? == want[1..].to_vec(),
        "a limited history keeps the latest writes",
    )?;
    let g = store.history(b"gone", 10).map_err(s)?;
    check(
        g.len() == 2 && g[1].value.is_none(),
        "history records deletes",
    )?;
    check(
        store.history(b"r/a", 10).map_err(s)?.len() == 1,
        "a key's history excludes longer keys sharing its prefix",
    )
}

fn reopened<S: Store>(store: &S) -> Result<(), String> {
    check(
        store.head().map_err(s)?.map(|h| h.height) == Some(2),
        "head survives reopen",
    )?;
    check(
        store.get(b"k").map_err(s)?.as_deref() == Some(b"v2".as_slice()),
        "state survives reopen",
    )?;
    check(
        store.history(b"k", 100).map_err(s)?.len() == 3,
        "history survives reopen",
    )
}

fn snapshot_reads<S: Store>(store: &S) -> Result<(), String> {
    let snap = store.snapshot().map_err(s)?;
    for key in [&b"k"[..], b"gone", b"r/a", b"missing"] {
        check(
            snap.get(key).map_err(s)? == store.get(key).map_err(s)?,
            "a snapshot reads what the store reads",
        )?;
    }
    check(
        snap.range(b"r/", Some(b"r0"), 100).map_err(s)?
            == store.range(b"r/", Some(b"r0"), 100).map_err(s)?,
        "a snapshot ranges like the store",
    )?;
    check(
        snap.tx_location(&Hash::of(b"t2")).map_err(s)?
            == Some(TxLocation {
                height: 1,
                index: 1,
            }),
        "a snapshot finds committed transactions",
    )
}

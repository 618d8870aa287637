//! Every store backend passes the shared conformance suite.

use productivist_engine::store::{RedbStore, conformance};

#[test]
fn redb_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    // `RedbStore::open` takes a file path; the suite hands us directories.
    let open = |d: &std::path::Path| RedbStore::open(&d.join("db.redb"));
    conformance::run(dir.path(), &open).unwrap();
}

#[cfg(feature = "sled")]
#[test]
fn sled_store_conforms() {
    use productivist_engine::store::SledStore;
    let dir = tempfile::tempdir().unwrap();
    let open = |d: &std::path::Path| SledStore::open(&d.join("db.sled"));
    conformance::run(dir.path(), &open).unwrap();
}

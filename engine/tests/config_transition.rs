//! Config updates on a running channel: only consenter changes that the
//! running consensus can follow are committed (`ChannelConfig::check_transition`).

use productivist_engine::TxStatus;
use productivist_engine::config::{ChannelConfig, ConsensusKind};
use productivist_engine::contract::Contracts;
use productivist_engine::crypto::PublicKey;
use productivist_engine::devnet::{DevNet, DevNetSpec};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;
use productivist_engine::system::config_tx;
use productivist_engine::tx::encode_tx;

/// Block times start here (2023-11-14), well inside the dev certificates.
const T0: u64 = 1_700_000_000_000;

struct Net {
    devnet: DevNet,
    ledger: Ledger<RedbStore>,
    proposer: PublicKey,
    time_ms: u64,
    nonce: u64,
    _dir: tempfile::TempDir,
}

impl Net {
    fn new(consensus: ConsensusKind, nodes: usize) -> Net {
        let mut spec = DevNetSpec::productivist(Some("transition"));
        spec.consensus = consensus;
        spec.nodes = nodes;
        let devnet = DevNet::generate(&spec).unwrap();
        let proposer = devnet.nodes[0].2.public();
        let dir = tempfile::tempdir().unwrap();
        let store = RedbStore::open(&dir.path().join("ledger.redb")).unwrap();
        let mut ledger = Ledger::open(store, Contracts::new()).unwrap();
        let genesis = ledger
            .build_genesis(devnet.genesis_bytes(), T0, proposer)
            .unwrap();
        ledger.commit(genesis).unwrap();
        Net {
            devnet,
            ledger,
            proposer,
            time_ms: T0,
            nonce: 100,
            _dir: dir,
        }
    }

    fn current(&self) -> ChannelConfig {
        self.ledger.config().unwrap().as_ref().clone()
    }

    /// Submits `next` as a config update endorsed by every admin; returns
    /// the refusal reason, or `None` if it was committed.
    fn update(&mut self, mut next: ChannelConfig) -> Option<String> {
        next.version = self.current().version + 1;
        let admins = self.devnet.admins();
        self.nonce += 1;
        let tx = encode_tx(&config_tx(
            "update",
            &next,
            &admins,
            (&admins[0].0, &admins[0].1),
            self.nonce,
        ));
        self.time_ms += 1_000;
        let block = self
            .ledger
            .submit_block(vec![tx], self.time_ms, self.proposer)
            .unwrap();
        match &block.results[0].status {
            TxStatus::Valid => {
                assert_eq!(self.current(), next, "a valid update is the new config");
                None
            }
            TxStatus::Invalid { reason, .. } => Some(reason.clone()),
        }
    }
}

#[test]
fn raft_consenters_are_removed_one_per_update_and_never_added() {
    let mut net = Net::new(ConsensusKind::Raft, 4);
    let start = net.current();
    assert_eq!(start.consensus.consenters.len(), 4);

    let mut two_gone = start.clone();
    two_gone.consensus.consenters.truncate(2);
    let reason = net
        .update(two_gone)
        .expect("two removals at once are refused");
    assert!(reason.contains("one per config update"), "{reason}");
    assert_eq!(net.current(), start, "a refused update changes nothing");

    // One removal, from the middle, with another consenter's endpoint moved.
    let mut one_gone = start.clone();
    let removed = one_gone.consensus.consenters.remove(1);
    one_gone.consensus.consenters[0].endpoint = "127.0.0.1:7999".into();
    assert_eq!(net.update(one_gone), None);
    let now = net.current();
    assert_eq!(now.consensus.consenters.len(), 3);
    assert!(
        now.consensus
            .consenters
            .iter()
            .all(|n| n.node_key != removed.node_key)
    );

    // The removed node cannot come back, and no new node can be added.
    let mut back = net.current();
    back.consensus.consenters.push(removed.clone());
    let reason = net.update(back).expect("adding is refused");
    assert!(reason.contains("not supported yet"), "{reason}");

    let mut to_bft = net.current();
    to_bft.consensus.kind = ConsensusKind::Bft;
    let reason = net.update(to_bft).expect("a kind change is refused");
    assert!(reason.contains("cannot change"), "{reason}");
    assert_eq!(net.current().consensus.consenters.len(), 3);
}

#[test]
fn bft_consenter_keys_are_fixed_but_endpoints_may_move() {
    let mut net = Net::new(ConsensusKind::Bft, 4);
    let start = net.current();

    let mut one_gone = start.clone();
    one_gone.consensus.consenters.pop();
    let reason = net.update(one_gone).expect("a BFT removal is refused");
    assert!(reason.contains("epoch change"), "{reason}");

    let mut reordered = start.clone();
    reordered.consensus.consenters.swap(0, 1);
    let reason = net.update(reordered).expect("a BFT reorder is refused");
    assert!(reason.contains("epoch change"), "{reason}");

    let mut moved = start.clone();
    moved.consensus.consenters[3].endpoint = "127.0.0.1:7998".into();
    assert_eq!(net.update(moved), None);
    assert_eq!(
        net.current().consensus.consenters[3].endpoint,
        "127.0.0.1:7998"
    );
}

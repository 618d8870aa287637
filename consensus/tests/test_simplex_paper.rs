//! Simplex (Chan and Pass, 2023) claims, one test each, on a hand-driven
//! cluster of real state machines: messages are queued and delivered only
//! when a test says so, links can be cut, replicas crash and restart from
//! exactly what they persisted. Byzantine behaviour is scripted with the
//! faulty replica's own signing key.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use ed25519_dalek::SigningKey;
use productivist_consensus::simplex::{
    Block, Certificate, DurableState, Error, Message, Offense, Simplex, SimplexConfig, View, Vote,
    VoteKind, sign_vote,
};
use productivist_consensus::{CommitKind, Committed, NodeId};

const NAMESPACE: &[u8] = b"test-channel";
const VIEW_TIMEOUT_TICKS: u64 = 10;
/// Upper bound on deliveries in one `deliver_all` (hitting it is a storm).
const MAX_DELIVERIES: usize = 200_000;

fn key(id: NodeId) -> SigningKey {
    SigningKey::from_bytes(&blake3::derive_key(
        "simplex paper test key",
        &id.to_le_bytes(),
    ))
}

fn participants(n: u64) -> Vec<(NodeId, [u8; 32])> {
    (1..=n)
        .map(|id| (id, key(id).verifying_key().to_bytes()))
        .collect()
}

fn config(id: NodeId) -> SimplexConfig {
    let mut cfg = SimplexConfig::new(id, NAMESPACE);
    cfg.view_timeout_ticks = VIEW_TIMEOUT_TICKS;
    cfg.retransmit_interval_ticks = 3;
    cfg.fetch_retry_ticks = 3;
    cfg
}

/// The application's rule in these tests: payloads starting with "bad" are
/// invalid.
fn validator() -> Box<dyn productivist_consensus::simplex::Validator> {
    Box::new(|_: Option<&[u8]>, payload: &[u8]| !payload.starts_with(b"bad"))
}

#[cfg(feature = "mutations")]
type MutationOpt = Option<productivist_consensus::simplex::Mutation>;

struct Cluster {
    n: u64,
    nodes: BTreeMap<NodeId, Option<Simplex>>,
    disks: BTreeMap<NodeId, DurableState>,
    queue: VecDeque<(NodeId, NodeId, Message)>,
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Everything each replica applied, in order (reset on crash).
    applied: BTreeMap<NodeId, Vec<Committed>>,
    /// Refusals by honest replicas (a correct peer never causes one).
    errors: Vec<(NodeId, NodeId, Error)>,
    configs: BTreeMap<NodeId, SimplexConfig>,
}

impl Cluster {
    fn new(n: u64) -> Self {
        Self::with_config(n, config)
    }

    fn with_config(n: u64, make: impl Fn(NodeId) -> SimplexConfig) -> Self {
        let mut cluster = Cluster {
            n,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            queue: VecDeque::new(),
            cut: BTreeSet::new(),
            applied: BTreeMap::new(),
            errors: Vec::new(),
            configs: BTreeMap::new(),
        };
        for id in 1..=n {
            let cfg = make(id);
            let node = Simplex::new(cfg.clone(), key(id), &participants(n), validator())
                .expect("valid config");
            cluster.configs.insert(id, cfg);
            cluster.nodes.insert(id, Some(node));
            cluster.disks.insert(id, DurableState::default());
            cluster.applied.insert(id, Vec::new());
        }
        cluster
    }

    fn node(&self, id: NodeId) -> &Simplex {
        self.nodes[&id].as_ref().expect("node is up")
    }

    fn node_mut(&mut self, id: NodeId) -> &mut Simplex {
        self.nodes
            .get_mut(&id)
            .and_then(Option::as_mut)
            .expect("node is up")
    }

    /// Persist, send, apply every output of `id`.
    fn drain(&mut self, id: NodeId) {
        for _ in 0..1000 {
            let Some(Some(node)) = self.nodes.get_mut(&id) else {
                return;
            };
            if !node.has_output() {
                return;
            }
            let out = node.poll_output();
            self.disks.get_mut(&id).expect("disk").apply(&out.persist);
            for env in out.messages {
                self.queue.push_back((id, env.to, env.msg));
            }
            self.applied.entry(id).or_default().extend(out.committed);
        }
        panic!("node {id} never stops producing output");
    }

    fn step(&mut self, from: NodeId, to: NodeId, msg: Message) -> Result<(), Error> {
        let Some(Some(node)) = self.nodes.get_mut(&to) else {
            return Ok(());
        };
        let result = node.step(from, msg);
        if let Err(error) = &result {
            self.errors.push((from, to, error.clone()));
        }
        self.drain(to);
        result
    }

    fn deliverable(&self, from: NodeId, to: NodeId) -> bool {
        !self.cut.contains(&(from, to))
    }

    /// Delivers queued messages (and what they trigger) until quiet.
    fn deliver_all(&mut self) {
        for _ in 0..MAX_DELIVERIES {
            let Some((from, to, msg)) = self.queue.pop_front() else {
                return;
            };
            if self.deliverable(from, to) {
                let _ = self.step(from, to, msg);
            }
        }
        panic!("message storm");
    }

    /// One message delay in a lock-step network: delivers exactly the
    /// messages queued now; what they trigger waits for the next round.
    fn deliver_round(&mut self) {
        let batch: Vec<_> = self.queue.drain(..).collect();
        for (from, to, msg) in batch {
            if self.deliverable(from, to) {
                let _ = self.step(from, to, msg);
            }
        }
    }

    fn tick_all(&mut self) {
        for id in 1..=self.n {
            if let Some(Some(node)) = self.nodes.get_mut(&id) {
                node.tick();
                self.drain(id);
            }
        }
    }

    /// Ticks everyone and delivers, `ticks` times.
    fn run(&mut self, ticks: u64) {
        for _ in 0..ticks {
            self.tick_all();
            self.deliver_all();
        }
    }

    fn propose(&mut self, id: NodeId, payload: &[u8]) {
        self.node_mut(id)
            .propose(payload.to_vec())
            .expect("accepted");
        self.drain(id);
    }

    fn isolate(&mut self, id: NodeId) {
        for other in 1..=self.n {
            if other != id {
                self.cut.insert((id, other));
                self.cut.insert((other, id));
            }
        }
    }

    fn heal(&mut self) {
        self.cut.clear();
    }

    fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.applied.insert(id, Vec::new());
        self.queue.retain(|(_, to, _)| *to != id);
    }

    fn restart(&mut self, id: NodeId) {
        self.restart_with(id, self.configs[&id].clone());
    }

    fn restart_with(&mut self, id: NodeId, cfg: SimplexConfig) {
        let node = Simplex::restart(
            cfg,
            key(id),
            &participants(self.n),
            validator(),
            self.disks[&id].clone(),
        )
        .expect("restart from own disk");
        self.nodes.insert(id, Some(node));
        self.drain(id);
    }

    fn heights(&self) -> Vec<u64> {
        (1..=self.n)
            .map(|id| self.applied[&id].last().map_or(0, |c| c.index))
            .collect()
    }

    /// Agreement and contiguity over everything applied so far.
    fn assert_agreement(&self) {
        let mut by_height: BTreeMap<u64, (NodeId, &Committed)> = BTreeMap::new();
        for (id, items) in &self.applied {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    assert_eq!(item.index, items[i - 1].index + 1, "node {id} skipped");
                }
                match by_height.get(&item.index) {
                    Some((other, known)) => assert_eq!(
                        *known, item,
                        "nodes {other} and {id} committed different blocks at height {}",
                        item.index
                    ),
                    None => {
                        by_height.insert(item.index, (*id, item));
                    }
                }
            }
        }
    }

    fn payloads(&self, id: NodeId) -> Vec<Vec<u8>> {
        self.applied[&id]
            .iter()
            .filter(|c| c.kind == CommitKind::Application)
            .map(|c| c.payload.clone())
            .collect()
    }

    fn assert_no_honest_errors(&self, honest: &[NodeId]) {
        let bad: Vec<_> = self
            .errors
            .iter()
            .filter(|(from, _, _)| honest.contains(from))
            .collect();
        assert!(bad.is_empty(), "honest messages refused: {bad:?}");
    }
}

/// A proposal for `view` signed by its leader (`leader` must be it).
fn signed_proposal(leader: NodeId, view: View, parent: &Block, payload: &[u8]) -> (Block, Message) {
    let block = Block {
        view,
        height: parent.height + 1,
        parent_view: parent.view,
        parent: parent.digest(),
        payload: payload.to_vec(),
    };
    let vote = sign_vote(
        &key(leader),
        NAMESPACE,
        leader,
        VoteKind::Notarize,
        view,
        block.digest(),
    );
    (block.clone(), Message::Propose { block, vote })
}

fn vote(signer: NodeId, kind: VoteKind, view: View, digest: [u8; 32]) -> Vote {
    sign_vote(&key(signer), NAMESPACE, signer, kind, view, digest)
}

/// Leader of `view` with n = 4: ids sorted, `view % 4`.
fn leader4(view: View) -> NodeId {
    [1, 2, 3, 4][(view % 4) as usize]
}

// ----- safety -----

#[test]
fn test_agreement_lemma_no_two_finalized_blocks_at_one_height() {
    // Random schedules (reordering, loss, partitions, crashes) with an
    // equivocating leader for view 1: every pair of replicas agrees on every
    // height both finalized.
    let mut total_heights = 0;
    for seed in 0..40u64 {
        let mut rng = productivist_consensus::sim::rng::SplitMix64::new(seed);
        let mut cluster = Cluster::new(4);
        // Node 2 (leader of view 1) is Byzantine: two proposals, split.
        let genesis = Block::genesis();
        let (_, a) = signed_proposal(2, 1, &genesis, b"tx-a");
        let (_, b) = signed_proposal(2, 1, &genesis, b"tx-b");
        cluster.queue.push_back((2, 1, a.clone()));
        cluster.queue.push_back((2, 3, b.clone()));
        cluster
            .queue
            .push_back((2, 4, if seed % 2 == 0 { a } else { b }));
        for round in 0..300u64 {
            if rng.below(10) == 0 {
                let id = 1 + rng.below(4);
                if let Some(Some(node)) = cluster.nodes.get_mut(&id) {
                    node.propose(format!("p{seed}-{round}").into_bytes()).ok();
                    cluster.drain(id);
                }
            }
            // Shuffle and drop some in-flight messages.
            let mut batch: Vec<_> = cluster.queue.drain(..).collect();
            for i in (1..batch.len()).rev() {
                batch.swap(i, rng.below(i as u64 + 1) as usize);
            }
            for (from, to, msg) in batch {
                if rng.below(10) != 0 && cluster.deliverable(from, to) {
                    let _ = cluster.step(from, to, msg);
                }
            }
            if rng.below(40) == 0 {
                cluster.cut.clear();
                let id = 1 + rng.below(4);
                cluster.isolate(id);
            }
            if rng.below(60) == 0 {
                let id = [1, 3, 4][rng.below(3) as usize];
                if cluster.nodes[&id].is_some() {
                    cluster.crash(id);
                } else {
                    cluster.restart(id);
                }
            }
            cluster.tick_all();
            cluster.assert_agreement();
        }
        for id in [1, 3, 4] {
            if cluster.nodes[&id].is_none() {
                cluster.restart(id);
            }
        }
        cluster.heal();
        cluster.run(100);
        cluster.assert_agreement();
        cluster.assert_no_honest_errors(&[1, 3, 4]);
        total_heights += cluster.heights().into_iter().min().unwrap();
    }
    assert!(
        total_heights > 100,
        "schedules made progress: {total_heights}"
    );
}

#[test]
fn test_finality_in_three_message_delays() {
    let mut cluster = Cluster::new(4);
    let leader = leader4(1);
    assert_eq!(cluster.node(1).leader_of(1), leader);
    cluster.propose(leader, b"block-1");
    // Delay 1: the proposal reaches the replicas, they notarize.
    cluster.deliver_round();
    assert_eq!(cluster.heights(), vec![0; 4]);
    // Delay 2: notarize votes arrive: notarization, finalize votes.
    cluster.deliver_round();
    assert_eq!(cluster.heights(), vec![0; 4]);
    for id in 1..=4 {
        assert!(
            cluster.node(id).view() >= 2,
            "notarization moved node {id} on"
        );
    }
    // Delay 3: finalize votes arrive: every replica commits.
    cluster.deliver_round();
    assert_eq!(cluster.heights(), vec![1; 4]);
    for id in 1..=4 {
        assert_eq!(cluster.payloads(id), vec![b"block-1".to_vec()]);
    }
}

#[test]
fn test_happy_path_commits_every_view_in_order() {
    let mut cluster = Cluster::new(4);
    for view in 1..=12u64 {
        let leader = leader4(view);
        cluster.propose(leader, format!("tx{view}").as_bytes());
        cluster.deliver_all();
    }
    cluster.assert_agreement();
    assert!(
        cluster.heights().iter().all(|h| *h >= 11),
        "{:?}",
        cluster.heights()
    );
    assert_eq!(
        cluster.payloads(1)[..3],
        [b"tx1".to_vec(), b"tx2".to_vec(), b"tx3".to_vec()]
    );
    cluster.assert_no_honest_errors(&[1, 2, 3, 4]);
}

#[test]
fn test_nullify_on_timeout_advances_view() {
    let mut cluster = Cluster::new(4);
    let leader = leader4(1);
    cluster.isolate(leader);
    // No proposal reaches anyone: after the timeout the three others
    // nullify, form the nullification and move to view 2.
    for _ in 0..VIEW_TIMEOUT_TICKS {
        cluster.tick_all();
        cluster.deliver_all();
    }
    for id in [1, 3, 4] {
        let node = cluster.node(id);
        assert_eq!(node.view(), 2, "node {id}");
        assert!(node.vote_record().view >= 1);
        let state = node.view_state(1).expect("view 1 kept");
        assert!(
            state.nullification.is_some(),
            "node {id} holds the nullification"
        );
        assert!(state.finalization.is_none());
    }
    // The next leader extends genesis (view 1 nullified) and it commits.
    cluster.heal();
    cluster.propose(leader4(2), b"after-skip");
    cluster.run(5);
    assert!(cluster.heights().iter().all(|h| *h >= 1));
    let first = &cluster.applied[&1][0];
    assert_eq!(first.payload, b"after-skip");
    cluster.assert_agreement();
}

#[test]
fn test_proposal_must_extend_notarized_chain() {
    // View 1's leader is cut off: the others nullify view 1 and enter view 2.
    let mut cluster = Cluster::new(4);
    cluster.isolate(leader4(1));
    for _ in 0..VIEW_TIMEOUT_TICKS {
        cluster.tick_all();
        cluster.deliver_all();
    }
    assert_eq!(cluster.node(1).view(), 2);
    let leader = leader4(2);
    // Extending a view-1 block that was never notarized: refused.
    let fake_parent = Block {
        view: 1,
        height: 1,
        parent_view: 0,
        parent: Block::genesis().digest(),
        payload: b"never notarized".to_vec(),
    };
    let (_, unnotarized) = signed_proposal(leader, 2, &fake_parent, b"child");
    cluster.step(leader, 1, unnotarized).expect("well-formed");
    assert_eq!(cluster.node(1).vote_record().notarized, None);
    // Extending genesis with view 1 nullified in between: the Simplex rule
    // holds, so it is notarized.
    let (good_block, good) = signed_proposal(leader, 2, &Block::genesis(), b"extends");
    cluster.step(leader, 4, good).expect("well-formed");
    assert_eq!(
        cluster.node(4).vote_record().notarized,
        Some(good_block.digest())
    );

    // View 1 commits normally; a view-2 proposal skipping the notarized
    // view 1 (parent genesis, view 1 not nullified) is refused.
    let mut cluster = Cluster::new(4);
    cluster.propose(leader4(1), b"v1");
    cluster.deliver_all();
    let b1 = cluster
        .node(1)
        .block(&cluster.node(1).tip().digest)
        .cloned()
        .expect("tip held");
    assert_eq!((b1.view, cluster.node(1).view()), (1, 2));
    let (_, skipping) = signed_proposal(leader, 2, &Block::genesis(), b"fork");
    cluster.step(leader, 1, skipping).expect("well-formed");
    let record = cluster.node(1).vote_record();
    assert!(
        !(record.view == 2 && record.notarized.is_some()),
        "must not notarize a block skipping the notarized view 1"
    );
    // A proposal whose height does not follow its parent is refused.
    let (mut bad_height, _) = signed_proposal(leader, 2, &b1, b"h");
    bad_height.height += 1;
    let vote = sign_vote(
        &key(leader),
        NAMESPACE,
        leader,
        VoteKind::Notarize,
        2,
        bad_height.digest(),
    );
    cluster
        .step(
            leader,
            2,
            Message::Propose {
                block: bad_height,
                vote,
            },
        )
        .expect("well-formed");
    let record = cluster.node(2).vote_record();
    assert!(!(record.view == 2 && record.notarized.is_some()));
    // The correct extension is notarized.
    let (b2, extends) = signed_proposal(leader, 2, &b1, b"extends b1");
    cluster.step(leader, 4, extends).expect("well-formed");
    assert_eq!(cluster.node(4).vote_record().notarized, Some(b2.digest()));
}

#[test]
fn test_invalid_block_is_not_notarized() {
    let mut cluster = Cluster::new(4);
    let leader = leader4(1);
    // The (Byzantine) leader sends a payload the application rejects.
    let (_, invalid) = signed_proposal(leader, 1, &Block::genesis(), b"bad payload");
    for to in [1, 3, 4] {
        cluster.queue.push_back((leader, to, invalid.clone()));
    }
    cluster.deliver_all();
    for id in [1, 3, 4] {
        let record = cluster.node(id).vote_record();
        assert_eq!(
            record.notarized, None,
            "node {id} notarized an invalid block"
        );
        assert!(record.nullified);
    }
    // Honest replicas nullified view 1 at once (3 votes) and moved on.
    assert_eq!(cluster.node(1).view(), 2);
    cluster.propose(leader4(2), b"good");
    cluster.run(5);
    for id in 1..=4 {
        let payloads = cluster.payloads(id);
        assert!(
            payloads.contains(&b"good".to_vec()),
            "node {id}: {payloads:?}"
        );
        assert!(payloads.iter().all(|p| !p.starts_with(b"bad")));
    }
    // An honest leader never proposes what its validator rejects: it
    // proposes an empty filler block instead.
    let mut cluster = Cluster::new(4);
    cluster.propose(leader4(1), b"bad from client");
    cluster.deliver_all();
    assert!(
        cluster.applied[&1]
            .iter()
            .all(|c| c.kind == CommitKind::Internal)
    );
}

// ----- accountability -----

#[test]
fn test_equivocating_leader_is_recorded_as_evidence() {
    let mut cluster = Cluster::new(4);
    let leader = leader4(1);
    let (block_a, a) = signed_proposal(leader, 1, &Block::genesis(), b"to-some");
    let (block_b, b) = signed_proposal(leader, 1, &Block::genesis(), b"to-others");
    cluster.step(leader, 1, a).expect("first proposal");
    cluster
        .step(leader, 1, b)
        .expect("second proposal is evidence, not an error");
    let evidence = cluster.node(1).evidence();
    assert_eq!(evidence.len(), 1);
    let proof = &evidence[0];
    assert_eq!(proof.offense(), Some(Offense::ConflictingNotarize));
    assert_eq!(proof.signer(), leader);
    assert_eq!(proof.view(), 1);
    assert_eq!(proof.first.digest, block_a.digest());
    assert_eq!(proof.second.digest, block_b.digest());
    // Anyone can check it from the public key alone.
    let public = key(leader).verifying_key();
    assert!(proof.verify(NAMESPACE, &public));
    assert!(!proof.verify(b"other-channel", &public));
    assert!(!proof.verify(NAMESPACE, &key(1).verifying_key()));
    let mut forged = proof.clone();
    forged.second.signature[0] ^= 1;
    assert!(!forged.verify(NAMESPACE, &public));
    // The replica voted for the first proposal only.
    assert_eq!(
        cluster.node(1).vote_record().notarized,
        Some(block_a.digest())
    );
}

#[test]
fn test_double_vote_is_evidence() {
    let mut cluster = Cluster::new(4);
    let (block, proposal) = signed_proposal(leader4(1), 1, &Block::genesis(), b"x");
    cluster.step(leader4(1), 1, proposal).unwrap();
    let liar = 4;
    let digest = block.digest();
    let other = [7u8; 32];
    for vote in [
        vote(liar, VoteKind::Notarize, 1, digest),
        vote(liar, VoteKind::Notarize, 1, other),
    ] {
        cluster.step(liar, 1, Message::Vote(vote)).unwrap();
    }
    // Nullify and finalize in one view, and finalize of another block.
    let mut cluster2 = Cluster::new(4);
    for vote in [
        vote(liar, VoteKind::Nullify, 1, [0; 32]),
        vote(liar, VoteKind::Finalize, 1, digest),
        vote(liar, VoteKind::Finalize, 1, other),
    ] {
        cluster2.step(liar, 1, Message::Vote(vote)).unwrap();
    }
    let offenses: BTreeSet<_> = cluster
        .node(1)
        .evidence()
        .iter()
        .chain(cluster2.node(1).evidence())
        .map(|e| {
            assert_eq!(e.signer(), liar);
            assert!(e.verify(NAMESPACE, &key(liar).verifying_key()));
            e.offense().unwrap()
        })
        .collect();
    assert_eq!(
        offenses,
        BTreeSet::from([
            Offense::ConflictingNotarize,
            Offense::NullifyFinalize,
            Offense::ConflictingFinalize
        ])
    );
    // Duplicates and non-conflicting pairs are not evidence.
    let mut cluster3 = Cluster::new(4);
    let v = vote(liar, VoteKind::Notarize, 1, digest);
    cluster3.step(liar, 1, Message::Vote(v.clone())).unwrap();
    cluster3.step(liar, 1, Message::Vote(v)).unwrap();
    cluster3
        .step(
            liar,
            1,
            Message::Vote(vote(liar, VoteKind::Nullify, 1, [0; 32])),
        )
        .unwrap();
    assert!(
        cluster3.node(1).evidence().is_empty(),
        "notarize then nullify is honest"
    );
    // Only the first vote of each kind counts: the double vote did not help
    // the liar reach a quorum for the second block.
    let state = cluster.node(1).view_state(1).unwrap();
    assert_eq!(state.notarizes[&liar].digest, digest);
}

// ----- crash safety -----

#[test]
fn test_restart_does_not_vote_twice() {
    let leader = leader4(1);
    let genesis = Block::genesis();
    let (block_a, a) = signed_proposal(leader, 1, &genesis, b"a");
    let (_, b) = signed_proposal(leader, 1, &genesis, b"b");
    let mut cluster = Cluster::new(4);
    cluster.step(leader, 1, a).unwrap();
    assert_eq!(
        cluster.node(1).vote_record().notarized,
        Some(block_a.digest())
    );
    cluster.crash(1);
    cluster.restart(1);
    cluster.queue.clear();
    // After the crash the equivocating leader's second block arrives.
    cluster.step(leader, 1, b).unwrap();
    assert_eq!(
        cluster.node(1).vote_record().notarized,
        Some(block_a.digest()),
        "a restarted replica must not notarize a second block in view 1"
    );
    let sent_notarize = cluster.queue.iter().any(|(from, _, m)| {
        *from == 1 && matches!(m, Message::Vote(v) if v.kind == VoteKind::Notarize)
    });
    assert!(!sent_notarize);

    // Finalize, crash, restart: the replica must never nullify the view it
    // finalized (it resumes in the next view).
    let mut cluster = Cluster::new(4);
    cluster.propose(leader4(1), b"fin");
    cluster.deliver_round();
    cluster.deliver_round();
    // Node 1 does not lead view 2, so its record is still about view 1.
    assert!(cluster.node(1).vote_record().finalized.is_some());
    cluster.crash(1);
    cluster.restart(1);
    assert!(
        cluster.node(1).view() >= 2,
        "resumes after the finalized view"
    );
    cluster.isolate(1);
    for _ in 0..3 * VIEW_TIMEOUT_TICKS {
        cluster.tick_all();
        cluster.queue.clear();
    }
    let state = cluster.node(1).view_state(1);
    assert!(state.is_none_or(|s| !s.nullifies.contains_key(&1)));
    assert!(cluster.node(1).vote_record().view >= 2);
}

#[cfg(feature = "mutations")]
#[test]
fn test_vote_not_persisted_mutation_votes_twice_after_restart() {
    use productivist_consensus::simplex::Mutation;
    let leader = leader4(1);
    let genesis = Block::genesis();
    let (block_a, a) = signed_proposal(leader, 1, &genesis, b"a");
    let (block_b, b) = signed_proposal(leader, 1, &genesis, b"b");
    for mutation in [None, Some(Mutation::VoteNotPersisted)] as [MutationOpt; 2] {
        let mut cluster = Cluster::with_config(4, |id| {
            let mut cfg = config(id);
            cfg.unsafe_mutation = mutation;
            cfg
        });
        cluster.step(leader, 1, a.clone()).unwrap();
        cluster.crash(1);
        cluster.restart(1);
        cluster.step(leader, 1, b.clone()).unwrap();
        let second = cluster.node(1).vote_record().notarized == Some(block_b.digest());
        assert_eq!(second, mutation.is_some(), "{mutation:?}");
        let _ = block_a.digest();
    }
}

#[test]
fn test_committed_blocks_survive_crash_and_restart() {
    let mut cluster = Cluster::new(4);
    for view in 1..=6u64 {
        cluster.propose(leader4(view), format!("d{view}").as_bytes());
        cluster.deliver_all();
    }
    let before = cluster.applied[&2].clone();
    assert!(before.len() >= 5);
    cluster.crash(2);
    cluster.restart(2);
    // Re-delivered from disk alone, before any message.
    assert_eq!(cluster.applied[&2], before);
    cluster.run(30);
    cluster.assert_agreement();
}

// ----- liveness and catch-up -----

#[test]
fn test_liveness_after_gst_honest_leader_finalizes() {
    let mut cluster = Cluster::new(4);
    // Before GST: every link down; views time out and diverge.
    for id in 1..=4 {
        cluster.isolate(id);
    }
    for _ in 0..5 * VIEW_TIMEOUT_TICKS {
        cluster.tick_all();
        cluster.deliver_all();
    }
    assert_eq!(cluster.heights(), vec![0; 4]);
    // GST: the network heals; within a bounded number of views an honest
    // leader's proposal is finalized everywhere.
    cluster.heal();
    for id in 1..=4 {
        cluster
            .node_mut(id)
            .propose(format!("after-gst-{id}").into_bytes())
            .unwrap();
        cluster.drain(id);
    }
    let bound_ticks = 8 * VIEW_TIMEOUT_TICKS;
    let mut ticks = 0;
    while cluster.heights().contains(&0) {
        assert!(
            ticks < bound_ticks,
            "no finality {bound_ticks} ticks after GST"
        );
        cluster.tick_all();
        cluster.deliver_all();
        ticks += 1;
    }
    assert!(
        cluster.applied[&1]
            .iter()
            .any(|c| c.payload.starts_with(b"after-gst"))
    );
    cluster.assert_agreement();
    cluster.assert_no_honest_errors(&[1, 2, 3, 4]);
}

#[test]
fn test_certificates_let_lagging_replica_catch_up() {
    let mut cluster = Cluster::new(4);
    cluster.isolate(4);
    for view in 1..=20u64 {
        let leader = leader4(view);
        if leader != 4 {
            cluster.propose(leader, format!("c{view}").as_bytes());
        }
        cluster.run(1);
    }
    cluster.run(3 * VIEW_TIMEOUT_TICKS);
    assert_eq!(cluster.heights()[3], 0);
    assert!(cluster.heights()[0] >= 10);
    // Reconnected, node 4 learns the view from forwarded certificates and
    // fetches the blocks it missed.
    cluster.heal();
    cluster.run(6 * VIEW_TIMEOUT_TICKS);
    let heights = cluster.heights();
    assert!(
        heights[3] >= heights[0].saturating_sub(1) && heights[3] > 10,
        "{heights:?}"
    );
    cluster.assert_agreement();
}

// ----- certificates and signatures -----

#[test]
fn test_certificate_needs_2f_plus_1_valid_distinct_signers() {
    let mut cluster = Cluster::new(4);
    let view = 1;
    let sig = |id: NodeId| vote(id, VoteKind::Nullify, view, [0; 32]).signature;
    let cert = |signers: &[NodeId]| Certificate {
        kind: VoteKind::Nullify,
        view,
        digest: [0; 32],
        signatures: signers.iter().map(|id| (*id, sig(*id))).collect(),
    };
    // 2f = 2 signatures: no quorum.
    assert!(matches!(
        cluster.step(2, 1, Message::Certificate(cert(&[2, 3]))),
        Err(Error::NoQuorum {
            signers: 2,
            quorum: 3
        })
    ));
    // A forged signature.
    let mut forged = cert(&[2, 3, 4]);
    forged.signatures[1].1[5] ^= 1;
    assert!(matches!(
        cluster.step(2, 1, Message::Certificate(forged)),
        Err(Error::BadSignature { signer: 3 })
    ));
    // A signature for another kind of vote.
    let mut wrong_kind = cert(&[2, 3, 4]);
    wrong_kind.signatures[0].1 = vote(2, VoteKind::Finalize, view, [0; 32]).signature;
    assert!(
        cluster
            .step(2, 1, Message::Certificate(wrong_kind))
            .is_err()
    );
    // Duplicate signer (decoding checks strictly ascending signers).
    let dup = cert(&[2, 2, 3]);
    assert!(cluster.step(2, 1, Message::Certificate(dup)).is_err());
    // A non-member signer.
    let mut outsider = cert(&[2, 3]);
    outsider
        .signatures
        .push((9, vote(9, VoteKind::Nullify, view, [0; 32]).signature));
    assert!(matches!(
        cluster.step(2, 1, Message::Certificate(outsider)),
        Err(Error::NotParticipant(9))
    ));
    assert_eq!(cluster.node(1).view(), 1, "nothing above moved the view");
    // 2f + 1 valid signatures: accepted, the view advances.
    cluster
        .step(2, 1, Message::Certificate(cert(&[2, 3, 4])))
        .unwrap();
    assert_eq!(cluster.node(1).view(), 2);
}

#[test]
fn test_votes_from_non_members_or_impersonators_are_refused() {
    let mut cluster = Cluster::new(4);
    let v = vote(3, VoteKind::Nullify, 1, [0; 32]);
    // Sent by 2 claiming to be 3.
    assert!(cluster.step(2, 1, Message::Vote(v)).is_err());
    // A non-member sender.
    let outsider = vote(9, VoteKind::Nullify, 1, [0; 32]);
    assert!(matches!(
        cluster.step(9, 1, Message::Vote(outsider)),
        Err(Error::NotParticipant(9))
    ));
    // A proposal from a replica that does not lead the view.
    let (_, not_leader) = signed_proposal(3, 1, &Block::genesis(), b"x");
    assert!(matches!(
        cluster.step(3, 1, not_leader),
        Err(Error::NotLeader { view: 1 })
    ));
    // A bad signature.
    let mut bad = vote(2, VoteKind::Nullify, 1, [0; 32]);
    bad.signature[40] ^= 0x10;
    assert!(matches!(
        cluster.step(2, 1, Message::Vote(bad)),
        Err(Error::BadSignature { signer: 2 })
    ));
    assert!(
        cluster
            .node(1)
            .view_state(1)
            .is_none_or(|s| s.nullifies.is_empty())
    );
}

#[test]
fn test_per_view_state_is_bounded_and_pruned() {
    let mut cluster = Cluster::new(4);
    // Votes far in the future are ignored, not stored.
    let far = cluster.configs[&1].max_future_views + 10;
    cluster
        .step(
            2,
            1,
            Message::Vote(vote(2, VoteKind::Nullify, far, [0; 32])),
        )
        .unwrap();
    assert!(cluster.node(1).view_state(far).is_none());
    // Finalization prunes views below the finalized one.
    for view in 1..=5u64 {
        cluster.propose(leader4(view), format!("p{view}").as_bytes());
        cluster.deliver_all();
    }
    let tip = cluster.node(1).tip();
    assert!(tip.view >= 4);
    assert!(cluster.node(1).view_state(1).is_none());
    assert!(cluster.node(1).view_state(tip.view).is_some());
}

//! Tests named after the Raft paper (§5 properties, Figure 8) and the
//! dissertation's extensions (pre-vote, transfer, membership, snapshots).

mod common;

use std::collections::BTreeMap;

use common::{Cluster, config};
use productivist_consensus::raft::{
    ConfChange, DurableState, Entry, EntryPayload, Error, HardState, Membership, Message,
    MessageBody, Raft, Role,
};
use productivist_consensus::sim::rng::SplitMix64;
use productivist_consensus::{CommitKind, NodeId};

fn msg(term: u64, body: MessageBody) -> Message {
    Message { term, body }
}

fn bootstrap_entry(voters: &[NodeId]) -> Entry {
    Entry {
        index: 1,
        term: 1,
        payload: EntryPayload::Config(Membership::new(voters.iter().copied())),
    }
}

fn normal(index: u64, term: u64, data: &[u8]) -> Entry {
    Entry {
        index,
        term,
        payload: EntryPayload::Normal(data.to_vec()),
    }
}

/// Ticks a lone node until it asks for pre-votes; returns the messages.
fn tick_until_campaign(raft: &mut Raft) -> Vec<(NodeId, Message)> {
    for _ in 0..100 {
        raft.tick();
        if raft.role() != Role::Follower {
            return raft
                .poll_output()
                .messages
                .into_iter()
                .map(|e| (e.to, e.msg))
                .collect();
        }
    }
    panic!("node never campaigned");
}

/// Drives `raft` to leadership by answering its pre-vote and vote requests
/// with grants from `granters`.
fn make_leader(raft: &mut Raft, granters: &[NodeId]) {
    tick_until_campaign(raft);
    let pre_term = raft.term() + 1;
    for g in granters {
        raft.step(
            *g,
            msg(pre_term, MessageBody::PreVoteResponse { reject: false }),
        )
        .unwrap();
    }
    assert_eq!(raft.role(), Role::Candidate);
    let term = raft.term();
    for g in granters {
        raft.step(
            *g,
            msg(term, MessageBody::RequestVoteResponse { reject: false }),
        )
        .unwrap();
    }
    assert_eq!(raft.role(), Role::Leader);
    raft.poll_output();
}

/// A seeded chaotic run on the hand-driven cluster: random isolation,
/// crashes, proposals. Calls `observe` after every tick.
fn chaotic_run(seed: u64, n: u64, ticks: u64, mut observe: impl FnMut(&Cluster)) -> Cluster {
    let mut cluster = Cluster::new(n);
    let mut rng = SplitMix64::new(seed);
    let mut proposal = 0u64;
    for _ in 0..ticks {
        match rng.below(40) {
            0 => cluster.heal(),
            1 => cluster.isolate(1 + rng.below(n)),
            2 => {
                let id = 1 + rng.below(n);
                if cluster.nodes[&id].is_some() {
                    cluster.crash(id);
                } else {
                    cluster.restart(id);
                }
            }
            _ => {}
        }
        if let Some(leader) = cluster.leader()
            && rng.below(3) == 0
        {
            proposal += 1;
            let _ = cluster
                .node_mut(leader)
                .propose(format!("p{proposal}").into_bytes());
            cluster.drain(leader);
        }
        cluster.tick_all();
        // Deliver a random prefix only, so that logs diverge.
        let deliveries = rng.below(cluster.queue.len() as u64 + 1);
        for _ in 0..deliveries {
            let Some((from, to, m)) = cluster.queue.pop_front() else {
                break;
            };
            if !cluster.cut.contains(&(from, to)) && rng.below(10) != 0 {
                cluster.step(from, to, m);
            }
        }
        observe(&cluster);
    }
    cluster
}

fn up_nodes(cluster: &Cluster) -> Vec<&Raft> {
    cluster.nodes.values().filter_map(Option::as_ref).collect()
}

// ----- §5 properties -----

#[test]
fn test_election_safety() {
    // At most one leader can be elected in a given term (§5.2).
    for seed in 0..20 {
        let mut leaders: BTreeMap<u64, NodeId> = BTreeMap::new();
        chaotic_run(seed, 5, 400, |cluster| {
            for raft in up_nodes(cluster) {
                if raft.is_leader() {
                    let previous = leaders.insert(raft.term(), raft.id());
                    assert!(
                        previous.is_none_or(|p| p == raft.id()),
                        "seed {seed}: two leaders in term {}",
                        raft.term()
                    );
                }
            }
        });
        assert!(!leaders.is_empty(), "seed {seed}: no leader ever elected");
    }
}

#[test]
fn test_vote_granted_at_most_once_per_term() {
    let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
    raft.poll_output();
    let request = |term| {
        msg(
            term,
            MessageBody::RequestVote {
                last_log_index: 1,
                last_log_term: 1,
                leader_transfer: false,
            },
        )
    };
    raft.step(2, request(2)).unwrap();
    let out = raft.poll_output();
    assert_eq!(
        out.messages[0].msg.body,
        MessageBody::RequestVoteResponse { reject: false }
    );
    raft.step(3, request(2)).unwrap();
    let out = raft.poll_output();
    assert_eq!(
        out.messages[0].msg.body,
        MessageBody::RequestVoteResponse { reject: true }
    );
    // Asking again is idempotent for the one we voted for.
    raft.step(2, request(2)).unwrap();
    let out = raft.poll_output();
    assert_eq!(
        out.messages[0].msg.body,
        MessageBody::RequestVoteResponse { reject: false }
    );
}

#[test]
fn test_leader_append_only() {
    // A leader never overwrites or deletes entries in its log (§5.3).
    let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
    make_leader(&mut raft, &[2, 3]);
    raft.propose(b"a".to_vec()).unwrap();
    raft.propose(b"b".to_vec()).unwrap();
    let before: Vec<Entry> = (1..=raft.last_index())
        .map(|i| raft.entry(i).unwrap().clone())
        .collect();
    // Same-term append from someone else: refused, log untouched.
    let bogus = msg(
        raft.term(),
        MessageBody::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![normal(2, raft.term(), b"evil")],
            leader_commit: 2,
        },
    );
    assert!(raft.step(2, bogus).is_err());
    // Older-term append: answered with our term, log untouched.
    let stale = msg(
        1,
        MessageBody::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![normal(2, 1, b"old")],
            leader_commit: 2,
        },
    );
    raft.step(3, stale).unwrap();
    assert!(raft.is_leader());
    let after: Vec<Entry> = (1..=before.len() as u64)
        .map(|i| raft.entry(i).unwrap().clone())
        .collect();
    assert_eq!(before, after);
}

#[test]
fn test_log_matching() {
    // If two logs contain an entry with the same index and term, the logs
    // are identical in all entries up through that index (§5.3).
    for seed in 0..20 {
        chaotic_run(seed, 5, 300, |cluster| {
            let nodes = up_nodes(cluster);
            for a in &nodes {
                for b in &nodes {
                    let last = a.last_index().min(b.last_index());
                    // Find the highest index where terms agree, then compare
                    // everything below it.
                    let Some(agree) = (1..=last)
                        .rev()
                        .find(|i| a.term_at(*i).is_some() && a.term_at(*i) == b.term_at(*i))
                    else {
                        continue;
                    };
                    for i in 1..=agree {
                        assert_eq!(
                            a.entry(i),
                            b.entry(i),
                            "seed {seed}: logs differ at {i} below {agree}"
                        );
                    }
                }
            }
        });
    }
}

#[test]
fn test_leader_completeness() {
    // A committed entry is present in the logs of all leaders of higher
    // terms (§5.4).
    for seed in 0..20 {
        let mut committed: BTreeMap<u64, Entry> = BTreeMap::new();
        chaotic_run(seed, 5, 300, |cluster| {
            for raft in up_nodes(cluster) {
                for i in 1..=raft.commit_index() {
                    if let Some(e) = raft.entry(i) {
                        committed.entry(i).or_insert_with(|| e.clone());
                    }
                }
            }
            for raft in up_nodes(cluster) {
                if raft.is_leader() {
                    for (i, e) in &committed {
                        if e.term < raft.term() {
                            assert_eq!(
                                raft.entry(*i),
                                Some(e),
                                "seed {seed}: leader {} lacks committed {i}",
                                raft.id()
                            );
                        }
                    }
                }
            }
        });
    }
}

#[test]
fn test_state_machine_safety() {
    // No two servers apply different entries at the same index (§5.4.3).
    for seed in 0..20 {
        let cluster = chaotic_run(seed, 5, 300, |_| {});
        let mut by_index: BTreeMap<u64, (CommitKind, Vec<u8>)> = BTreeMap::new();
        for items in cluster.applied.values() {
            for item in items {
                let seen = by_index
                    .entry(item.index)
                    .or_insert((item.kind, item.payload.clone()));
                assert_eq!(
                    seen,
                    &(item.kind, item.payload.clone()),
                    "seed {seed}: index {}",
                    item.index
                );
            }
        }
    }
}

// ----- scenarios -----

#[test]
fn test_follower_update_term_from_message() {
    let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
    raft.poll_output();
    assert_eq!(raft.term(), 1);
    raft.step(2, msg(5, MessageBody::Heartbeat { leader_commit: 0 }))
        .unwrap();
    assert_eq!(raft.term(), 5);
    assert_eq!(raft.vote(), None);
    assert_eq!(raft.leader(), Some(2));
    assert_eq!(raft.role(), Role::Follower);
    // The new term is persisted before the heartbeat is answered.
    let out = raft.poll_output();
    assert_eq!(out.persist.hard_state.as_ref().map(|h| h.term), Some(5));
}

#[test]
fn test_candidate_falls_back_to_follower() {
    let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
    raft.poll_output();
    tick_until_campaign(&mut raft);
    raft.step(2, msg(2, MessageBody::PreVoteResponse { reject: false }))
        .unwrap();
    assert_eq!(raft.role(), Role::Candidate);
    assert_eq!(raft.term(), 2);
    // Another node won term 2 and sends an append: accept its leadership.
    raft.step(
        3,
        msg(
            2,
            MessageBody::AppendEntries {
                prev_log_index: 1,
                prev_log_term: 1,
                entries: vec![],
                leader_commit: 1,
            },
        ),
    )
    .unwrap();
    assert_eq!(raft.role(), Role::Follower);
    assert_eq!(raft.leader(), Some(3));
    assert_eq!(raft.term(), 2);
}

#[test]
fn test_pre_candidate_steps_down_on_rejection_majority() {
    let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
    raft.poll_output();
    tick_until_campaign(&mut raft);
    // Rejections from voters at our own term (they have a live leader).
    raft.step(2, msg(1, MessageBody::PreVoteResponse { reject: true }))
        .unwrap();
    assert_eq!(raft.role(), Role::PreCandidate);
    raft.step(3, msg(1, MessageBody::PreVoteResponse { reject: true }))
        .unwrap();
    assert_eq!(raft.role(), Role::Follower);
    assert_eq!(raft.term(), 1, "a failed pre-vote never bumps the term");
    // A rejection from a higher term teaches us that term.
    tick_until_campaign(&mut raft);
    raft.step(2, msg(7, MessageBody::PreVoteResponse { reject: true }))
        .unwrap();
    assert_eq!((raft.role(), raft.term()), (Role::Follower, 7));
}

#[test]
fn test_leader_commit_only_current_term_entries() {
    // Figure 8: a leader must not commit an entry of an earlier term by
    // counting replicas; it commits once an entry of its own term is on a
    // majority, and earlier entries with it.
    let voters = [1, 2, 3, 4, 5];
    let durable = DurableState {
        hard_state: HardState {
            term: 3,
            vote: None,
            commit: 1,
        },
        snapshot: Default::default(),
        entries: vec![bootstrap_entry(&voters), normal(2, 2, b"from term 2")],
    };
    let mut raft = Raft::restart(config(1), durable).unwrap();
    raft.poll_output();
    make_leader(&mut raft, &[2, 3]);
    let term = raft.term();
    assert_eq!(term, 4);
    assert_eq!(
        raft.last_index(),
        3,
        "the new leader appended its no-op at 3"
    );
    let ack = |index| {
        msg(
            term,
            MessageBody::AppendEntriesResponse {
                reject: false,
                index,
                reject_hint: 0,
            },
        )
    };
    // Index 2 (term 2) reaches a majority {1, 2, 3}: still not committed.
    raft.step(2, ack(2)).unwrap();
    raft.step(3, ack(2)).unwrap();
    assert_eq!(raft.commit_index(), 1);
    // The no-op of term 4 reaches a majority: 2 and 3 commit together.
    raft.step(2, ack(3)).unwrap();
    assert_eq!(raft.commit_index(), 1);
    raft.step(3, ack(3)).unwrap();
    assert_eq!(raft.commit_index(), 3);
}

#[test]
fn test_prevote_does_not_disrupt_stable_leader() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    let term = cluster.node(1).term();
    cluster.isolate(3);
    // Node 3 times out again and again while isolated; pre-vote keeps its
    // term where it was.
    for _ in 0..100 {
        cluster.tick_all();
        cluster.deliver_all();
    }
    assert_eq!(
        cluster.node(3).term(),
        term,
        "pre-vote must not bump the term"
    );
    assert_ne!(cluster.node(3).role(), Role::Leader);
    cluster.heal();
    cluster.run(50);
    assert_eq!(cluster.leader(), Some(1), "the stable leader keeps leading");
    assert_eq!(cluster.node(1).term(), term, "no election happened");
    assert_eq!(cluster.node(3).leader(), Some(1));
}

#[test]
fn test_lagging_node_cannot_win_prevote() {
    // Even without the lease, a node with a stale log gets no pre-votes.
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    cluster.isolate(3);
    cluster.propose(1, b"x");
    cluster.run(5);
    let last = cluster.node(2).last_index();
    let stale = cluster.node(3).last_index();
    assert!(stale < last);
    let mut follower = Raft::restart(config(2), cluster.disks[&2].clone()).unwrap();
    let request = msg(
        follower.term() + 1,
        MessageBody::PreVote {
            last_log_index: stale,
            last_log_term: cluster.node(3).last_term(),
        },
    );
    follower.step(3, request).unwrap();
    let out = follower.poll_output();
    assert_eq!(
        out.messages[0].msg.body,
        MessageBody::PreVoteResponse { reject: true }
    );
}

#[test]
fn test_leader_transfer() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    cluster.propose(1, b"before");
    cluster.deliver_all();
    let term = cluster.node(1).term();
    cluster.node_mut(1).transfer_leader(2).unwrap();
    // Proposals are refused while the transfer is in progress.
    assert_eq!(
        cluster.node_mut(1).propose(b"x".to_vec()),
        Err(Error::TransferInProgress)
    );
    cluster.drain(1);
    cluster.deliver_all();
    assert_eq!(cluster.leader(), Some(2));
    assert_eq!(cluster.node(2).term(), term + 1);
    assert_eq!(cluster.node(1).role(), Role::Follower);
    cluster.propose(2, b"after");
    cluster.run(3);
    for id in 1..=3 {
        assert_eq!(
            cluster.app_payloads(id),
            vec![b"before".to_vec(), b"after".to_vec()]
        );
    }
    assert_eq!(
        cluster.node_mut(2).transfer_leader(9),
        Err(Error::InvalidTransferTarget(9))
    );
}

#[test]
fn test_leader_transfer_to_lagging_follower_catches_it_up_first() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    cluster.isolate(3);
    for i in 0..5 {
        cluster.propose(1, format!("p{i}").as_bytes());
    }
    cluster.run(2);
    cluster.heal();
    cluster.node_mut(1).transfer_leader(3).unwrap();
    cluster.drain(1);
    cluster.deliver_all();
    cluster.run(3);
    assert_eq!(cluster.leader(), Some(3));
    assert_eq!(cluster.app_payloads(3).len(), 5);
}

#[test]
fn test_single_server_membership_change() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    cluster.propose(1, b"one");
    cluster.run(2);
    // Add node 4: it joins empty and is caught up by the leader.
    cluster.add_joiner(4);
    cluster
        .node_mut(1)
        .propose_conf_change(ConfChange::AddVoter(4))
        .unwrap();
    // Effective on append: the leader already counts 4 voters.
    assert_eq!(cluster.node(1).membership().voters(), &[1, 2, 3, 4]);
    // One change at a time.
    assert_eq!(
        cluster
            .node_mut(1)
            .propose_conf_change(ConfChange::RemoveVoter(2)),
        Err(Error::ConfChangeInProgress)
    );
    cluster.drain(1);
    cluster.run(5);
    for id in 1..=4 {
        assert_eq!(
            cluster.node(id).membership().voters(),
            &[1, 2, 3, 4],
            "node {id}"
        );
    }
    cluster.propose(1, b"two");
    cluster.run(3);
    assert_eq!(
        cluster.app_payloads(4),
        vec![b"one".to_vec(), b"two".to_vec()]
    );
    // Remove node 2; the remaining three keep committing without it.
    cluster
        .node_mut(1)
        .propose_conf_change(ConfChange::RemoveVoter(2))
        .unwrap();
    cluster.drain(1);
    cluster.run(5);
    assert_eq!(cluster.node(1).membership().voters(), &[1, 3, 4]);
    cluster.isolate(2);
    cluster.propose(1, b"three");
    cluster.run(3);
    assert_eq!(cluster.app_payloads(4).last(), Some(&b"three".to_vec()));
    // A leader cannot remove itself; invalid changes are refused.
    assert_eq!(
        cluster
            .node_mut(1)
            .propose_conf_change(ConfChange::RemoveVoter(1)),
        Err(Error::InvalidConfChange)
    );
    assert_eq!(
        cluster
            .node_mut(1)
            .propose_conf_change(ConfChange::AddVoter(3)),
        Err(Error::InvalidConfChange)
    );
    // The removed node, partitioned and timing out, does not disturb the
    // cluster once it can talk again.
    let term = cluster.node(1).term();
    cluster.run(50);
    cluster.heal();
    cluster.run(50);
    assert_eq!(cluster.leader(), Some(1));
    assert_eq!(cluster.node(1).term(), term);
}

#[test]
fn test_snapshot_catch_up_lagging_follower() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    cluster.isolate(3);
    for i in 0..50 {
        cluster.propose(1, format!("p{i}").as_bytes());
    }
    cluster.run(5);
    let applied = cluster.node(1).applied_index();
    assert!(applied >= 50);
    cluster
        .node_mut(1)
        .compact(applied, b"state@applied".to_vec())
        .unwrap();
    cluster.drain(1);
    assert_eq!(cluster.node(1).snapshot().index, applied);
    assert_eq!(
        cluster.disks[&1].snapshot.index, applied,
        "the snapshot is persisted"
    );
    assert!(cluster.disks[&1].entries.iter().all(|e| e.index > applied));
    cluster.heal();
    cluster.run(30);
    let snaps = &cluster.snapshots[&3];
    assert_eq!(snaps.len(), 1);
    assert_eq!(snaps[0].index, applied);
    assert_eq!(snaps[0].data, b"state@applied".to_vec());
    assert_eq!(
        cluster.node(3).commit_index(),
        cluster.node(1).commit_index()
    );
    // And it keeps up afterwards from the log.
    cluster.propose(1, b"after");
    cluster.run(3);
    assert_eq!(cluster.app_payloads(3), vec![b"after".to_vec()]);
    // Restart from disk: the snapshot comes back to the application first.
    cluster.crash(3);
    cluster.restart(3);
    assert_eq!(cluster.snapshots[&3].last().map(|s| s.index), Some(applied));
    assert_eq!(cluster.app_payloads(3), vec![b"after".to_vec()]);
}

#[test]
fn test_persist_before_send() {
    // A vote and an acknowledgement are sent in the same output as the
    // persist that makes them true, so a driver that persists first never
    // promises something a crash could take back.
    let mut raft = Raft::new(config(2), &[1, 2, 3]).unwrap();
    raft.poll_output();
    raft.step(
        1,
        msg(
            2,
            MessageBody::RequestVote {
                last_log_index: 1,
                last_log_term: 1,
                leader_transfer: false,
            },
        ),
    )
    .unwrap();
    let out = raft.poll_output();
    assert_eq!(
        out.messages[0].msg.body,
        MessageBody::RequestVoteResponse { reject: false }
    );
    assert_eq!(
        out.persist.hard_state,
        Some(HardState {
            term: 2,
            vote: Some(1),
            commit: 1
        })
    );
    let append = msg(
        2,
        MessageBody::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![normal(2, 2, b"a"), normal(3, 2, b"b")],
            leader_commit: 1,
        },
    );
    raft.step(1, append).unwrap();
    let out = raft.poll_output();
    assert_eq!(
        out.messages[0].msg.body,
        MessageBody::AppendEntriesResponse {
            reject: false,
            index: 3,
            reject_hint: 0
        }
    );
    assert_eq!(out.persist.entries.len(), 2);
    assert_eq!(out.persist.truncate_from, Some(2));

    // After a crash, only the persisted state exists, and it holds the vote.
    let mut disk = DurableState::default();
    disk.apply(&productivist_consensus::raft::Persist {
        hard_state: Some(HardState {
            term: 2,
            vote: Some(1),
            commit: 1,
        }),
        entries: vec![bootstrap_entry(&[1, 2, 3])],
        ..Default::default()
    });
    let mut restarted = Raft::restart(config(2), disk).unwrap();
    restarted.poll_output();
    restarted
        .step(
            3,
            msg(
                2,
                MessageBody::RequestVote {
                    last_log_index: 5,
                    last_log_term: 2,
                    leader_transfer: false,
                },
            ),
        )
        .unwrap();
    let out = restarted.poll_output();
    assert_eq!(
        out.messages[0].msg.body,
        MessageBody::RequestVoteResponse { reject: true }
    );
}

#[test]
fn test_crash_restart_keeps_committed_prefix() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    for i in 0..10 {
        cluster.propose(1, format!("p{i}").as_bytes());
    }
    cluster.run(3);
    let before = cluster.app_payloads(2);
    assert_eq!(before.len(), 10);
    for id in 1..=3 {
        cluster.crash(id);
    }
    for id in 1..=3 {
        cluster.restart(id);
        assert_eq!(
            cluster.app_payloads(id),
            before,
            "node {id} recovers its committed prefix from disk"
        );
    }
    cluster.run(40);
    let leader = cluster.leader().expect("a leader after full restart");
    cluster.propose(leader, b"next");
    cluster.run(3);
    for id in 1..=3 {
        assert_eq!(cluster.app_payloads(id).len(), 11);
    }
}

#[test]
fn test_single_node_cluster_commits_immediately() {
    let mut cluster = Cluster::new(1);
    cluster.elect(1);
    cluster.propose(1, b"solo");
    assert_eq!(cluster.app_payloads(1), vec![b"solo".to_vec()]);
}

#[test]
fn test_proposal_rejected_by_follower() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    assert_eq!(
        cluster.node_mut(2).propose(b"x".to_vec()),
        Err(Error::NotLeader { leader: Some(1) })
    );
}

#[test]
fn test_check_quorum_leader_steps_down_when_isolated() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    cluster.isolate(1);
    cluster.run(30);
    assert_ne!(cluster.node(1).role(), Role::Leader);
    let new_leader = cluster.leader().expect("majority side elects a leader");
    assert_ne!(new_leader, 1);
    cluster.heal();
    cluster.run(20);
    assert_eq!(cluster.node(1).leader(), Some(new_leader));
}

#[test]
fn test_backpressure_bounds_uncommitted_bytes() {
    let mut cluster = Cluster::with_config(3, |id| {
        let mut cfg = config(id);
        cfg.max_uncommitted_bytes = 100;
        cfg
    });
    cluster.elect(1);
    cluster.isolate(1);
    let leader = cluster.node_mut(1);
    leader.propose(vec![0; 60]).unwrap();
    assert!(matches!(
        leader.propose(vec![0; 60]),
        Err(Error::Backpressure { .. })
    ));
}

#[test]
fn test_proposals_between_polls_are_batched() {
    let mut cluster = Cluster::new(3);
    cluster.elect(1);
    let leader = cluster.node_mut(1);
    for i in 0..10u8 {
        leader.propose(vec![i]).unwrap();
    }
    let out = leader.poll_output();
    let appends: Vec<_> = out
        .messages
        .iter()
        .filter_map(|e| match &e.msg.body {
            MessageBody::AppendEntries { entries, .. } => Some(entries.len()),
            _ => None,
        })
        .collect();
    assert_eq!(
        appends,
        vec![10, 10],
        "one append per follower carrying all ten"
    );
    assert_eq!(out.persist.entries.len(), 10);
}

#[test]
fn test_heartbeat_answer_burst_sends_one_append_per_interval() {
    // A follower back from a crash answers, at once, every heartbeat queued
    // for it while it was down. Each answer may unblock its paused
    // progress, but at most once per heartbeat interval: otherwise every
    // answer sends another full append (a leader built ~1 GB of them in
    // one round, docs/BENCHMARKS.md).
    let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
    make_leader(&mut raft, &[2, 3]);
    for n in 0..10u8 {
        raft.propose(vec![n; 64]).unwrap();
    }
    raft.poll_output();
    let appends_to_3 = |raft: &mut Raft| {
        raft.poll_output()
            .messages
            .iter()
            .filter(|e| e.to == 3 && matches!(e.msg.body, MessageBody::AppendEntries { .. }))
            .count()
    };
    let term = raft.term();
    // Node 3 never answered an append: its probe is outstanding.
    for _ in 0..1000 {
        raft.step(3, msg(term, MessageBody::HeartbeatResponse))
            .unwrap();
    }
    assert_eq!(appends_to_3(&mut raft), 1);
    // Within the interval, more answers send nothing more...
    raft.tick();
    for _ in 0..1000 {
        raft.step(3, msg(term, MessageBody::HeartbeatResponse))
            .unwrap();
    }
    assert_eq!(appends_to_3(&mut raft), 0);
    // ...and after it, one more append goes, so a lost one is resent.
    raft.tick();
    for _ in 0..1000 {
        raft.step(3, msg(term, MessageBody::HeartbeatResponse))
            .unwrap();
    }
    assert_eq!(appends_to_3(&mut raft), 1);
    assert_eq!(raft.role(), Role::Leader);
}

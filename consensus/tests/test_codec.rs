//! Canonical encoding and hostile input: decoding and stepping arbitrary
//! bytes or structurally invalid messages never panics.

mod common;

use common::config;
use productivist_consensus::raft::{
    Entry, EntryPayload, Error, Membership, Message, MessageBody, Raft, Snapshot, decode_message,
    encode_message,
};
use proptest::prelude::*;

fn sample_messages() -> Vec<Message> {
    vec![
        Message {
            term: 3,
            body: MessageBody::AppendEntries {
                prev_log_index: 4,
                prev_log_term: 2,
                entries: vec![
                    Entry {
                        index: 5,
                        term: 3,
                        payload: EntryPayload::Normal(b"block".to_vec()),
                    },
                    Entry {
                        index: 6,
                        term: 3,
                        payload: EntryPayload::Config(Membership::new([1, 2, 3])),
                    },
                ],
                leader_commit: 4,
            },
        },
        Message {
            term: 9,
            body: MessageBody::InstallSnapshot {
                snapshot: Snapshot {
                    index: 7,
                    term: 8,
                    membership: Membership::new([1, 2]),
                    data: vec![1, 2, 3],
                },
            },
        },
        Message {
            term: 1,
            body: MessageBody::TimeoutNow,
        },
    ]
}

#[test]
fn test_roundtrip_is_canonical() {
    for m in sample_messages() {
        let bytes = encode_message(&m);
        let decoded = decode_message(&bytes).unwrap();
        assert_eq!(decoded, m);
        assert_eq!(encode_message(&decoded), bytes);
    }
}

#[test]
fn test_decode_rejects_trailing_bytes_and_truncation() {
    let mut bytes = encode_message(&sample_messages()[0]);
    bytes.push(0);
    assert!(matches!(decode_message(&bytes), Err(Error::Decode(_))));
    bytes.pop();
    bytes.pop();
    assert!(matches!(decode_message(&bytes), Err(Error::Decode(_))));
    assert!(decode_message(&[]).is_err());
    // A huge length prefix must not allocate or panic.
    let mut huge = vec![1, 0, 0, 0, 0, 0, 0, 0, 4];
    huge.extend_from_slice(&[0; 16]);
    huge.extend_from_slice(&u32::MAX.to_le_bytes());
    assert!(decode_message(&huge).is_err());
}

#[test]
fn test_invalid_messages_are_refused_without_panic() {
    let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
    raft.poll_output();
    let gap = Message {
        term: 2,
        body: MessageBody::AppendEntries {
            prev_log_index: 1,
            prev_log_term: 1,
            entries: vec![Entry {
                index: 5,
                term: 2,
                payload: EntryPayload::Noop,
            }],
            leader_commit: 9,
        },
    };
    assert!(matches!(raft.step(2, gap), Err(Error::InvalidMessage(_))));
    let overflow = Message {
        term: 2,
        body: MessageBody::AppendEntries {
            prev_log_index: u64::MAX,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: u64::MAX,
        },
    };
    assert!(matches!(
        raft.step(2, overflow),
        Err(Error::InvalidMessage(_))
    ));
    let beyond = Message {
        term: 2,
        body: MessageBody::AppendEntries {
            prev_log_index: 1_000,
            prev_log_term: 1,
            entries: vec![],
            leader_commit: 5_000,
        },
    };
    // Index beyond our log: a rejection with a hint, not a panic.
    raft.step(2, beyond).unwrap();
    let out = raft.poll_output();
    assert!(matches!(
        out.messages[0].msg.body,
        MessageBody::AppendEntriesResponse { reject: true, .. }
    ));
    let bad_membership = Message {
        term: 3,
        body: MessageBody::InstallSnapshot {
            snapshot: Snapshot {
                index: 5,
                term: 3,
                membership: Membership::default(),
                data: vec![],
            },
        },
    };
    assert!(raft.step(2, bad_membership).is_err());
    let from_self = Message {
        term: 3,
        body: MessageBody::HeartbeatResponse,
    };
    assert!(raft.step(1, from_self).is_err());
    // A max term is absorbed without arithmetic overflow.
    raft.step(
        3,
        Message {
            term: u64::MAX,
            body: MessageBody::Heartbeat { leader_commit: 0 },
        },
    )
    .unwrap();
    for _ in 0..100 {
        raft.tick();
    }
    raft.poll_output();
}

#[test]
fn test_leader_refuses_ack_beyond_its_log() {
    let mut cluster = common::Cluster::new(3);
    cluster.elect(1);
    let term = cluster.node(1).term();
    let bogus = Message {
        term,
        body: MessageBody::AppendEntriesResponse {
            reject: false,
            index: 1_000,
            reject_hint: 0,
        },
    };
    assert!(cluster.node_mut(1).step(2, bogus).is_err());
    assert!(cluster.node(1).is_leader());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn prop_decode_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_message(&bytes);
    }

    #[test]
    fn prop_step_arbitrary_decoded_messages_never_panics(
        inputs in proptest::collection::vec((1u64..5, proptest::collection::vec(any::<u8>(), 0..96)), 1..40),
    ) {
        let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
        for (from, bytes) in inputs {
            if let Ok(msg) = decode_message(&bytes) {
                let _ = raft.step(from, msg);
            }
            raft.tick();
            while raft.has_output() {
                raft.poll_output();
            }
        }
    }

    #[test]
    fn prop_mutated_encodings_never_panic(which in 0usize..3, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut bytes = encode_message(&sample_messages()[which]);
        for (at, value) in flips {
            let len = bytes.len();
            bytes[at % len] = value;
        }
        if let Ok(msg) = decode_message(&bytes) {
            let mut raft = Raft::new(config(1), &[1, 2, 3]).unwrap();
            let _ = raft.step(2, msg);
            raft.poll_output();
        }
    }
}

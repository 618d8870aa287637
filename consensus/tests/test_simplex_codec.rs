//! Simplex wire format and hostile input: canonical borsh, trailing bytes
//! and oversized input refused, arbitrary bytes never panic the decoder or
//! the state machine.

use ed25519_dalek::SigningKey;
use productivist_consensus::simplex::message::{MAX_BLOCKS_PER_MESSAGE, MAX_MESSAGE_BYTES};
use productivist_consensus::simplex::{
    Block, Certificate, Error, Message, Simplex, SimplexConfig, VoteKind, accept_all,
    decode_message, encode_message, sign_vote,
};
use proptest::prelude::*;

fn key(id: u64) -> SigningKey {
    SigningKey::from_bytes(&blake3::derive_key(
        "simplex codec test key",
        &id.to_le_bytes(),
    ))
}

fn node(id: u64) -> Simplex {
    let participants: Vec<_> = (1..=4)
        .map(|i| (i, key(i).verifying_key().to_bytes()))
        .collect();
    Simplex::new(
        SimplexConfig::new(id, b"codec".to_vec()),
        key(id),
        &participants,
        accept_all(),
    )
    .unwrap()
}

fn samples() -> Vec<Message> {
    let block = Block {
        view: 3,
        height: 2,
        parent_view: 1,
        parent: [9; 32],
        payload: b"payload".to_vec(),
    };
    let vote = sign_vote(&key(4), b"codec", 4, VoteKind::Notarize, 3, block.digest());
    vec![
        Message::Propose {
            block: block.clone(),
            vote: vote.clone(),
        },
        Message::Vote(vote.clone()),
        Message::Certificate(Certificate {
            kind: VoteKind::Nullify,
            view: 5,
            digest: [0; 32],
            signatures: vec![(1, [1; 64]), (2, [2; 64]), (3, [3; 64])],
        }),
        Message::FetchBlocks {
            digest: [4; 32],
            above_height: 1,
        },
        Message::Blocks(vec![block]),
        Message::FetchCertificates {
            from_view: 2,
            to_view: 9,
        },
    ]
}

#[test]
fn test_roundtrip_is_canonical() {
    for m in samples() {
        let bytes = encode_message(&m);
        let decoded = decode_message(&bytes).unwrap();
        assert_eq!(decoded, m);
        assert_eq!(encode_message(&decoded), bytes);
    }
}

#[test]
fn test_trailing_and_truncated_bytes_are_refused() {
    for m in samples() {
        let mut bytes = encode_message(&m);
        for cut in 0..bytes.len() {
            assert!(
                decode_message(&bytes[..cut]).is_err(),
                "{} cut at {cut}",
                m.kind()
            );
        }
        bytes.push(0);
        assert!(matches!(decode_message(&bytes), Err(Error::Decode(_))));
    }
}

#[test]
fn test_structurally_invalid_messages_are_refused() {
    let nullify_with_digest = Message::Vote(sign_vote(
        &key(1),
        b"codec",
        1,
        VoteKind::Nullify,
        1,
        [1; 32],
    ));
    let view_zero = Message::Vote(sign_vote(
        &key(1),
        b"codec",
        1,
        VoteKind::Notarize,
        0,
        [1; 32],
    ));
    let unsorted = Message::Certificate(Certificate {
        kind: VoteKind::Notarize,
        view: 1,
        digest: [1; 32],
        signatures: vec![(2, [0; 64]), (1, [0; 64]), (3, [0; 64])],
    });
    let parent_after_child = Message::Blocks(vec![Block {
        view: 2,
        height: 1,
        parent_view: 2,
        parent: [0; 32],
        payload: vec![],
    }]);
    let too_many_blocks = Message::Blocks(vec![
        Block {
            view: 2,
            height: 1,
            parent_view: 0,
            parent: [0; 32],
            payload: vec![],
        };
        MAX_BLOCKS_PER_MESSAGE + 1
    ]);
    let huge_fetch = Message::FetchCertificates {
        from_view: 1,
        to_view: 1 << 20,
    };
    for m in [
        nullify_with_digest,
        view_zero,
        unsorted,
        parent_after_child,
        too_many_blocks,
        huge_fetch,
    ] {
        assert!(
            matches!(
                decode_message(&encode_message(&m)),
                Err(Error::InvalidMessage(_))
            ),
            "{m:?}"
        );
        // The state machine runs the same checks on already-decoded input.
        assert!(node(1).step(2, m).is_err());
    }
    assert!(decode_message(&vec![0; MAX_MESSAGE_BYTES + 1]).is_err());
}

#[test]
fn test_huge_length_prefix_does_not_allocate_or_panic() {
    // Blocks with a claimed count of 2^32 - 1 and no data.
    let bytes = [4u8, 0xFF, 0xFF, 0xFF, 0xFF];
    assert!(decode_message(&bytes).is_err());
    // A payload length prefix of 4 GiB.
    let mut bytes = encode_message(&samples()[0]);
    let payload_len_at = 1 + 8 + 8 + 8 + 32;
    bytes[payload_len_at..payload_len_at + 4].copy_from_slice(&[0xFF; 4]);
    assert!(decode_message(&bytes).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prop_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(msg) = decode_message(&bytes) {
            let mut replica = node(1);
            let _ = replica.step(2, msg);
            while replica.has_output() {
                let _ = replica.poll_output();
            }
        }
    }

    #[test]
    fn prop_bit_flips_of_real_messages_never_panic(index in 0usize..6, flips in proptest::collection::vec((any::<usize>(), 0u8..8), 1..6)) {
        let mut bytes = encode_message(&samples()[index]);
        for (at, bit) in flips {
            let at = at % bytes.len();
            bytes[at] ^= 1 << bit;
        }
        if let Ok(msg) = decode_message(&bytes) {
            let mut replica = node(1);
            let _ = replica.step(4, msg);
            while replica.has_output() {
                let _ = replica.poll_output();
            }
        }
    }
}

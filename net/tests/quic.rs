//! Real QUIC endpoints on loopback: pinned identities, frames, limits,
//! backpressure and reconnection.

use productivist_engine::crypto::KeyPair;
use productivist_net::tls::{SERVER_NAME, client_crypto};
use productivist_net::{Allowlist, Inbound, NetConfig, Network, SendError};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::Receiver;

const TIMEOUT: Duration = Duration::from_secs(20);

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

fn node(seed: &str, allow: &[&KeyPair]) -> (KeyPair, Arc<Network>, Receiver<Inbound>) {
    let key = KeyPair::from_seed(seed);
    let mut cfg = NetConfig::new(loopback());
    cfg.backoff_max_ms = 200;
    cfg.frame_bytes_max = 1024;
    let (net, rx) = Network::start(
        key.clone(),
        Allowlist::new(allow.iter().map(|k| k.public())),
        cfg,
    )
    .unwrap();
    (key, net, rx)
}

async fn recv(rx: &mut Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(TIMEOUT, rx.recv())
        .await
        .expect("timed out")
        .expect("closed")
}

#[tokio::test]
async fn frames_flow_in_order_between_pinned_peers() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let (_, a, _a_rx) = node("a", &[&b_key]);
    let (_, b, mut b_rx) = node("b", &[&a_key]);
    a.add_peer(b_key.public(), b.local_addr().unwrap());
    for i in 0..200u32 {
        // The queue holds 1024 frames: none of these is refused.
        a.send(&b_key.public(), i.to_be_bytes().to_vec()).unwrap();
    }
    for i in 0..200u32 {
        let m = recv(&mut b_rx).await;
        assert_eq!(m.from, a_key.public());
        assert_eq!(m.frame, i.to_be_bytes().to_vec());
    }
    // Frames arrived, so the dialer's connection is up.
    assert_eq!(a.peer_connections(), vec![(b_key.public(), true)]);
    assert!(b.peer_connections().is_empty(), "b dials nobody");
}

#[tokio::test]
async fn unknown_keys_are_refused_at_the_handshake_both_ways() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let (_, a, _) = node("a", &[&b_key]);
    let (_, b, _) = node("b", &[&a_key]);
    let (_, stranger, _) = node("stranger", &[&b_key]);
    let b_addr = b.local_addr().unwrap();
    assert_eq!(a.probe(b_key.public(), b_addr).await, Ok(()));
    // The stranger's key is not in b's consenter set.
    assert!(stranger.probe(b_key.public(), b_addr).await.is_err());
    // A dialer refuses a server that is not the key it meant to reach.
    assert!(
        a.probe(KeyPair::from_seed("impostor").public(), b_addr)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_removed_key_cannot_connect_again() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let (_, a, _) = node("a", &[&b_key]);
    let allow_b = Allowlist::new([a_key.public()]);
    let (b, _b_rx) =
        Network::start(b_key.clone(), allow_b.clone(), NetConfig::new(loopback())).unwrap();
    let b_addr = b.local_addr().unwrap();
    assert_eq!(a.probe(b_key.public(), b_addr).await, Ok(()));
    allow_b.remove(&a_key.public());
    assert!(a.probe(b_key.public(), b_addr).await.is_err());
}

#[tokio::test]
async fn a_full_peer_queue_reports_busy() {
    let b_key = KeyPair::from_seed("b");
    let key = KeyPair::from_seed("a");
    let mut cfg = NetConfig::new(loopback());
    cfg.peer_queue_frames = 2;
    let (a, _) = Network::start(key, Allowlist::new([b_key.public()]), cfg).unwrap();
    // Nobody listens there: the dialer never connects, so nothing drains.
    let closed = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    a.add_peer(b_key.public(), closed);
    assert_eq!(a.send(&b_key.public(), vec![1]), Ok(()));
    assert_eq!(a.send(&b_key.public(), vec![2]), Ok(()));
    assert_eq!(
        a.send(&b_key.public(), vec![3]),
        Err(SendError::Busy(b_key.public()))
    );
    assert!(matches!(
        a.send(&b_key.public(), vec![0; (16 << 20) + 1]),
        Err(SendError::TooLarge(_))
    ));
    let other = KeyPair::from_seed("nobody").public();
    assert_eq!(a.send(&other, vec![1]), Err(SendError::UnknownPeer(other)));
}

#[tokio::test]
async fn an_oversized_frame_closes_only_its_stream() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let (_, b, mut b_rx) = node("b", &[&a_key]);
    let b_addr = b.local_addr().unwrap();
    // A raw client with an allowed key, speaking frames by hand.
    let mut endpoint = quinn::Endpoint::client(loopback()).unwrap();
    endpoint.set_default_client_config(quinn::ClientConfig::new(Arc::new(
        client_crypto(&a_key, b_key.public()).unwrap(),
    )));
    let conn = endpoint
        .connect(b_addr, SERVER_NAME)
        .unwrap()
        .await
        .unwrap();
    let mut bad = conn.open_uni().await.unwrap();
    bad.write_all(&(1_000_000u32).to_be_bytes()).await.unwrap();
    // The node stops the stream: further writes fail.
    let stopped = tokio::time::timeout(TIMEOUT, bad.stopped())
        .await
        .expect("timed out");
    assert!(
        stopped.is_ok(),
        "the oversized stream is stopped with a code"
    );
    // The connection and the node go on.
    let mut good = conn.open_uni().await.unwrap();
    good.write_all(&3u32.to_be_bytes()).await.unwrap();
    good.write_all(b"ok!").await.unwrap();
    let m = recv(&mut b_rx).await;
    assert_eq!(m.frame, b"ok!");
    assert_eq!(m.from, a_key.public());
}

#[tokio::test]
async fn a_restarted_peer_is_reconnected() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let (_, a, _a_rx) = node("a", &[&b_key]);
    let (_, b, mut b_rx) = node("b", &[&a_key]);
    let b_addr = b.local_addr().unwrap();
    a.add_peer(b_key.public(), b_addr);
    a.send(&b_key.public(), b"before".to_vec()).unwrap();
    assert_eq!(recv(&mut b_rx).await.frame, b"before");
    b.close().await;
    drop(b);
    drop(b_rx);
    // Same key, same address: a fresh process in all but name. The old
    // socket is released once quinn's driver winds down; retry the bind a
    // bounded number of times.
    let mut cfg = NetConfig::new(b_addr);
    cfg.frame_bytes_max = 1024;
    let mut started = None;
    for _ in 0..100 {
        match Network::start(b_key.clone(), Allowlist::new([a_key.public()]), cfg.clone()) {
            Ok(s) => {
                started = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    let (_b2, mut b2_rx) = started.expect("address never released");
    // Frames sent while the connection was down may be lost; keep sending
    // (bounded) until one arrives through the new connection.
    for i in 0..200u32 {
        let _ = a.send(&b_key.public(), i.to_be_bytes().to_vec());
        if let Ok(Some(m)) = tokio::time::timeout(Duration::from_millis(100), b2_rx.recv()).await {
            assert_eq!(m.from, a_key.public());
            return;
        }
    }
    panic!("no frame arrived after the peer restarted");
}

/// A peer that crashes (no goodbye) and restarts with the same key is
/// reset by the new process on the first packet of the old connection, so
/// the survivor re-dials at once instead of waiting for the idle timeout
/// (60 s here; the test allows 10 s).
#[test]
fn a_crashed_peer_restarting_resets_the_stale_connection_before_the_idle_timeout() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let rt_a = tokio::runtime::Runtime::new().unwrap();
    let rt_b = tokio::runtime::Runtime::new().unwrap();
    let config = |addr: SocketAddr| {
        let mut cfg = NetConfig::new(addr);
        cfg.idle_timeout_ms = 60_000;
        cfg.backoff_max_ms = 200;
        cfg
    };
    let (b, mut b_rx) = {
        let _in_b = rt_b.enter();
        Network::start(
            b_key.clone(),
            Allowlist::new([a_key.public()]),
            config(loopback()),
        )
        .unwrap()
    };
    let b_addr = b.local_addr().unwrap();
    let (a, _a_rx) = {
        let _in_a = rt_a.enter();
        Network::start(
            a_key.clone(),
            Allowlist::new([b_key.public()]),
            config(loopback()),
        )
        .unwrap()
    };
    rt_a.block_on(async {
        a.add_peer(b_key.public(), b_addr);
        a.send(&b_key.public(), b"before".to_vec()).unwrap();
        assert_eq!(recv(&mut b_rx).await.frame, b"before");
    });
    // The crash: B's runtime stops with its tasks, so nothing more leaves
    // B (no CONNECTION_CLOSE); dropping B afterwards only frees its socket.
    rt_b.shutdown_background();
    drop(b);
    drop(b_rx);
    let rt_b2 = tokio::runtime::Runtime::new().unwrap();
    let mut started = None;
    for _ in 0..100 {
        let _in_b2 = rt_b2.enter();
        match Network::start(
            b_key.clone(),
            Allowlist::new([a_key.public()]),
            config(b_addr),
        ) {
            Ok(s) => {
                started = Some(s);
                break;
            }
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let (_b2, mut b2_rx) = started.expect("address never released");
    let restarted = std::time::Instant::now();
    rt_a.block_on(async {
        // Bounded: 100 rounds of 100 ms.
        for i in 0..100u32 {
            let _ = a.send(&b_key.public(), i.to_be_bytes().to_vec());
            if let Ok(Some(m)) =
                tokio::time::timeout(Duration::from_millis(100), b2_rx.recv()).await
            {
                assert_eq!(m.from, a_key.public());
                return;
            }
        }
        panic!(
            "no frame reached the restarted peer within {:?}: the stale connection was not reset",
            restarted.elapsed()
        );
    });
}

#[tokio::test]
async fn a_key_removed_while_connected_loses_its_connection_and_cannot_reconnect() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let c_key = KeyPair::from_seed("c");
    let (_, a, _a_rx) = node("a", &[&b_key]);
    let (_, c, _c_rx) = node("c", &[&b_key]);
    let (_, b, mut b_rx) = node("b", &[&a_key, &c_key]);
    let b_addr = b.local_addr().unwrap();
    a.add_peer(b_key.public(), b_addr);
    c.add_peer(b_key.public(), b_addr);
    a.send(&b_key.public(), b"from a".to_vec()).unwrap();
    c.send(&b_key.public(), b"from c".to_vec()).unwrap();
    let mut from = vec![recv(&mut b_rx).await.from, recv(&mut b_rx).await.from];
    from.sort();
    let mut want = vec![a_key.public(), c_key.public()];
    want.sort();
    assert_eq!(from, want);

    // A config update removes a; b follows it while a is connected.
    let lost = b.set_allowed(&[c_key.public()].into_iter().collect());
    assert_eq!(lost, vec![a_key.public()]);
    // New handshakes are refused at once; the live connection stays until
    // the caller disconnects it.
    assert!(a.probe(b_key.public(), b_addr).await.is_err());
    assert_eq!(a.peer_connections(), vec![(b_key.public(), true)]);
    assert_eq!(b.disconnect_unallowed(), vec![a_key.public()]);
    // a's dialer sees its connection closed by b, and every re-dial refused.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while a.peer_connections() != vec![(b_key.public(), false)] {
        assert!(
            tokio::time::Instant::now() < deadline,
            "a is still connected"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(a.probe(b_key.public(), b_addr).await.is_err());
    // c, still a member, goes on undisturbed.
    c.send(&b_key.public(), b"still here".to_vec()).unwrap();
    let m = recv(&mut b_rx).await;
    assert_eq!((m.from, m.frame), (c_key.public(), b"still here".to_vec()));
    // Frames a queued after its removal never reach b.
    let _ = a.send(&b_key.public(), b"late".to_vec());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), b_rx.recv())
            .await
            .is_err(),
        "nothing more arrives"
    );
}

#[tokio::test]
async fn closing_a_peers_connection_for_a_malformed_frame_lets_it_reconnect() {
    let a_key = KeyPair::from_seed("a");
    let b_key = KeyPair::from_seed("b");
    let (_, a, _a_rx) = node("a", &[&b_key]);
    let (_, b, mut b_rx) = node("b", &[&a_key]);
    a.add_peer(b_key.public(), b.local_addr().unwrap());
    a.send(&b_key.public(), b"not a frame of ours".to_vec())
        .unwrap();
    assert_eq!(recv(&mut b_rx).await.frame, b"not a frame of ours".to_vec());
    // b's dispatcher could not decode it: it closes a's connection.
    b.close_accepted(&a_key.public(), "malformed frame");
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while a.peer_connections() != vec![(b_key.public(), false)] {
        assert!(tokio::time::Instant::now() < deadline, "a still connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // a is still allowed: it dials again and its next frames arrive.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        let _ = a.send(&b_key.public(), b"again".to_vec());
        match tokio::time::timeout(Duration::from_millis(200), b_rx.recv()).await {
            Ok(Some(m)) => {
                assert_eq!((m.from, m.frame), (a_key.public(), b"again".to_vec()));
                break;
            }
            _ => assert!(
                tokio::time::Instant::now() < deadline,
                "a never reconnected"
            ),
        }
    }
}

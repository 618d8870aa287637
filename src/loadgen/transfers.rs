//! The benchmark's transactions: senders issued by the `customers`
//! organization's root key (read from the network directory), funded by
//! the issuer, and token transfers between them, all signed before the
//! run starts.

use super::LoadgenError;
use crate::network::LoadedNetwork;
use base64::Engine as _;
use hyper::body::Bytes;
use productivist_contracts::api::{MintArgs, TOKEN, TransferArgs};
use productivist_engine::crypto::{Hash, KeyPair};
use productivist_engine::devnet::{DEV_NOT_AFTER_MS, Member};
use productivist_engine::identity::{CertBody, Role, issue_certificate};
use productivist_engine::tx::{decode_tx, tx_id};
use rayon::prelude::*;
use std::path::Path;

/// The organization whose root key issues the senders.
pub const SENDER_ORG: &str = "customers";
/// Senders by default: enough that a block's transfers rarely touch the
/// same balance twice, few enough to fund in one block.
pub const SENDERS_DEFAULT: usize = 1_000;
/// Most senders.
pub const SENDERS_MAX: usize = 10_000;

/// A signed transaction ready to send.
#[derive(Clone, Debug)]
pub struct PreSigned {
    /// Its id.
    pub id: Hash,
    /// The request body: `{"tx_base64": "..."}`.
    pub body: Bytes,
}

const BODY_PREFIX: &str = "{\"tx_base64\":";
const BODY_SUFFIX: &str = "}";

/// The JSON body submitting `tx`.
pub fn body_of(tx: &[u8]) -> Bytes {
    let b64 = base64::engine::general_purpose::STANDARD.encode(tx);
    Bytes::from(format!("{BODY_PREFIX}\"{b64}\"{BODY_SUFFIX}"))
}

/// The JSON body submitting `txs` as one batch:
/// `{"txs_base64": ["...", ...]}`, reusing each one's encoded body.
pub fn batch_body_of<'a>(txs: impl Iterator<Item = &'a PreSigned>) -> Bytes {
    let mut out = Vec::with_capacity(4096);
    out.extend_from_slice(b"{\"txs_base64\":[");
    for (n, tx) in txs.enumerate() {
        // Every body comes from `body_of`: the quoted base64 sits between
        // its fixed prefix and suffix.
        let inner = &tx.body[BODY_PREFIX.len()..tx.body.len() - BODY_SUFFIX.len()];
        assert!(inner.first() == Some(&b'"') && inner.last() == Some(&b'"'));
        if n > 0 {
            out.push(b',');
        }
        out.extend_from_slice(inner);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

/// The senders of a run: `count` members of [`SENDER_ORG`] with keys
/// derived from `salt` (distinct runs against one cluster use distinct
/// salts, so their transactions never collide).
pub fn senders(network_dir: &Path, count: usize, salt: u64) -> Result<Vec<Member>, LoadgenError> {
    let count = count.clamp(2, SENDERS_MAX);
    let root_path = network_dir.join("orgs").join(SENDER_ORG).join("root.key");
    let root = crate::node::read_key(&root_path)
        .map_err(|e| LoadgenError::Setup(format!("{e} (the sender organization's root key)")))?;
    (0..count)
        .into_par_iter()
        .map(|i| {
            let key = KeyPair::from_seed(&format!("productivist/loadgen/{salt}/{i}"));
            let name = format!("lg{salt:x}-{i}");
            let cert = issue_certificate(
                &root,
                CertBody {
                    subject: name.clone(),
                    org: SENDER_ORG.to_string(),
                    roles: vec![Role::Customer],
                    public_key: key.public(),
                    not_before_ms: 0,
                    not_after_ms: DEV_NOT_AFTER_MS,
                    serial: 10_000_000 + i as u64,
                },
            )
            .map_err(|e| LoadgenError::Setup(e.to_string()))?;
            Ok(Member {
                name,
                org: SENDER_ORG.to_string(),
                key,
                cert,
            })
        })
        .collect()
}

/// Mints funding every sender for `per_sender` transfers of 1 token.
pub fn mints(
    net: &LoadedNetwork,
    senders: &[Member],
    per_sender: u64,
    channel: &str,
    salt: u64,
) -> Result<Vec<Vec<u8>>, LoadgenError> {
    let issuer = net
        .member("issuer")
        .ok_or_else(|| LoadgenError::Setup("the network has no issuer".into()))?;
    senders
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let args = borsh::to_vec(&MintArgs {
                to: s.account(),
                amount: per_sender.max(1),
                reference: format!("loadgen-{salt:x}-{i}"),
            })
            .map_err(|e| LoadgenError::Setup(e.to_string()))?;
            Ok(issuer.call_bytes(channel, TOKEN, "mint", args, salt ^ i as u64))
        })
        .collect()
}

/// `count` transfers of 1 token, transaction `k` from sender `k mod S` to
/// the sender half the ring away, signed on all cores.
pub fn transfers(
    senders: &[Member],
    count: u64,
    channel: &str,
) -> Result<Vec<PreSigned>, LoadgenError> {
    if senders.len() < 2 {
        return Err(LoadgenError::Setup("at least 2 senders".into()));
    }
    let s = senders.len() as u64;
    (0..count)
        .into_par_iter()
        .map(|k| {
            let from = &senders[(k % s) as usize];
            let to = &senders[((k + s / 2) % s) as usize];
            let args = borsh::to_vec(&TransferArgs {
                to: to.account(),
                amount: 1,
                memo: String::new(),
            })
            .map_err(|e| LoadgenError::Setup(e.to_string()))?;
            let bytes = from.call_bytes(channel, TOKEN, "transfer", args, k / s);
            let id = decode_tx(&bytes, usize::MAX)
                .map(|t| tx_id(&t))
                .map_err(|e| LoadgenError::Setup(e.to_string()))?;
            Ok(PreSigned {
                id,
                body: body_of(&bytes),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_the_api_json() {
        let b = body_of(&[0, 1, 2, 255]);
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(v["tx_base64"], "AAEC/w==");
    }

    #[test]
    fn batch_bodies_are_the_batch_api_json() {
        let txs: Vec<PreSigned> = [&[0u8, 1, 2, 255][..], &[7], &[]]
            .iter()
            .map(|t| PreSigned {
                id: Hash::of(t),
                body: body_of(t),
            })
            .collect();
        let b = batch_body_of(txs.iter());
        let v: serde_json::Value = serde_json::from_slice(&b).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"txs_base64": ["AAEC/w==", "Bw==", ""]})
        );
        let one: serde_json::Value =
            serde_json::from_slice(&batch_body_of(txs[1..2].iter())).expect("json");
        assert_eq!(one, serde_json::json!({"txs_base64": ["Bw=="]}));
    }
}

//! A network on disk: organizations' root keys, member keys and
//! certificates, node keys, and each channel's genesis block, as written by
//! `productivist init` and read by the demo and the nodes.
//!
//! Layout (secrets are hex in files of mode 0600):
//! ```text
//! DIR/network.json                        summary, readable
//! DIR/orgs/ORG/root.key, root.pub         organization root key
//! DIR/orgs/ORG/members/NAME.key           member secret key
//! DIR/orgs/ORG/members/NAME.cert          certificate (hex of borsh)
//! DIR/orgs/ORG/members/NAME.json          certificate, readable
//! DIR/nodes/NODE.key, NODE.json           node keys
//! DIR/channels/CH/genesis.block           genesis block (borsh)
//! DIR/channels/CH/config.json             channel config, readable
//! ```

use productivist_engine::block::Block;
use productivist_engine::codec;
use productivist_engine::config::ChannelConfig;
use productivist_engine::crypto::{KeyPair, hex, unhex};
use productivist_engine::devnet::{DevNet, Member};
use productivist_engine::identity::Certificate;
use serde_json::json;
use std::fs;
use std::path::{Path, PathBuf};

/// Why a network directory could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// Keys exist already and `--force` was not given.
    #[error("{0} already holds a network; refusing to overwrite keys without --force")]
    Exists(PathBuf),
    /// A file's content is not what it should be.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> NetworkError + '_ {
    move |source| NetworkError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn invalid(path: &Path, reason: impl Into<String>) -> NetworkError {
    NetworkError::Invalid {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), NetworkError> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io(parent))?;
    }
    fs::write(path, bytes).map_err(io(path))
}

fn write_secret(path: &Path, key: &KeyPair) -> Result<(), NetworkError> {
    write(path, format!("{}\n", hex(&key.secret())).as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    Ok(())
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), NetworkError> {
    let text = serde_json::to_string_pretty(value).map_err(|e| invalid(path, e.to_string()))?;
    write(path, format!("{text}\n").as_bytes())
}

fn read_secret(path: &Path) -> Result<KeyPair, NetworkError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    let bytes = unhex(&text).ok_or_else(|| invalid(path, "not hex"))?;
    let secret: [u8; 32] = bytes
        .try_into()
        .map_err(|_| invalid(path, "a secret key is 32 bytes"))?;
    Ok(KeyPair::from_secret(secret))
}

fn cert_json(m: &Member) -> serde_json::Value {
    let c = m.cert.value();
    json!({
        "subject": c.subject,
        "org": c.org,
        "roles": c.roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
        "public_key": c.public_key.to_hex(),
        "not_before_ms": c.not_before_ms,
        "not_after_ms": c.not_after_ms,
        "serial": c.serial,
    })
}

/// Whether `dir` already holds a network.
pub fn exists(dir: &Path) -> bool {
    dir.join("network.json").exists() || dir.join("orgs").exists()
}

/// Writes a generated network and its genesis block to `dir`.
pub fn write_network(
    dir: &Path,
    net: &DevNet,
    genesis_block: &[u8],
    force: bool,
) -> Result<(), NetworkError> {
    if exists(dir) && !force {
        return Err(NetworkError::Exists(dir.to_path_buf()));
    }
    if force && dir.join("orgs").exists() {
        // Stale members of a previous network must not survive into this one.
        fs::remove_dir_all(dir.join("orgs")).map_err(io(&dir.join("orgs")))?;
        let _ = fs::remove_dir_all(dir.join("nodes"));
    }
    for org in &net.orgs {
        let od = dir.join("orgs").join(&org.name);
        write_secret(&od.join("root.key"), &org.root)?;
        write(
            &od.join("root.pub"),
            format!("{}\n", org.root.public().to_hex()).as_bytes(),
        )?;
        for m in &org.members {
            let md = od.join("members");
            write_secret(&md.join(format!("{}.key", m.name)), &m.key)?;
            write(
                &md.join(format!("{}.cert", m.name)),
                format!("{}\n", hex(&codec::encode(&m.cert))).as_bytes(),
            )?;
            write_json(&md.join(format!("{}.json", m.name)), &cert_json(m))?;
        }
    }
    for (name, org, key) in &net.nodes {
        write_secret(&dir.join("nodes").join(format!("{name}.key")), key)?;
        write_json(
            &dir.join("nodes").join(format!("{name}.json")),
            &json!({ "name": name, "org": org, "public_key": key.public().to_hex() }),
        )?;
    }
    let ch = dir.join("channels").join(&net.config.channel_id);
    write(&ch.join("genesis.block"), genesis_block)?;
    write_json(&ch.join("config.json"), &config_json(&net.config))?;
    write_json(
        &dir.join("network.json"),
        &json!({
            "channel": net.config.channel_id,
            "consensus": net.config.consensus.kind.name(),
            "organizations": net.orgs.iter().map(|o| json!({
                "name": o.name,
                "root_key": o.root.public().to_hex(),
                "members": o.members.iter().map(|m| json!({
                    "subject": m.name,
                    "roles": m.cert.value().roles.iter().map(|r| r.name()).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "nodes": net.nodes.iter().map(|(n, o, k)| json!({"name": n, "org": o, "public_key": k.public().to_hex()})).collect::<Vec<_>>(),
        }),
    )
}

/// A readable rendering of a channel config.
pub fn config_json(c: &ChannelConfig) -> serde_json::Value {
    let policy = |p: &productivist_engine::policy::Policy| json!({ "threshold": p.threshold, "orgs": p.orgs, "role": p.role.name() });
    json!({
        "channel_id": c.channel_id,
        "version": c.version,
        "orgs": c.orgs.iter().map(|o| json!({"name": o.name, "root_key": o.root_key.to_hex()})).collect::<Vec<_>>(),
        "revocations": c.revocations.iter().map(|r| json!({"org": r.org, "serial": r.serial})).collect::<Vec<_>>(),
        "policies": {
            "config_update": policy(&c.policies.config_update),
            "deploy": policy(&c.policies.deploy),
            "submit_any_of": c.policies.submit.any_of.iter().map(|r| r.name()).collect::<Vec<_>>(),
        },
        "consensus": {
            "kind": c.consensus.kind.name(),
            "consenters": c.consensus.consenters.iter().map(|n| json!({
                "name": n.name, "org": n.org, "node_key": n.node_key.to_hex(), "endpoint": n.endpoint,
            })).collect::<Vec<_>>(),
        },
        "limits": {
            "max_txs": c.limits.max_txs,
            "max_block_bytes": c.limits.max_block_bytes,
            "max_tx_bytes": c.limits.max_tx_bytes,
            "batch_timeout_ms": c.limits.batch_timeout_ms,
        },
        "token": { "unit": c.token.unit, "peg": c.token.peg, "issuers": c.token.issuers },
        "market": {
            "receipt_timeout_ms": c.market.receipt_timeout_ms,
            "platform_fee_bps": c.market.platform_fee_bps,
            "platform_account": c.market.platform_account,
        },
        "wasm": {
            "fuel_per_tx": c.wasm.fuel_per_tx,
            "memory_pages_max": c.wasm.memory_pages_max,
            "module_bytes_max": c.wasm.module_bytes_max,
            "call_depth_max": c.wasm.call_depth_max,
        },
        "readers": c.readers.name(),
    })
}

/// A network read back from disk.
#[derive(Debug)]
pub struct LoadedNetwork {
    /// The directory.
    pub dir: PathBuf,
    /// Every member with its key.
    pub members: Vec<Member>,
    /// Node keys: `(name, key)`.
    pub nodes: Vec<(String, KeyPair)>,
}

impl LoadedNetwork {
    /// The member `subject` (of any org), or `subject@org`.
    pub fn member(&self, who: &str) -> Option<&Member> {
        match who.split_once('@') {
            Some((s, o)) => self.members.iter().find(|m| m.name == s && m.org == o),
            None => self.members.iter().find(|m| m.name == who),
        }
    }

    /// The genesis block of `channel`.
    pub fn genesis_block(&self, channel: &str) -> Result<Vec<u8>, NetworkError> {
        let path = self
            .dir
            .join("channels")
            .join(channel)
            .join("genesis.block");
        let bytes = fs::read(&path).map_err(io(&path))?;
        Block::decode(&bytes).map_err(|e| invalid(&path, e.to_string()))?;
        Ok(bytes)
    }
}

/// Reads a network directory written by [`write_network`].
pub fn load_network(dir: &Path) -> Result<LoadedNetwork, NetworkError> {
    let orgs_dir = dir.join("orgs");
    let mut members = Vec::new();
    let mut orgs: Vec<_> = fs::read_dir(&orgs_dir)
        .map_err(io(&orgs_dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    orgs.sort();
    for od in orgs {
        let md = od.join("members");
        let Ok(entries) = fs::read_dir(&md) else {
            continue;
        };
        let mut certs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "cert"))
            .collect();
        certs.sort();
        for cp in certs {
            let text = fs::read_to_string(&cp).map_err(io(&cp))?;
            let bytes = unhex(&text).ok_or_else(|| invalid(&cp, "not hex"))?;
            let cert: Certificate =
                codec::decode("certificate", &bytes).map_err(|e| invalid(&cp, e.to_string()))?;
            let key = read_secret(&cp.with_extension("key"))?;
            if key.public() != cert.value().public_key {
                return Err(invalid(&cp, "the key file does not match the certificate"));
            }
            members.push(Member {
                name: cert.value().subject.clone(),
                org: cert.value().org.clone(),
                key,
                cert,
            });
        }
    }
    let nodes_dir = dir.join("nodes");
    let mut nodes = Vec::new();
    if let Ok(entries) = fs::read_dir(&nodes_dir) {
        let mut keys: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "key"))
            .collect();
        keys.sort();
        for kp in keys {
            let name = kp
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| invalid(&kp, "bad file name"))?
                .to_string();
            nodes.push((name, read_secret(&kp)?));
        }
    }
    if members.is_empty() {
        return Err(invalid(
            dir,
            "no members found; run `productivist init` first",
        ));
    }
    Ok(LoadedNetwork {
        dir: dir.to_path_buf(),
        members,
        nodes,
    })
}

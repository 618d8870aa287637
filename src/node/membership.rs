//! Who the consenters are, as a running node sees them.
//!
//! Consensus ids are positions (1-based) in the *genesis* consenter list, so
//! they never change when a later config removes a consenter (the engine
//! refuses additions, see `ChannelConfig::check_transition`). The transport
//! follows the consenters of the latest committed config of every hosted
//! channel: a key a config update removed is refused at its next handshake
//! and loses the connections it holds, without a restart.

use super::channel::ChannelShared;
use productivist_consensus::NodeId;
use productivist_engine::config::ChannelConfig;
use productivist_engine::crypto::PublicKey;
use productivist_net::Network;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;

/// How long a removed consenter keeps the connections it has, to learn of
/// its removal (a few heartbeats); new handshakes are refused at once.
pub const REMOVAL_GRACE_MS: u64 = 2_000;

/// A channel's consenters by stable consensus id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Members {
    /// This node's id.
    pub me: NodeId,
    /// Every genesis consenter's id, this node included.
    pub ids: BTreeMap<PublicKey, NodeId>,
    /// The voters a fresh consensus instance starts with: the consenters of
    /// the current config.
    pub voters: Vec<NodeId>,
    /// The other current consenters, by id.
    pub peers: BTreeMap<NodeId, PublicKey>,
}

/// Why a node cannot take part in a channel's consensus.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MembersError {
    /// A committed config update removed this node: it may still serve
    /// what it has, read-only.
    #[error("this node's key {0} was removed from the consenters by a config update")]
    Removed(String),
    /// The node was never a consenter.
    #[error("this node's key {0} is not a consenter (observer nodes are not supported yet)")]
    NotConsenter(String),
    /// The config lists a consenter the genesis did not (configs that add
    /// consenters are refused by the engine).
    #[error("consenter {0:?} is not in the genesis config (adding consenters is not supported)")]
    NotInGenesis(String),
}

/// Numbers the consenters of `current` by their position in `genesis`.
pub fn members(
    genesis: &ChannelConfig,
    current: &ChannelConfig,
    me: PublicKey,
) -> Result<Members, MembersError> {
    let ids: BTreeMap<PublicKey, NodeId> = genesis
        .consensus
        .consenters
        .iter()
        .enumerate()
        .map(|(i, n)| (n.node_key, i as NodeId + 1))
        .collect();
    let mut voters = Vec::new();
    let mut peers = BTreeMap::new();
    for n in &current.consensus.consenters {
        // The engine refuses configs that add consenters: every current
        // consenter was in the genesis.
        let id = *ids
            .get(&n.node_key)
            .ok_or_else(|| MembersError::NotInGenesis(n.name.clone()))?;
        voters.push(id);
        if n.node_key != me {
            peers.insert(id, n.node_key);
        }
    }
    if !current
        .consensus
        .consenters
        .iter()
        .any(|n| n.node_key == me)
    {
        return Err(if ids.contains_key(&me) {
            MembersError::Removed(me.to_hex())
        } else {
            MembersError::NotConsenter(me.to_hex())
        });
    }
    let me = ids[&me];
    Ok(Members {
        me,
        ids,
        voters,
        peers,
    })
}

/// The peers the node must talk to: the other consenters of every hosted
/// channel whose latest config still lists this node, with the endpoint the
/// config gives.
pub fn wanted_peers(configs: &[Arc<ChannelConfig>], me: PublicKey) -> BTreeMap<PublicKey, String> {
    let mut out = BTreeMap::new();
    for c in configs {
        let consenters = &c.consensus.consenters;
        if !consenters.iter().any(|n| n.node_key == me) {
            continue;
        }
        for n in consenters {
            if n.node_key != me {
                out.entry(n.node_key).or_insert_with(|| n.endpoint.clone());
            }
        }
    }
    out
}

/// Keeps the transport in step with the committed configs: after every
/// committed block of any hosted channel, the allowlist becomes the wanted
/// peers, removed keys lose their connections, and moved endpoints are
/// re-dialed. `addr_overrides` (the node config's `[[peers]]`) win over
/// config endpoints. Runs until the channels' head senders are dropped.
pub async fn follow_configs(
    net: Arc<Network>,
    channels: Vec<Arc<ChannelShared>>,
    me: PublicKey,
    addr_overrides: BTreeMap<PublicKey, SocketAddr>,
    mut current: BTreeMap<PublicKey, String>,
) {
    let mut heads: Vec<_> = channels.iter().map(|c| c.head.subscribe()).collect();
    if heads.is_empty() {
        return;
    }
    loop {
        let changed = heads.iter_mut().map(|h| Box::pin(h.changed()));
        let (result, _, _) = futures_util::future::select_all(changed).await;
        if result.is_err() {
            return; // the node is stopping
        }
        let configs: Vec<Arc<ChannelConfig>> = channels
            .iter()
            .filter_map(|c| c.ledger.read().ok().and_then(|l| l.config().cloned()))
            .collect();
        let wanted = wanted_peers(&configs, me);
        if wanted == current {
            continue;
        }
        let keys: BTreeSet<PublicKey> = wanted.keys().copied().collect();
        let lost = net.set_allowed(&keys);
        if !lost.is_empty() {
            // New handshakes of a removed key are refused now; its live
            // connections are closed a little later, so that it still gets
            // the commit of the config that removed it (and says so).
            let net = net.clone();
            tokio::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_millis(REMOVAL_GRACE_MS)).await;
                net.disconnect_unallowed();
            });
        }
        for (k, endpoint) in &wanted {
            if current.get(k) == Some(endpoint) {
                continue;
            }
            let addr = addr_overrides
                .get(k)
                .copied()
                .or_else(|| endpoint.parse().ok());
            match addr {
                Some(a) => net.add_peer(*k, a),
                None => tracing::warn!(peer = %k.to_hex(), %endpoint, "no address for consenter"),
            }
        }
        tracing::info!(
            peers = wanted.len(),
            removed = lost.len(),
            "transport follows the committed configs"
        );
        current = wanted;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use productivist_engine::devnet::{DevNet, DevNetSpec};

    fn config(nodes: usize) -> (ChannelConfig, Vec<PublicKey>) {
        let mut spec = DevNetSpec::productivist(Some("members"));
        spec.nodes = nodes;
        let d = DevNet::generate(&spec).unwrap();
        let keys = d.nodes.iter().map(|n| n.2.public()).collect();
        (d.config, keys)
    }

    #[test]
    fn ids_stay_those_of_the_genesis_after_a_removal() {
        let (genesis, keys) = config(3);
        let m = members(&genesis, &genesis, keys[2]).unwrap();
        assert_eq!((m.me, m.voters.clone()), (3, vec![1, 2, 3]));
        let mut current = genesis.clone();
        current.consensus.consenters.remove(1);
        let m = members(&genesis, &current, keys[2]).unwrap();
        assert_eq!(m.me, 3, "node 3 keeps its id when node 2 leaves");
        assert_eq!(m.voters, vec![1, 3]);
        assert_eq!(m.peers, BTreeMap::from([(1, keys[0])]));
        assert_eq!(
            members(&genesis, &current, keys[1]),
            Err(MembersError::Removed(keys[1].to_hex()))
        );
        let stranger = productivist_engine::crypto::KeyPair::from_seed("stranger").public();
        assert_eq!(
            members(&genesis, &current, stranger),
            Err(MembersError::NotConsenter(stranger.to_hex()))
        );
    }

    #[test]
    fn wanted_peers_skip_channels_that_removed_this_node() {
        let (genesis, keys) = config(3);
        let mut without_0 = genesis.clone();
        without_0.consensus.consenters.remove(0);
        let all = wanted_peers(&[Arc::new(genesis.clone())], keys[0]);
        assert_eq!(all.keys().copied().collect::<Vec<_>>(), {
            let mut k = vec![keys[1], keys[2]];
            k.sort();
            k
        });
        assert!(wanted_peers(&[Arc::new(without_0.clone())], keys[0]).is_empty());
        let from_1 = wanted_peers(&[Arc::new(without_0)], keys[1]);
        assert_eq!(from_1.keys().copied().collect::<Vec<_>>(), vec![keys[2]]);
    }
}

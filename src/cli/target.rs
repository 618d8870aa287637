//! Where a command reads and writes: the embedded ledger in a data
//! directory, or a node's HTTP API (`--node URL`), with member keys from a
//! network directory. Commands are written once against [`Target`].

use super::CliError;
use productivist::client::{Client, ClusterChain};
use productivist::embedded::{Embedded, PUBLIC_CHANNEL};
use productivist::network::{LoadedNetwork, load_network};
use productivist::story::Chain;
use productivist_engine::block::TxResult;
use productivist_engine::devnet::Member;
use std::path::Path;

/// The ledger a command works on.
// One value per command run: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
pub enum Target {
    /// The embedded single-node ledger.
    Local(Embedded),
    /// A node of a cluster, through its API.
    Remote {
        /// The node's API.
        client: Client,
        /// Member keys and certificates.
        network: LoadedNetwork,
        /// The channel.
        channel: String,
        /// Who runs read-only calls: a member of the channel.
        reader: Option<Member>,
    },
}

impl Target {
    /// The embedded ledger in `data`, or the node at `node` (member keys
    /// from the network directory `network`).
    pub fn open(
        data: &Path,
        node: Option<&str>,
        network: &Path,
        channel: &str,
    ) -> Result<Target, CliError> {
        match node {
            None => {
                if channel != PUBLIC_CHANNEL {
                    return Err(CliError(format!(
                        "the embedded ledger serves channel \"public\", not {channel:?} (use --node)"
                    )));
                }
                let (emb, _) = Embedded::open_or_create(data)?;
                Ok(Target::Local(emb))
            }
            Some(url) => {
                let network_path = network;
                let network = load_network(network).map_err(|e| {
                    CliError(format!(
                        "member keys for --node come from --network DIR: {e}"
                    ))
                })?;
                // A private channel serves only its members: read as one of
                // them when its genesis is in the network directory.
                let genesis = network_dir_genesis(network_path, channel);
                let orgs: Vec<String> = productivist::channels::genesis_config_of(&genesis)
                    .map(|c| c.orgs.into_iter().map(|o| o.name).collect())
                    .unwrap_or_default();
                let reader = network
                    .members
                    .iter()
                    .find(|m| orgs.contains(&m.org))
                    .cloned();
                Ok(Target::Remote {
                    client: Client::new(url),
                    network,
                    channel: channel.to_string(),
                    reader,
                })
            }
        }
    }

    /// The network's members (with their keys).
    pub fn network(&self) -> &LoadedNetwork {
        match self {
            Target::Local(emb) => &emb.network,
            Target::Remote { network, .. } => network,
        }
    }

    /// The channel.
    pub fn channel(&self) -> &str {
        match self {
            Target::Local(_) => PUBLIC_CHANNEL,
            Target::Remote { channel, .. } => channel,
        }
    }

    /// The member `who` (`subject` or `subject@org`).
    pub fn member(&self, who: &str) -> Result<Member, CliError> {
        self.network()
            .member(who)
            .cloned()
            .ok_or_else(|| CliError(format!("no member {who:?} in this network")))
    }

    /// Someone to run read-only calls as: a member of the channel's first
    /// organization, or else the network's first member.
    pub fn reader(&self) -> Result<Member, CliError> {
        if let Target::Remote {
            reader: Some(m), ..
        } = self
        {
            return Ok(m.clone());
        }
        self.network()
            .members
            .first()
            .cloned()
            .ok_or_else(|| CliError("the network has no members".into()))
    }

    /// Commits one transaction; returns its block height and result.
    pub fn submit(&mut self, tx: Vec<u8>) -> Result<(u64, TxResult), CliError> {
        match self {
            Target::Local(emb) => {
                let block = emb.submit(vec![tx])?;
                let result = block
                    .results
                    .into_iter()
                    .next()
                    .ok_or_else(|| CliError("the block has no result".into()))?;
                Ok((block.header.height, result))
            }
            Target::Remote {
                client, channel, ..
            } => {
                let mut chain = ClusterChain {
                    client: client.clone(),
                    channel: channel.clone(),
                };
                let (result, height) = chain
                    .submit(vec![tx])
                    .map_err(CliError)?
                    .into_iter()
                    .next()
                    .ok_or_else(|| CliError("no result".into()))?;
                Ok((height, result))
            }
        }
    }

    /// A read-only call at the head, as `who`.
    pub fn query_as(
        &self,
        who: &Member,
        contract: &str,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, CliError> {
        match self {
            Target::Local(emb) => Ok(emb.query_as(who, contract, method, args)?),
            Target::Remote {
                client, channel, ..
            } => Ok(client
                .clone()
                .signed_by(who)
                .query(channel, contract, method, args)?),
        }
    }
}

fn network_dir_genesis(dir: &Path, channel: &str) -> std::path::PathBuf {
    dir.join("channels").join(channel).join("genesis.block")
}

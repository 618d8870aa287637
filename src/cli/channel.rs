//! `productivist channel create|join|remove-consenter`: private channels,
//! and consenter removal on a running channel.

use super::CliError;
use clap::Subcommand;
use productivist::channels::{ChannelSpec, create_channel, join_channel, remove_consenter};
use productivist::embedded::now_ms;
use productivist_engine::config::{ConsensusKind, Readers};
use std::path::PathBuf;

/// Private channels.
#[derive(Subcommand, Debug)]
pub enum ChannelCommand {
    /// Create a channel among some organizations of a network directory:
    /// its genesis is endorsed by each member organization's admin, and its
    /// consenters are those organizations' nodes.
    Create {
        /// The network directory (written by `init` or `up`).
        #[arg(long)]
        network: PathBuf,
        /// Channel id.
        #[arg(long)]
        id: String,
        /// Member organizations, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        orgs: Vec<String>,
        /// Consensus: raft or bft.
        #[arg(long, default_value = "raft")]
        consensus: String,
        /// Who may read it through the API: members or anyone.
        #[arg(long, default_value = "members")]
        readers: String,
    },
    /// Make a node host a channel (from its next start). Refused unless the
    /// node is one of the channel's consenters.
    Join {
        /// The node's TOML config.
        #[arg(long)]
        config: PathBuf,
        /// The channel's genesis block.
        #[arg(long)]
        genesis: PathBuf,
    },
    /// Remove a consenter from a running channel by a config update endorsed
    /// by the member organizations' admins (from the network directory).
    /// Running nodes follow it at once: the removed node's key is refused at
    /// the handshake and, on Raft, the leader removes it from the voters.
    RemoveConsenter {
        /// The network directory (holds the admins' keys).
        #[arg(long)]
        network: PathBuf,
        /// Channel id.
        #[arg(long, default_value = "public")]
        id: String,
        /// The consenter's name (as in the channel config, e.g. `node2`).
        #[arg(long)]
        consenter: String,
        /// A node's API, e.g. `http://127.0.0.1:8080`.
        #[arg(long)]
        node: String,
    },
}

/// Runs a `channel` command.
pub fn run(cmd: ChannelCommand) -> Result<(), CliError> {
    match cmd {
        ChannelCommand::Create {
            network,
            id,
            orgs,
            consensus,
            readers,
        } => {
            let consensus = ConsensusKind::parse(&consensus).ok_or_else(|| {
                CliError(format!(
                    "--consensus must be raft or bft, not {consensus:?}"
                ))
            })?;
            let readers = Readers::parse(&readers).ok_or_else(|| {
                CliError(format!(
                    "--readers must be members or anyone, not {readers:?}"
                ))
            })?;
            let spec = ChannelSpec {
                id,
                orgs,
                consensus,
                readers,
            };
            let path = create_channel(&network, &spec, now_ms())?;
            println!(
                "Created channel {:?} for {} ({}, readers: {})",
                spec.id,
                spec.orgs.join(", "),
                consensus.name(),
                readers.name()
            );
            println!("  genesis: {}", path.display());
            println!(
                "  next: productivist channel join --config NODE.toml --genesis {} (for each member node), then restart the node",
                path.display()
            );
            Ok(())
        }
        ChannelCommand::RemoveConsenter {
            network,
            id,
            consenter,
            node,
        } => {
            let version = remove_consenter(&network, &id, &consenter, &node, now_ms())?;
            println!(
                "Removed {consenter:?} from channel {id:?}: config version {version} committed"
            );
            Ok(())
        }
        ChannelCommand::Join { config, genesis } => {
            let id = join_channel(&config, &genesis)?;
            println!(
                "{} now hosts channel {id:?} (restart the node to open it)",
                config.display()
            );
            Ok(())
        }
    }
}

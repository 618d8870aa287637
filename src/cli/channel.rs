//! `productivist channel create|join`: private channels.

use super::CliError;
use clap::Subcommand;
use productivist::channels::{ChannelSpec, create_channel, join_channel};
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

//! `productivist init`.

use super::CliError;
use productivist::embedded::{genesis_block, now_ms};
use productivist::network::write_network;
use productivist_engine::config::ConsensusKind;
use productivist_engine::devnet::{DevNet, DevNetSpec};
use std::path::Path;

pub fn run(
    out: &Path,
    force: bool,
    channel: &str,
    consensus: &str,
    nodes: usize,
    base_port: u16,
    http_base_port: u16,
) -> Result<(), CliError> {
    let kind = ConsensusKind::parse(consensus).ok_or_else(|| {
        CliError(format!(
            "--consensus must be raft or bft, not {consensus:?}"
        ))
    })?;
    if !(1..=64).contains(&nodes) {
        return Err(CliError(format!("--nodes must be 1 to 64, not {nodes}")));
    }
    if kind == ConsensusKind::Bft && nodes < 4 {
        return Err(CliError(format!(
            "BFT needs n = 3f + 1 >= 4 nodes to tolerate a fault; got {nodes}"
        )));
    }
    if productivist::network::exists(out) && !force {
        return Err(CliError(format!(
            "{} already holds a network; refusing to overwrite keys without --force",
            out.display()
        )));
    }
    let mut spec = DevNetSpec::productivist(None);
    spec.channel = channel.to_string();
    spec.consensus = kind;
    spec.nodes = nodes;
    spec.base_port = base_port;
    let net = DevNet::generate(&spec)?;
    let genesis = genesis_block(&net, now_ms()).map_err(|e| CliError(e.to_string()))?;
    write_network(out, &net, &genesis, force)?;
    let node_configs =
        productivist::node::config::write_node_configs(out, &net, base_port, http_base_port)?;
    println!("Created a development network in {}", out.display());
    println!(
        "  channel {:?}, consensus {}, {} node(s)",
        channel,
        kind.name(),
        nodes
    );
    for org in &net.orgs {
        let members: Vec<String> = org
            .members
            .iter()
            .map(|m| {
                let roles: Vec<&str> = m.cert.value().roles.iter().map(|r| r.name()).collect();
                format!("{} ({})", m.name, roles.join(", "))
            })
            .collect();
        println!("  organization {}: {}", org.name, members.join("; "));
    }
    for path in &node_configs {
        println!("  node config: {}", path.display());
    }
    println!(
        "  genesis: {}",
        out.join("channels")
            .join(channel)
            .join("genesis.block")
            .display()
    );
    Ok(())
}

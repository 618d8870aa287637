//! `productivist node --config FILE`: runs one node until SIGINT/SIGTERM.

use super::CliError;
use productivist::node::config::NodeConfig;
use std::path::Path;

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

pub fn run(config: &Path) -> Result<(), CliError> {
    let cfg = NodeConfig::load(config)?;
    productivist::node::init_logging(&cfg.log_file)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("productivist-node")
        .build()
        .map_err(|e| CliError(format!("tokio runtime: {e}")))?;
    let result = runtime.block_on(productivist::node::run(cfg, shutdown_signal()));
    if let Err(e) = &result {
        tracing::error!("node stopped: {e}");
    }
    result.map_err(|e| CliError(e.to_string()))
}

/// `productivist tx ID --node URL`: the transaction as the node reports it.
pub fn tx_remote(url: &str, channel: &str, id: &str) -> Result<(), CliError> {
    let id = productivist_engine::crypto::Hash::from_hex(id)
        .ok_or_else(|| CliError(format!("{id:?} is not a transaction id (64 hex digits)")))?;
    let client = productivist::client::Client::new(url);
    match client.tx(channel, &id)? {
        None => Err(CliError(format!("no transaction {id} on {url}"))),
        Some(state) => {
            match state.committed {
                None => println!("transaction {id}: pending"),
                Some((height, index, result)) => {
                    println!("transaction {id}");
                    println!("  block   {height}, position {index}");
                    println!("  status  {}", result.status);
                    for e in &result.events {
                        println!(
                            "  event   {}.{} {}",
                            e.contract,
                            e.name,
                            super::render::bytes(&e.data)
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

/// `productivist verify SERIAL --node URL`: provenance through the API.
pub fn verify_remote(url: &str, serial: &str) -> Result<(), CliError> {
    use productivist_contracts::api::{CERTIFY, Provenance, SerialArgs};
    let client = productivist::client::Client::new(url);
    let args = borsh::to_vec(&SerialArgs {
        serial: serial.to_string(),
    })
    .map_err(|e| CliError(e.to_string()))?;
    let out = client.query("public", CERTIFY, "verify", &args)?;
    let provenance: Option<Provenance> =
        borsh::from_slice(&out).map_err(|e| CliError(format!("certify.verify output: {e}")))?;
    let p = provenance.ok_or_else(|| CliError(format!("serial {serial:?} is unknown")))?;
    println!("Verification of object {serial}:");
    for line in super::render::provenance(&p) {
        println!("  {line}");
    }
    Ok(())
}

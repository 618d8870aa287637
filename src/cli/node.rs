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

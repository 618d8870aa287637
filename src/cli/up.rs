//! `productivist up`: a local cluster of `productivist node` processes on
//! 127.0.0.1, the Productivist story told through their API, then the
//! nodes keep running until Ctrl-C. Running it again resumes from disk.

use super::CliError;
use super::render;
use productivist::client::{Client, ClusterChain};
use productivist::embedded::cast_of;
use productivist::network;
use productivist::node::config::NodeConfig;
use productivist::story;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Health polls per node before giving up (at [`HEALTH_POLL_MS`]).
const HEALTH_POLLS_MAX: u32 = 150;
const HEALTH_POLL_MS: u64 = 200;
/// How long nodes get to stop after SIGTERM before SIGKILL.
const STOP_WAIT_MS: u64 = 10_000;

/// Options of `up`.
pub struct UpOptions<'a> {
    pub dir: &'a Path,
    pub nodes: usize,
    pub consensus: &'a str,
    pub base_port: u16,
    pub http_base_port: u16,
    /// Stop the nodes once the story is told (scripts, tests).
    pub once: bool,
    /// Skip the story.
    pub no_story: bool,
}

struct Nodes {
    children: Vec<(String, Child)>,
}

impl Nodes {
    fn stop(&mut self) {
        for (_, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                terminate(child);
            }
        }
        let polls = STOP_WAIT_MS / 100;
        for _ in 0..polls {
            if self
                .children
                .iter_mut()
                .all(|(_, c)| !matches!(c.try_wait(), Ok(None)))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for (name, child) in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                eprintln!("{name} did not stop in time; killing it");
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop();
    }
}

fn terminate(child: &Child) {
    #[cfg(unix)]
    {
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) on a child we spawned and have not reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = child;
    }
}

fn node_configs(dir: &Path) -> Result<Vec<(PathBuf, NodeConfig)>, CliError> {
    let nodes_dir = dir.join("nodes");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&nodes_dir)
        .map_err(|e| CliError(format!("{}: {e}", nodes_dir.display())))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        let c = NodeConfig::load(&p)?;
        out.push((p, c));
    }
    if out.is_empty() {
        return Err(CliError(format!(
            "{} has no node configs; remove the directory and run `productivist up` again",
            nodes_dir.display()
        )));
    }
    Ok(out)
}

fn wait_ready(name: &str, client: &Client, child: &mut Child) -> Result<(), CliError> {
    for _ in 0..HEALTH_POLLS_MAX {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(CliError(format!(
                "{name} exited ({status}) while starting; see its log"
            )));
        }
        if let Ok(h) = client.health() {
            let led = h["channels"]
                .as_array()
                .is_some_and(|chs| chs.iter().all(|c| !c["leader"].is_null()));
            if led {
                return Ok(());
            }
        }
        std::thread::sleep(Duration::from_millis(HEALTH_POLL_MS));
    }
    Err(CliError(format!(
        "{name} not ready after {} ms",
        u64::from(HEALTH_POLLS_MAX) * HEALTH_POLL_MS
    )))
}

pub fn run(o: UpOptions<'_>) -> Result<(), CliError> {
    if !network::exists(o.dir) {
        super::init::run(
            o.dir,
            false,
            "public",
            o.consensus,
            o.nodes,
            o.base_port,
            o.http_base_port,
        )?;
    } else {
        println!("Resuming the cluster in {}", o.dir.display());
    }
    let configs = node_configs(o.dir)?;
    if configs.len() != o.nodes {
        println!(
            "  (the network has {} nodes; --nodes {} applies to a new network only)",
            configs.len(),
            o.nodes
        );
    }
    let exe = std::env::current_exe().map_err(|e| CliError(format!("own executable: {e}")))?;
    let mut nodes = Nodes {
        children: Vec::new(),
    };
    for (path, c) in &configs {
        if let Some(parent) = c.log_file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| CliError(format!("{}: {e}", parent.display())))?;
        }
        let stderr_path = c.log_file.with_extension("stderr");
        let stderr = std::fs::File::create(&stderr_path)
            .map_err(|e| CliError(format!("{}: {e}", stderr_path.display())))?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| CliError(format!("starting {}: {e}", c.name)))?;
        nodes.children.push((c.name.clone(), child));
    }
    let clients: Vec<Client> = configs
        .iter()
        .map(|(_, c)| Client::new(&format!("http://{}", c.http_listen)))
        .collect();
    for ((name, child), client) in nodes.children.iter_mut().zip(&clients) {
        wait_ready(name, client, child)?;
    }
    println!("{} node(s) up:", configs.len());
    for (_, c) in &configs {
        println!(
            "  {:<8} http://{}/v1  (quic {}, log {})",
            c.name,
            c.http_listen,
            c.listen,
            c.log_file.display()
        );
    }
    if let Some((_, c)) = configs.first() {
        println!("Web explorer: http://{}/", c.http_listen);
    }
    println!();
    if !o.no_story {
        tell_story(o.dir, &clients[0])?;
    }
    if o.once {
        nodes.stop();
        return Ok(());
    }
    println!();
    println!("Nodes are running; press Ctrl-C to stop them.");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError(format!("tokio runtime: {e}")))?;
    runtime.block_on(super::node::shutdown_signal());
    println!("Stopping the nodes...");
    nodes.stop();
    println!("Stopped. Run `productivist up` again to resume.");
    Ok(())
}

fn tell_story(dir: &Path, client: &Client) -> Result<(), CliError> {
    let net = network::load_network(dir)?;
    let config_path = dir.join("channels").join("public").join("config.json");
    let config: serde_json::Value = std::fs::read_to_string(&config_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let platform = config["market"]["platform_account"]
        .as_str()
        .map(str::to_string);
    let cast = cast_of(&net, platform)?;
    let latest = client.latest(&cast.channel)?;
    let mut chain = ClusterChain {
        client: client.clone().signed_by(cast.carla),
        channel: cast.channel.clone(),
    };
    println!(
        "The Productivist story, through {} (channel {:?} at height {}):",
        client.base(),
        cast.channel,
        latest.height
    );
    let outcome = story::tell(&mut chain, &cast, latest.height, true).map_err(CliError)?;
    println!();
    if let Some(p) = &outcome.provenance {
        println!("Verification of object {}:", outcome.serial);
        for line in render::provenance(p) {
            println!("  {line}");
        }
        println!(
            "  in a browser: {}/verify/{}",
            client.base().trim_end_matches('/'),
            outcome.serial
        );
    }
    println!();
    println!("Balances:");
    for (account, amount) in &outcome.balances {
        println!("  {account:<28} {amount:>6}");
    }
    let head = client.latest(&cast.channel)?;
    println!();
    println!(
        "Committed height {}, state root {}.",
        head.height,
        &head.state_root[..16.min(head.state_root.len())]
    );
    Ok(())
}

//! Command definitions and dispatch.

mod apps;
mod bench;
mod bench_cluster;
mod channel;
mod contract;
mod demo;
mod init;
mod inspect;
mod label;
mod node;
mod render;
mod sim;
mod target;
mod up;

use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// Productivist: a permissioned ledger for distributed manufacturing.
#[derive(Parser, Debug)]
#[command(name = "productivist", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a development network: organizations, member identities for
    /// every role, node keys and the public channel's genesis.
    Init {
        /// Directory to write the network to.
        #[arg(long)]
        out: PathBuf,
        /// Overwrite existing keys.
        #[arg(long)]
        force: bool,
        /// Channel id.
        #[arg(long, default_value = "public")]
        channel: String,
        /// Consensus: raft or bft.
        #[arg(long, default_value = "raft")]
        consensus: String,
        /// Number of consenter nodes.
        #[arg(long, default_value_t = 1)]
        nodes: usize,
        /// First QUIC port: node I listens on 127.0.0.1:base+I.
        #[arg(long, default_value_t = 7400)]
        base_port: u16,
        /// First HTTP port: node I serves its API on 127.0.0.1:http_base+I.
        #[arg(long, default_value_t = 8400)]
        http_base_port: u16,
    },
    /// Run one node of a cluster (config written by `init`).
    Node {
        /// The node's TOML config (DIR/nodes/NODE.toml).
        #[arg(long)]
        config: PathBuf,
    },
    /// Start a local cluster, tell the Productivist story through its API,
    /// and keep it running until Ctrl-C.
    Up {
        /// Number of nodes (for a new cluster).
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Consensus: raft or bft (for a new cluster).
        #[arg(long, default_value = "raft")]
        consensus: String,
        /// The cluster's directory.
        #[arg(long, default_value = ".productivist/cluster")]
        dir: PathBuf,
        /// First QUIC port (for a new cluster).
        #[arg(long, default_value_t = 7400)]
        base_port: u16,
        /// First HTTP port (for a new cluster).
        #[arg(long, default_value_t = 8400)]
        http_base_port: u16,
        /// Stop the nodes once the story is told.
        #[arg(long)]
        once: bool,
        /// Do not tell the story.
        #[arg(long)]
        no_story: bool,
    },
    /// Run the Productivist story on the embedded single-node ledger.
    Demo {
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
    },
    /// List blocks.
    Blocks {
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel.
        #[arg(long, default_value = "public")]
        channel: String,
        /// First height to list (default: the last `limit` blocks).
        #[arg(long)]
        from: Option<u64>,
        /// How many blocks.
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Also list each block's transactions.
        #[arg(long)]
        txs: bool,
    },
    /// Show a transaction by id, with its result and events.
    Tx {
        /// The transaction id (64 hex digits).
        id: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel.
        #[arg(long, default_value = "public")]
        channel: String,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
    },
    /// Show a state key: CONTRACT/KEY (the key as text, or 0x-prefixed hex).
    State {
        /// CONTRACT/KEY.
        key: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel.
        #[arg(long, default_value = "public")]
        channel: String,
        /// Also show the key's history.
        #[arg(long)]
        history: bool,
    },
    /// Run the seeded consensus simulator over a range of seeds.
    Sim {
        /// raft or bft.
        #[arg(long, default_value = "raft")]
        protocol: String,
        /// Cluster size.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Byzantine nodes (BFT only).
        #[arg(long, default_value_t = 0)]
        byzantine: usize,
        /// Seeds: A..B (B exclusive) or one seed.
        #[arg(long, default_value = "0..100")]
        seeds: String,
        /// Threads running seeds in parallel (the output does not depend on
        /// it: every seed is deterministic and reported in order).
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Payloads and validity rule: `ledger` (real signed transactions
        /// and the ledger's proposal check) or `checksum` (opaque bytes
        /// with a checksum, faster).
        #[arg(long, default_value = "ledger")]
        payloads: String,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Pre-production model authentication.
    #[command(subcommand)]
    Model(ModelCommand),
    /// WASM user contracts: deploy, upgrade, freeze, invoke, query.
    #[command(subcommand)]
    Contract(ContractCommand),
    /// Private channels: create one, or have a node join one.
    #[command(subcommand)]
    Channel(channel::ChannelCommand),
    /// Verify an object by its serial: the whole provenance chain.
    Verify {
        /// The unit's serial number.
        serial: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
    },
    /// A printable QR label for an object: the QR code holds its
    /// verification URL; the serial and model name are printed under it.
    Label {
        /// The unit's serial number.
        serial: String,
        /// Output file, .png or .svg.
        #[arg(long)]
        out: PathBuf,
        /// Where the explorer is reached: the QR holds BASE/verify/SERIAL.
        #[arg(long, default_value = "http://127.0.0.1:8400")]
        base_url: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Ask a node's API (http://HOST:PORT) for the model name instead of
        /// the local ledger.
        #[arg(long)]
        node: Option<String>,
    },
    /// A member's session token for private channels' explorer pages
    /// (signed with the member's key; paste it at http://NODE/session).
    Session {
        /// The member (NAME or NAME@ORG).
        #[arg(long = "as")]
        member: String,
        /// The network directory holding the member's key.
        #[arg(long, default_value = ".productivist/network")]
        network: PathBuf,
        /// How long the session lasts, 1 to 1440 minutes.
        #[arg(long, default_value_t = 60)]
        minutes: u64,
    },
}

#[derive(Subcommand, Debug)]
enum ContractCommand {
    /// Deploy a WASM module under a name (or upgrade it if the name exists),
    /// endorsed by organization admins per the channel's deploy policy.
    Deploy {
        /// The .wasm file.
        file: PathBuf,
        /// The contract's name.
        #[arg(long)]
        name: String,
        /// Channel (the embedded ledger serves `public`).
        #[arg(long, default_value = "public")]
        channel: String,
        /// Endorsing organizations, comma-separated (default: every admin).
        #[arg(long)]
        endorsers: Option<String>,
        /// The submitting member.
        #[arg(long = "as", default_value = "admin@productivist")]
        signer: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
        /// With --node: the network directory holding member keys.
        #[arg(long, default_value = ".productivist/cluster")]
        network: PathBuf,
    },
    /// Freeze a deployed contract: every call fails until an upgrade.
    Freeze {
        /// The contract's name.
        name: String,
        /// Endorsing organizations, comma-separated (default: every admin).
        #[arg(long)]
        endorsers: Option<String>,
        /// The submitting member.
        #[arg(long = "as", default_value = "admin@productivist")]
        signer: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel (the embedded ledger serves `public`).
        #[arg(long, default_value = "public")]
        channel: String,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
        /// With --node: the network directory holding member keys.
        #[arg(long, default_value = ".productivist/cluster")]
        network: PathBuf,
    },
    /// Call a contract method in a transaction.
    Invoke {
        /// The contract.
        name: String,
        /// The method.
        method: String,
        /// Arguments: text, or 0x-prefixed hex.
        #[arg(long, default_value = "")]
        args: String,
        /// The signing member.
        #[arg(long = "as", default_value = "carla")]
        signer: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel (the embedded ledger serves `public`).
        #[arg(long, default_value = "public")]
        channel: String,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
        /// With --node: the network directory holding member keys.
        #[arg(long, default_value = ".productivist/cluster")]
        network: PathBuf,
    },
    /// Read-only call at the head.
    Query {
        /// The contract.
        name: String,
        /// The method.
        method: String,
        /// Arguments: text, or 0x-prefixed hex.
        #[arg(long, default_value = "")]
        args: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel (the embedded ledger serves `public`).
        #[arg(long, default_value = "public")]
        channel: String,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
        /// With --node: the network directory holding member keys.
        #[arg(long, default_value = ".productivist/cluster")]
        network: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum ModelCommand {
    /// Register a model file (its blake3 hash) with license terms.
    Register {
        /// The model file (STL, 3MF, STEP: any bytes).
        file: PathBuf,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Version number.
        #[arg(long, default_value_t = 1)]
        version: u32,
        /// blake3 of the previous version's file.
        #[arg(long)]
        previous: Option<String>,
        /// Royalty per produced unit, in tokens.
        #[arg(long, default_value_t = 0)]
        royalty: u64,
        /// Most units that may be produced under license.
        #[arg(long, default_value_t = 1000)]
        max_units: u64,
        /// Allowed materials, comma-separated (default: any).
        #[arg(long)]
        materials: Option<String>,
        /// Allowed processes, comma-separated (default: any).
        #[arg(long)]
        processes: Option<String>,
        /// Allowed producer accounts, comma-separated (default: anyone).
        #[arg(long)]
        producers: Option<String>,
        /// The registering designer (a member of the network).
        #[arg(long = "as", default_value = "dora")]
        signer: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel (the embedded ledger serves `public`).
        #[arg(long, default_value = "public")]
        channel: String,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
        /// With --node: the network directory holding member keys.
        #[arg(long, default_value = ".productivist/cluster")]
        network: PathBuf,
    },
    /// Is this file a registered model? Hashes it locally and asks the ledger.
    Verify {
        /// The model file.
        file: PathBuf,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
        /// Channel (the embedded ledger serves `public`).
        #[arg(long, default_value = "public")]
        channel: String,
        /// Ask a node's API (http://HOST:PORT) instead of the local ledger.
        #[arg(long)]
        node: Option<String>,
        /// With --node: the network directory holding member keys.
        #[arg(long, default_value = ".productivist/cluster")]
        network: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Validation throughput against raw signature verification and
    /// sequential execution, in one run.
    Validate {
        /// Transfers in the block.
        #[arg(long, default_value_t = 10_000)]
        txs: usize,
        /// Validation threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Runs per measurement (the best is reported).
        #[arg(long, default_value_t = 5)]
        rounds: usize,
        /// Measure one phase only (`raw`, `parallel` or `sequential`), for
        /// profilers: two runs differing only in `--rounds` differ by exactly
        /// that many blocks of that phase.
        #[arg(long)]
        only: Option<bench::Phase>,
    },
    /// Load a cluster of node processes over HTTP: committed tx/s and
    /// commit latency, a CSV timeline and an SVG plot.
    Cluster(Box<bench_cluster::ClusterArgs>),
    /// One node's binary size, start time, memory and data growth.
    Footprint {
        /// Transfers of the load.
        #[arg(long, default_value_t = 20_000)]
        transfers: u64,
        /// Offered rate of the load, tx/s.
        #[arg(long, default_value_t = 4_000)]
        rate: u64,
    },
}

/// A command's failure: one line for a person.
#[derive(Debug)]
pub struct CliError(pub String);

impl std::fmt::Display for CliError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<E: std::error::Error> From<E> for CliError {
    fn from(e: E) -> Self {
        CliError(e.to_string())
    }
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Command::Init {
            out,
            force,
            channel,
            consensus,
            nodes,
            base_port,
            http_base_port,
        } => init::run(
            &out,
            force,
            &channel,
            &consensus,
            nodes,
            base_port,
            http_base_port,
        ),
        Command::Node { config } => node::run(&config),
        Command::Up {
            nodes,
            consensus,
            dir,
            base_port,
            http_base_port,
            once,
            no_story,
        } => up::run(up::UpOptions {
            dir: &dir,
            nodes,
            consensus: &consensus,
            base_port,
            http_base_port,
            once,
            no_story,
        }),
        Command::Demo { data } => demo::run(&data),
        Command::Blocks {
            data,
            channel,
            from,
            limit,
            txs,
        } => inspect::blocks(&data, &channel, from, limit, txs),
        Command::Tx {
            id,
            data,
            channel,
            node,
        } => match node {
            Some(url) => node::tx_remote(&url, &channel, &id),
            None => inspect::tx(&data, &channel, &id),
        },
        Command::State {
            key,
            data,
            channel,
            history,
        } => inspect::state(&data, &channel, &key, history),
        Command::Sim {
            protocol,
            nodes,
            byzantine,
            seeds,
            threads,
            payloads,
        } => sim::run(&protocol, nodes, byzantine, &seeds, threads, &payloads),
        Command::Bench(BenchCommand::Validate {
            txs,
            threads,
            rounds,
            only,
        }) => bench::validate(txs, threads, rounds, only),
        Command::Bench(BenchCommand::Cluster(args)) => bench_cluster::cluster(*args),
        Command::Bench(BenchCommand::Footprint { transfers, rate }) => {
            bench_cluster::footprint(transfers, rate)
        }
        Command::Model(ModelCommand::Register {
            file,
            name,
            version,
            previous,
            royalty,
            max_units,
            materials,
            processes,
            producers,
            signer,
            data,
            channel,
            node,
            network,
        }) => apps::model_register(
            &mut target::Target::open(&data, node.as_deref(), &network, &channel)?,
            apps::RegisterOptions {
                file: &file,
                name: &name,
                version,
                previous: previous.as_deref(),
                royalty,
                max_units,
                materials,
                processes,
                producers,
                signer: &signer,
            },
        ),
        Command::Model(ModelCommand::Verify {
            file,
            data,
            channel,
            node,
            network,
        }) => apps::model_verify(
            &target::Target::open(&data, node.as_deref(), &network, &channel)?,
            &file,
        ),
        Command::Label {
            serial,
            out,
            base_url,
            data,
            node,
        } => label::run(label::LabelOptions {
            serial: &serial,
            out: &out,
            base_url: &base_url,
            data: &data,
            node: node.as_deref(),
        }),
        Command::Session {
            member,
            network,
            minutes,
        } => label::session_token(&network, &member, minutes),
        Command::Verify { serial, data, node } => match node {
            Some(url) => node::verify_remote(&url, &serial),
            None => apps::verify(&data, &serial),
        },
        Command::Channel(cmd) => channel::run(cmd),
        Command::Contract(ContractCommand::Deploy {
            file,
            name,
            channel,
            endorsers,
            signer,
            data,
            node,
            network,
        }) => contract::deploy(
            &mut target::Target::open(&data, node.as_deref(), &network, &channel)?,
            &file,
            &name,
            &endorsers,
            &signer,
        ),
        Command::Contract(ContractCommand::Freeze {
            name,
            endorsers,
            signer,
            data,
            channel,
            node,
            network,
        }) => contract::freeze(
            &mut target::Target::open(&data, node.as_deref(), &network, &channel)?,
            &name,
            &endorsers,
            &signer,
        ),
        Command::Contract(ContractCommand::Invoke {
            name,
            method,
            args,
            signer,
            data,
            channel,
            node,
            network,
        }) => contract::invoke(
            &mut target::Target::open(&data, node.as_deref(), &network, &channel)?,
            &name,
            &method,
            &args,
            &signer,
        ),
        Command::Contract(ContractCommand::Query {
            name,
            method,
            args,
            data,
            channel,
            node,
            network,
        }) => contract::query(
            &target::Target::open(&data, node.as_deref(), &network, &channel)?,
            &name,
            &method,
            &args,
        ),
    }
}

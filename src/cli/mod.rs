//! Command definitions and dispatch.

mod apps;
mod bench;
mod demo;
mod init;
mod inspect;
mod render;
mod sim;

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
        /// Threads running seeds in parallel.
        #[arg(long, default_value_t = 2)]
        threads: usize,
    },
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Pre-production model authentication.
    #[command(subcommand)]
    Model(ModelCommand),
    /// Verify an object by its serial: the whole provenance chain.
    Verify {
        /// The unit's serial number.
        serial: String,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
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
    },
    /// Is this file a registered model? Hashes it locally and asks the ledger.
    Verify {
        /// The model file.
        file: PathBuf,
        /// Data directory.
        #[arg(long, default_value = productivist::embedded::DEFAULT_DATA_DIR)]
        data: PathBuf,
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
        } => init::run(&out, force, &channel, &consensus, nodes),
        Command::Demo { data } => demo::run(&data),
        Command::Blocks {
            data,
            channel,
            from,
            limit,
            txs,
        } => inspect::blocks(&data, &channel, from, limit, txs),
        Command::Tx { id, data, channel } => inspect::tx(&data, &channel, &id),
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
        } => sim::run(&protocol, nodes, byzantine, &seeds, threads),
        Command::Bench(BenchCommand::Validate {
            txs,
            threads,
            rounds,
        }) => bench::validate(txs, threads, rounds),
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
        }) => apps::model_register(
            &data,
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
        Command::Model(ModelCommand::Verify { file, data }) => apps::model_verify(&data, &file),
        Command::Verify { serial, data } => apps::verify(&data, &serial),
    }
}

//! The Productivist applications from the command line: model
//! authentication and object verification, on the embedded ledger.

use super::CliError;
use super::render;
use super::target::Target;
use productivist::embedded::{open_ledger, reader};
use productivist_contracts::api::*;
use productivist_engine::block::TxStatus;
use productivist_engine::crypto::Hash;
use std::path::Path;

fn list(values: &Option<String>) -> AllowList {
    match values {
        None => AllowList::Any,
        Some(v) => AllowList::Only(
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        ),
    }
}

fn hash_file(file: &Path) -> Result<Hash, CliError> {
    let bytes = std::fs::read(file).map_err(|e| CliError(format!("{}: {e}", file.display())))?;
    Ok(Hash::of(&bytes))
}

/// Options of `model register`.
pub struct RegisterOptions<'a> {
    pub file: &'a Path,
    pub name: &'a str,
    pub version: u32,
    pub previous: Option<&'a str>,
    pub royalty: u64,
    pub max_units: u64,
    pub materials: Option<String>,
    pub processes: Option<String>,
    pub producers: Option<String>,
    pub signer: &'a str,
}

pub fn model_register(target: &mut Target, o: RegisterOptions<'_>) -> Result<(), CliError> {
    let file_hash = hash_file(o.file)?;
    let previous = match o.previous {
        None => None,
        Some(p) => Some(
            Hash::from_hex(p)
                .ok_or_else(|| CliError(format!("--previous {p:?} is not a blake3 hash")))?,
        ),
    };
    let signer = target.member(o.signer)?;
    let args = RegisterModelArgs {
        file_hash,
        name: o.name.to_string(),
        version: o.version,
        previous,
        license: LicenseTerms {
            royalty_per_unit: o.royalty,
            producers: list(&o.producers),
            max_units: o.max_units,
            materials: list(&o.materials),
            processes: list(&o.processes),
        },
    };
    let nonce = productivist::embedded::now_ms();
    let tx = signer.call_bytes(
        target.channel(),
        MODEL,
        "register",
        borsh::to_vec(&args).map_err(|e| CliError(e.to_string()))?,
        nonce,
    );
    let (height, result) = target.submit(tx)?;
    match &result.status {
        TxStatus::Valid => {
            println!(
                "Registered {} as \"{}\" v{} by {} in block {} (blake3 {file_hash}).",
                o.file.display(),
                o.name,
                o.version,
                signer.account(),
                height
            );
            Ok(())
        }
        TxStatus::Invalid { code, reason } => {
            Err(CliError(format!("registration refused ({code}): {reason}")))
        }
    }
}

pub fn model_verify(target: &Target, file: &Path) -> Result<(), CliError> {
    let file_hash = hash_file(file)?;
    let who = target.reader()?;
    let out = target.query_as(
        &who,
        MODEL,
        "authenticate",
        &borsh::to_vec(&FileHashArgs { file_hash }).map_err(|e| CliError(e.to_string()))?,
    )?;
    let auth: Authenticity = borsh::from_slice(&out).map_err(|e| CliError(e.to_string()))?;
    match auth {
        Authenticity::Unknown => {
            println!(
                "{}: unknown (blake3 {file_hash} is not a registered model)",
                file.display()
            );
        }
        Authenticity::Authentic { model, fitness } => {
            println!("{}: AUTHENTIC", file.display());
            println!("  model     \"{}\" version {}", model.name, model.version);
            println!("  designer  {}", model.designer);
            println!(
                "  when      block {} at {} (tx {})",
                model.registered.height,
                render::time(model.registered.time_ms),
                model.registered.tx_id
            );
            let l = &model.license;
            let show = |a: &AllowList| match a {
                AllowList::Any => "any".to_string(),
                AllowList::Only(v) => v.join(", "),
            };
            println!(
                "  license   royalty {} per unit, up to {} units ({} licensed so far); producers: {}; materials: {}; processes: {}",
                l.royalty_per_unit,
                l.max_units,
                model.units_licensed,
                show(&l.producers),
                show(&l.materials),
                show(&l.processes)
            );
            if let Some(s) = &model.superseded_by {
                println!(
                    "  SUPERSEDED by version {} (blake3 {})",
                    s.version, s.file_hash
                );
            }
            for f in fitness {
                println!("  fitness   {:?}", f);
            }
        }
    }
    Ok(())
}

pub fn verify(data: &Path, serial: &str) -> Result<(), CliError> {
    let ledger = open_ledger(data, productivist::embedded::PUBLIC_CHANNEL)?;
    let network = productivist::network::load_network(&productivist::embedded::network_dir(data))?;
    let who = network
        .members
        .first()
        .ok_or_else(|| CliError("no members".into()))?;
    let identity = reader(&ledger, who)?;
    let p = productivist::apps::provenance(&ledger, &identity, serial)?;
    match p {
        None => Err(CliError(format!(
            "serial {serial:?} is unknown on this ledger"
        ))),
        Some(p) => {
            println!(
                "Object {serial} (checked at block {}):",
                p.checked_at_height
            );
            for line in render::provenance(&p) {
                println!("  {line}");
            }
            Ok(())
        }
    }
}

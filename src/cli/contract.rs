//! `productivist contract`: deploy, upgrade, freeze and call WASM user
//! contracts on the embedded ledger.

use super::CliError;
use productivist::embedded::{Embedded, PUBLIC_CHANNEL};
use productivist_contracts::wasm::lifecycle::{
    ContractRecord, LifecycleAction, NameArgs, WASM_CONTRACT, deploy_args, freeze_args,
};
use productivist_engine::block::TxStatus;
use productivist_engine::crypto::{KeyPair, unhex};
use productivist_engine::identity::Certificate;
use std::path::Path;

/// Arguments given as `0x`-hex bytes or as text.
pub fn parse_args(args: &str) -> Result<Vec<u8>, CliError> {
    match args.strip_prefix("0x") {
        Some(h) => unhex(h).ok_or_else(|| CliError(format!("--args {args:?}: bad hex"))),
        None => Ok(args.as_bytes().to_vec()),
    }
}

fn endorsers(
    emb: &Embedded,
    orgs: &Option<String>,
) -> Result<Vec<(Certificate, KeyPair)>, CliError> {
    let admins: Vec<_> = emb
        .network
        .members
        .iter()
        .filter(|m| m.name == "admin")
        .collect();
    let chosen: Vec<_> = match orgs {
        None => admins,
        Some(list) => {
            let wanted: Vec<&str> = list.split(',').map(str::trim).collect();
            for w in &wanted {
                if !admins.iter().any(|m| m.org == *w) {
                    return Err(CliError(format!(
                        "no admin of organization {w:?} in this network"
                    )));
                }
            }
            admins
                .into_iter()
                .filter(|m| wanted.contains(&m.org.as_str()))
                .collect()
        }
    };
    Ok(chosen
        .into_iter()
        .map(|m| (m.cert.clone(), m.key.clone()))
        .collect())
}

fn info(emb: &Embedded, name: &str) -> Result<Option<ContractRecord>, CliError> {
    let who = emb
        .network
        .members
        .first()
        .ok_or_else(|| CliError("no members".into()))?;
    let args = borsh::to_vec(&NameArgs {
        name: name.to_string(),
    })
    .map_err(|e| CliError(e.to_string()))?;
    match emb.query_as(who, WASM_CONTRACT, "info", &args) {
        Ok(out) => borsh::from_slice(&out)
            .map(Some)
            .map_err(|e| CliError(format!("_wasm.info output: {e}"))),
        // `info` refuses an unknown name: that is the answer "not deployed".
        Err(e) if e.to_string().contains("no contract") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn submit(
    emb: &mut Embedded,
    signer: &str,
    contract: &str,
    method: &str,
    args: Vec<u8>,
) -> Result<(u64, Vec<u8>), CliError> {
    let member = emb
        .network
        .member(signer)
        .ok_or_else(|| CliError(format!("no member {signer:?} in this network")))?
        .clone();
    let tx = member.call_bytes(
        PUBLIC_CHANNEL,
        contract,
        method,
        args,
        productivist::embedded::now_ms(),
    );
    let block = emb.submit(vec![tx])?;
    let result = &block.results[0];
    match &result.status {
        TxStatus::Valid => Ok((block.header.height, result.output.clone())),
        TxStatus::Invalid { code, reason } => Err(CliError(format!(
            "{contract}.{method} refused ({code}): {reason}"
        ))),
    }
}

pub fn deploy(
    data: &Path,
    file: &Path,
    name: &str,
    orgs: &Option<String>,
    signer: &str,
) -> Result<(), CliError> {
    let code = std::fs::read(file).map_err(|e| CliError(format!("{}: {e}", file.display())))?;
    let (mut emb, _) = Embedded::open_or_create(data)?;
    let (action, method, version) = match info(&emb, name)? {
        None => (LifecycleAction::Deploy, "deploy", 1),
        Some(r) => (LifecycleAction::Upgrade, "upgrade", r.version + 1),
    };
    let endorsers = endorsers(&emb, orgs)?;
    let args = deploy_args(
        action,
        PUBLIC_CHANNEL,
        name,
        version,
        code.clone(),
        &endorsers,
    );
    let (height, _) = submit(&mut emb, signer, WASM_CONTRACT, method, args)?;
    println!(
        "{} {name} version {version} ({} bytes, blake3 {}) in block {height}, endorsed by {} organization admin(s).",
        if version == 1 { "Deployed" } else { "Upgraded" },
        code.len(),
        productivist_engine::crypto::Hash::of(&code),
        endorsers.len()
    );
    Ok(())
}

pub fn freeze(
    data: &Path,
    name: &str,
    orgs: &Option<String>,
    signer: &str,
) -> Result<(), CliError> {
    let (mut emb, _) = Embedded::open_or_create(data)?;
    let record =
        info(&emb, name)?.ok_or_else(|| CliError(format!("no contract {name:?} is deployed")))?;
    let endorsers = endorsers(&emb, orgs)?;
    let args = freeze_args(
        PUBLIC_CHANNEL,
        name,
        record.version,
        record.code_hash,
        &endorsers,
    );
    let (height, _) = submit(&mut emb, signer, WASM_CONTRACT, "freeze", args)?;
    println!("Froze {name} version {} in block {height}.", record.version);
    Ok(())
}

pub fn invoke(
    data: &Path,
    name: &str,
    method: &str,
    args: &str,
    signer: &str,
) -> Result<(), CliError> {
    let args = parse_args(args)?;
    let (mut emb, _) = Embedded::open_or_create(data)?;
    let (height, output) = submit(&mut emb, signer, name, method, args)?;
    println!(
        "{name}.{method}: valid in block {height}; output {}",
        super::render::bytes(&output)
    );
    Ok(())
}

pub fn query(data: &Path, name: &str, method: &str, args: &str) -> Result<(), CliError> {
    let args = parse_args(args)?;
    let (emb, _) = Embedded::open_or_create(data)?;
    if name == "_wasm" && method == "info" {
        let record = info(&emb, std::str::from_utf8(&args).unwrap_or_default())?;
        println!("{record:?}");
        return Ok(());
    }
    let who = emb
        .network
        .members
        .first()
        .ok_or_else(|| CliError("no members".into()))?;
    let out = emb.query_as(who, name, method, &args)?;
    println!("{}", super::render::bytes(&out));
    Ok(())
}

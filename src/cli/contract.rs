//! `productivist contract`: deploy, upgrade, freeze and call WASM user
//! contracts, on the embedded ledger or through a node (`--node`).

use super::CliError;
use super::target::Target;
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
    target: &Target,
    orgs: &Option<String>,
) -> Result<Vec<(Certificate, KeyPair)>, CliError> {
    let admins: Vec<_> = target
        .network()
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

fn info(target: &Target, name: &str) -> Result<Option<ContractRecord>, CliError> {
    let who = target.reader()?;
    let args = borsh::to_vec(&NameArgs {
        name: name.to_string(),
    })
    .map_err(|e| CliError(e.to_string()))?;
    match target.query_as(&who, WASM_CONTRACT, "info", &args) {
        Ok(out) => borsh::from_slice(&out)
            .map(Some)
            .map_err(|e| CliError(format!("_wasm.info output: {e}"))),
        // `info` refuses an unknown name: that is the answer "not deployed".
        Err(e) if e.to_string().contains("no contract") => Ok(None),
        Err(e) => Err(e),
    }
}

fn submit(
    target: &mut Target,
    signer: &str,
    contract: &str,
    method: &str,
    args: Vec<u8>,
) -> Result<(u64, Vec<u8>), CliError> {
    let member = target.member(signer)?;
    let tx = member.call_bytes(
        target.channel(),
        contract,
        method,
        args,
        productivist::embedded::now_ms(),
    );
    let (height, result) = target.submit(tx)?;
    match &result.status {
        TxStatus::Valid => Ok((height, result.output.clone())),
        TxStatus::Invalid { code, reason } => Err(CliError(format!(
            "{contract}.{method} refused ({code}): {reason}"
        ))),
    }
}

pub fn deploy(
    target: &mut Target,
    file: &Path,
    name: &str,
    orgs: &Option<String>,
    signer: &str,
) -> Result<(), CliError> {
    let code = std::fs::read(file).map_err(|e| CliError(format!("{}: {e}", file.display())))?;
    let (action, method, version) = match info(target, name)? {
        None => (LifecycleAction::Deploy, "deploy", 1),
        Some(r) => (LifecycleAction::Upgrade, "upgrade", r.version + 1),
    };
    let endorsers = endorsers(target, orgs)?;
    let channel = target.channel().to_string();
    let args = deploy_args(action, &channel, name, version, code.clone(), &endorsers);
    let (height, _) = submit(target, signer, WASM_CONTRACT, method, args)?;
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
    target: &mut Target,
    name: &str,
    orgs: &Option<String>,
    signer: &str,
) -> Result<(), CliError> {
    let record =
        info(target, name)?.ok_or_else(|| CliError(format!("no contract {name:?} is deployed")))?;
    let endorsers = endorsers(target, orgs)?;
    let channel = target.channel().to_string();
    let args = freeze_args(&channel, name, record.version, record.code_hash, &endorsers);
    let (height, _) = submit(target, signer, WASM_CONTRACT, "freeze", args)?;
    println!("Froze {name} version {} in block {height}.", record.version);
    Ok(())
}

pub fn invoke(
    target: &mut Target,
    name: &str,
    method: &str,
    args: &str,
    signer: &str,
) -> Result<(), CliError> {
    let args = parse_args(args)?;
    let (height, output) = submit(target, signer, name, method, args)?;
    println!(
        "{name}.{method}: valid in block {height}; output {}",
        super::render::bytes(&output)
    );
    Ok(())
}

pub fn query(target: &Target, name: &str, method: &str, args: &str) -> Result<(), CliError> {
    let args = parse_args(args)?;
    if name == "_wasm" && method == "info" {
        let record = info(target, std::str::from_utf8(&args).unwrap_or_default())?;
        println!("{record:?}");
        return Ok(());
    }
    let who = target.reader()?;
    let out = target.query_as(&who, name, method, &args)?;
    println!("{}", super::render::bytes(&out));
    Ok(())
}

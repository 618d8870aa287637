//! `productivist label SERIAL --out label.png|label.svg`: a printable QR
//! label leading to the object's verification page, and `productivist
//! session --as NAME`: a member's session token for private channels'
//! explorer pages.

use super::CliError;
use productivist::apps;
use productivist::embedded::{PUBLIC_CHANNEL, now_ms, open_ledger, reader};
use productivist::explorer::{label, session};
use std::path::Path;

/// Options of `label`.
pub struct LabelOptions<'a> {
    pub serial: &'a str,
    pub out: &'a Path,
    pub base_url: &'a str,
    pub data: &'a Path,
    pub node: Option<&'a str>,
}

fn model_name_local(data: &Path, serial: &str) -> Result<Option<String>, CliError> {
    let ledger = open_ledger(data, PUBLIC_CHANNEL)?;
    let network = productivist::network::load_network(&productivist::embedded::network_dir(data))?;
    let who = network
        .members
        .first()
        .ok_or_else(|| CliError("no members".into()))?;
    let identity = reader(&ledger, who)?;
    let p = apps::provenance(&ledger, &identity, serial)?
        .ok_or_else(|| CliError(format!("serial {serial:?} is unknown on this ledger")))?;
    Ok(p.model.map(|m| m.name))
}

fn model_name_remote(url: &str, serial: &str) -> Result<Option<String>, CliError> {
    use productivist_contracts::api::{CERTIFY, Provenance, SerialArgs};
    let client = productivist::client::Client::new(url);
    let args = borsh::to_vec(&SerialArgs {
        serial: serial.to_string(),
    })
    .map_err(|e| CliError(e.to_string()))?;
    let out = client.query(PUBLIC_CHANNEL, CERTIFY, "verify", &args)?;
    let p: Option<Provenance> =
        borsh::from_slice(&out).map_err(|e| CliError(format!("certify.verify output: {e}")))?;
    let p = p.ok_or_else(|| CliError(format!("serial {serial:?} is unknown on {url}")))?;
    Ok(p.model.map(|m| m.name))
}

pub fn run(o: LabelOptions<'_>) -> Result<(), CliError> {
    let ext = o
        .out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let png = match ext.as_deref() {
        Some("png") => true,
        Some("svg") => false,
        _ => {
            return Err(CliError(format!(
                "--out {}: the label is written as .png or .svg",
                o.out.display()
            )));
        }
    };
    if !(o.base_url.starts_with("http://") || o.base_url.starts_with("https://")) {
        return Err(CliError(format!(
            "--base-url {:?} must start with http:// or https://",
            o.base_url
        )));
    }
    let name = match o.node {
        Some(url) => model_name_remote(url, o.serial)?,
        None => model_name_local(o.data, o.serial)?,
    }
    .unwrap_or_else(|| "(unregistered model)".into());
    let url = label::verify_url(o.base_url, o.serial);
    let bytes = if png {
        label::label_png(&url, o.serial, &name)?
    } else {
        label::label_svg(&url, o.serial, &name)?.into_bytes()
    };
    std::fs::write(o.out, bytes).map_err(|e| CliError(format!("{}: {e}", o.out.display())))?;
    println!(
        "Label for {} (\"{name}\") written to {}; its QR code leads to {url}",
        o.serial,
        o.out.display()
    );
    Ok(())
}

/// `session --as NAME [--network DIR] [--minutes M]`.
pub fn session_token(network_dir: &Path, name: &str, minutes: u64) -> Result<(), CliError> {
    let ttl_ms = minutes
        .checked_mul(60_000)
        .filter(|ms| *ms > 0 && *ms <= session::SESSION_TTL_MS_MAX)
        .ok_or_else(|| CliError("--minutes must be 1 to 1440".into()))?;
    let network = productivist::network::load_network(network_dir)?;
    let member = network
        .member(name)
        .ok_or_else(|| CliError(format!("no member {name:?} in {}", network_dir.display())))?;
    let token = session::sign_token(&member.cert, &member.key, now_ms() + ttl_ms);
    println!("{token}");
    eprintln!(
        "Session token for {} valid {minutes} min: paste it at http://NODE/session.",
        member.account()
    );
    Ok(())
}

//! `productivist demo`: the Productivist story on the embedded ledger.

use super::CliError;
use super::render;
use productivist::embedded::{Embedded, EmbeddedChain, cast_of, reader};
use productivist::story;
use std::path::Path;

pub fn run(data: &Path) -> Result<(), CliError> {
    let (emb, created) = Embedded::open_or_create(data)?;
    let Embedded {
        network,
        mut ledger,
        node_key,
        ..
    } = emb;
    if created {
        println!(
            "Created a development network (6 organizations, members for every role) in {}",
            productivist::embedded::network_dir(data).display()
        );
    }
    let head = ledger
        .head()
        .ok_or_else(|| CliError("the ledger has no genesis".into()))?;
    println!(
        "Embedded ledger in {}: channel \"public\" at height {}, state root {}",
        data.display(),
        head.height,
        &ledger.state_root().to_hex()[..16]
    );
    println!();
    let platform = ledger
        .config()
        .and_then(|c| c.market.platform_account.clone());
    let cast = cast_of(&network, platform)?;
    let reader = reader(&ledger, cast.carla)?;
    let run = head.height;
    let mut chain = EmbeddedChain {
        ledger: &mut ledger,
        proposer: node_key.public(),
        reader,
    };
    let outcome = story::tell(&mut chain, &cast, run, true).map_err(CliError)?;
    println!();
    if let Some(p) = &outcome.provenance {
        println!(
            "Verification of object {} (what its QR label leads to):",
            outcome.serial
        );
        for line in render::provenance(p) {
            println!("  {line}");
        }
    }
    println!();
    println!("Balances:");
    for (account, amount) in &outcome.balances {
        println!("  {account:<28} {amount:>6}");
    }
    let head = ledger.head().ok_or_else(|| CliError("no head".into()))?;
    println!();
    println!(
        "Committed height {}, state root {}. Inspect with `productivist blocks --txs`, or verify a part with `productivist verify {}`.",
        head.height,
        &ledger.state_root().to_hex()[..16],
        outcome.serial
    );
    Ok(())
}

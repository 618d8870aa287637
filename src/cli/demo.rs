//! `productivist demo`: the Productivist story on the embedded ledger.

use super::CliError;
use super::render;
use productivist::embedded::Embedded;
use std::path::Path;

pub fn run(data: &Path) -> Result<(), CliError> {
    let (mut emb, created) = Embedded::open_or_create(data)?;
    if created {
        println!(
            "Created a development network in {}",
            productivist::embedded::network_dir(data).display()
        );
    }
    let head = emb
        .ledger
        .head()
        .ok_or_else(|| CliError("ledger has no genesis".into()))?;
    println!(
        "Ledger in {} at height {}, state root {}",
        data.display(),
        head.height,
        emb.ledger.state_root()
    );
    let block = emb.submit(Vec::new())?;
    println!("{}", render::block_line(&block));
    Ok(())
}

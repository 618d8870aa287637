//! System contracts: the channel config (`_config`) and the certificate
//! registry (`_certs`).
//!
//! `_config.genesis` installs the first config (height 0, endorsed by an
//! admin of every member organization); `_config.update` replaces it,
//! endorsed according to the current config's `config_update` policy. A new
//! config takes effect from the next block.

use crate::codec;
use crate::config::ChannelConfig;
use crate::contract::{Context, Contract, ContractError, decode_args, refuse, state_key};
use crate::crypto::{Hash, KeyPair};
use crate::identity::Certificate;
use crate::policy::{Endorsement, Policy, check_endorsements};
use crate::tx::{SignerRef, Transaction, TxBody, sign_tx};
use borsh::{BorshDeserialize, BorshSerialize};

/// The config contract's name.
pub const CONFIG_CONTRACT: &str = "_config";
/// The certificate registry's name.
pub const CERTS_CONTRACT: &str = "_certs";
/// Key of the current config (its exact endorsed bytes) in `_config`.
pub const CONFIG_KEY: &[u8] = b"current";

/// Arguments of `_config.genesis` and `_config.update`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ConfigUpdate {
    /// The new config's exact borsh bytes; endorsers sign
    /// `ChannelConfig::endorsement_digest(config)`.
    pub config: Vec<u8>,
    /// Endorsements of the new config.
    pub endorsements: Vec<Endorsement>,
}

/// The full state key of the current config.
pub fn config_state_key() -> Vec<u8> {
    state_key(CONFIG_CONTRACT, CONFIG_KEY)
}

/// The full state key of a registered certificate.
pub fn cert_state_key(cert_id: &Hash) -> Vec<u8> {
    state_key(CERTS_CONTRACT, &cert_id.0)
}

/// The `_config` system contract.
pub struct ConfigContract;

impl Contract for ConfigContract {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        if method == "current" {
            // Read-only: the current config's exact endorsed bytes, which a
            // client edits into the next version (`channel remove-consenter`).
            return ctx
                .get(CONFIG_KEY)?
                .ok_or_else(|| ContractError::Refused("no config (genesis missing)".into()));
        }
        let update: ConfigUpdate = decode_args(args)?;
        let new: ChannelConfig = codec::decode("channel config", &update.config)
            .map_err(|e| ContractError::BadArguments(e.to_string()))?;
        new.validate()
            .map_err(|e| ContractError::BadArguments(e.to_string()))?;
        if new.channel_id != ctx.block().channel {
            return refuse(format!(
                "config is for channel {:?}, not {:?}",
                new.channel_id,
                ctx.block().channel
            ));
        }
        let digest = ChannelConfig::endorsement_digest(&update.config);
        let now_ms = ctx.block().timestamp_ms;
        match method {
            "genesis" => {
                if ctx.block().height != 0 || ctx.get(CONFIG_KEY)?.is_some() {
                    return refuse("genesis is only allowed in block 0");
                }
                if new.version != 0 || &new != ctx.config() {
                    return refuse("the genesis config must be version 0 and the block's config");
                }
                // Every organization consents to be part of the channel.
                let policy = Policy::all_admins(&new.org_names());
                check_endorsements(
                    &policy,
                    &digest,
                    &update.endorsements,
                    &new.orgs,
                    &new.revocations,
                    now_ms,
                )
                .map_err(|e| ContractError::PolicyNotSatisfied(e.to_string()))?;
            }
            "update" => {
                let current = ctx.config().clone();
                if ctx.get(CONFIG_KEY)?.is_none() {
                    return refuse("no config to update (genesis missing)");
                }
                if new.version != current.version + 1 {
                    return refuse(format!(
                        "config version must be {}, got {}",
                        current.version + 1,
                        new.version
                    ));
                }
                current
                    .check_transition(&new)
                    .map_err(|e| ContractError::BadArguments(e.to_string()))?;
                check_endorsements(
                    &current.policies.config_update,
                    &digest,
                    &update.endorsements,
                    &current.orgs,
                    &current.revocations,
                    now_ms,
                )
                .map_err(|e| ContractError::PolicyNotSatisfied(e.to_string()))?;
            }
            other => {
                return Err(ContractError::BadArguments(format!(
                    "unknown method {other:?}"
                )));
            }
        }
        ctx.put(CONFIG_KEY, &update.config)?;
        ctx.emit("config_updated", &new.version.to_le_bytes())?;
        Ok(Vec::new())
    }
}

/// Builds a config transaction (`genesis` or `update`): the config endorsed
/// by each `(certificate, key)` in `endorsers`, submitted by `submitter`.
pub fn config_tx(
    method: &str,
    config: &ChannelConfig,
    endorsers: &[(Certificate, KeyPair)],
    submitter: (&Certificate, &KeyPair),
    nonce: u64,
) -> Transaction {
    let bytes = codec::encode(config);
    let digest = ChannelConfig::endorsement_digest(&bytes);
    let endorsements = endorsers
        .iter()
        .map(|(c, k)| Endorsement::sign(c.clone(), k, &digest))
        .collect();
    let args = codec::encode(&ConfigUpdate {
        config: bytes,
        endorsements,
    });
    sign_tx(
        TxBody {
            channel: config.channel_id.clone(),
            signer: SignerRef::Certificate(submitter.0.clone()),
            nonce,
            contract: CONFIG_CONTRACT.into(),
            method: method.into(),
            args,
        },
        submitter.1,
    )
}

/// Extracts the config a genesis transaction proposes, so the ledger can
/// admit the genesis transaction itself.
pub fn genesis_config(tx: &Transaction) -> Result<ChannelConfig, String> {
    let body = tx.value();
    if body.contract != CONFIG_CONTRACT || body.method != "genesis" {
        return Err("the genesis block must hold one _config.genesis transaction".into());
    }
    let update: ConfigUpdate =
        codec::decode("config update", &body.args).map_err(|e| e.to_string())?;
    let config: ChannelConfig =
        codec::decode("channel config", &update.config).map_err(|e| e.to_string())?;
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

//! `_wasm`: the system contract that deploys, upgrades and freezes WASM
//! contracts, under the channel's deploy policy.
//!
//! Every action carries endorsements, by admins of the organizations the
//! channel's `policies.deploy` names, of the digest of a
//! [`LifecycleIntent`] `(action, channel, name, code hash, version)`. The
//! code is stored once per blake3 hash in `_wasm`'s key space; the record of
//! a contract names its current code, version and whether it is frozen. The
//! contract's own state lives under its name, so an upgrade keeps it.
//!
//! Keys of `_wasm`:
//! - `c/{name}` → [`ContractRecord`]
//! - `code/{blake3}` → the module's bytes
//!
//! Methods: `deploy` and `upgrade` ([`DeployArgs`]), `freeze`
//! ([`FreezeArgs`]), `info` ([`NameArgs`], returns the record).

use super::WasmHost;
use super::validate::ValidateError;
use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::Hash;
use productivist_engine::codec;
use productivist_engine::contract::{
    Context, Contract, ContractError, decode_args, refuse, state_key,
};
use productivist_engine::crypto::{KeyPair, domain};
use productivist_engine::identity::{Certificate, check_name};
use productivist_engine::policy::{Endorsement, check_endorsements};
use std::sync::Arc;

/// The lifecycle contract's name.
pub const WASM_CONTRACT: &str = "_wasm";

/// Tag that keeps a lifecycle endorsement from meaning anything else.
const INTENT_TAG: &str = "productivist/v1/wasm-lifecycle";

/// What endorsers agree to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum LifecycleAction {
    /// First version of a new contract.
    Deploy = 0,
    /// A new version of an existing contract (state kept).
    Upgrade = 1,
    /// Stop all calls to the current version.
    Freeze = 2,
}

/// The endorsed statement: "on `channel`, `action` contract `name` at
/// `version` running the code whose blake3 is `code_hash`".
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LifecycleIntent {
    /// The action.
    pub action: LifecycleAction,
    /// The channel (an endorsement is not valid on another one).
    pub channel: String,
    /// The contract's name.
    pub name: String,
    /// blake3 of the module (the current one, for a freeze).
    pub code_hash: Hash,
    /// The version deployed, upgraded to, or frozen.
    pub version: u64,
}

impl LifecycleIntent {
    /// The digest endorsers sign.
    pub fn digest(&self) -> Hash {
        Hash::tagged(domain::ENDORSEMENT, &codec::encode(&(INTENT_TAG, self)))
    }
}

/// Arguments of `deploy` and `upgrade`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DeployArgs {
    /// The contract's name.
    pub name: String,
    /// 1 for a deploy; the current version + 1 for an upgrade.
    pub version: u64,
    /// The module.
    pub code: Vec<u8>,
    /// Endorsements of the [`LifecycleIntent`].
    pub endorsements: Vec<Endorsement>,
}

/// Arguments of `freeze`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FreezeArgs {
    /// The contract's name.
    pub name: String,
    /// Its current version.
    pub version: u64,
    /// Endorsements of the [`LifecycleIntent`] (with the current code hash).
    pub endorsements: Vec<Endorsement>,
}

/// Arguments of `info`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct NameArgs {
    /// The contract's name.
    pub name: String,
}

/// A deployed contract.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ContractRecord {
    /// blake3 of its current module.
    pub code_hash: Hash,
    /// Its version, from 1.
    pub version: u64,
    /// Whether calls are refused.
    pub frozen: bool,
    /// Height of the block that last changed it.
    pub height: u64,
}

/// Payload of the `deployed`, `upgraded` and `frozen` events.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LifecycleEvent {
    /// The contract.
    pub name: String,
    /// Its code.
    pub code_hash: Hash,
    /// Its version.
    pub version: u64,
}

/// Key of a contract's record in `_wasm`.
pub fn record_key(name: &str) -> Vec<u8> {
    [b"c/".as_slice(), name.as_bytes()].concat()
}

/// Key of stored code in `_wasm`.
pub fn code_key(code_hash: &Hash) -> Vec<u8> {
    [b"code/".as_slice(), &code_hash.0].concat()
}

/// Full state key of a contract's record.
pub fn record_state_key(name: &str) -> Vec<u8> {
    state_key(WASM_CONTRACT, &record_key(name))
}

/// Full state key of stored code.
pub fn code_state_key(code_hash: &Hash) -> Vec<u8> {
    state_key(WASM_CONTRACT, &code_key(code_hash))
}

/// Builds `deploy`/`upgrade` arguments endorsed by `endorsers`.
pub fn deploy_args(
    action: LifecycleAction,
    channel: &str,
    name: &str,
    version: u64,
    code: Vec<u8>,
    endorsers: &[(Certificate, KeyPair)],
) -> Vec<u8> {
    let intent = LifecycleIntent {
        action,
        channel: channel.to_string(),
        name: name.to_string(),
        code_hash: Hash::of(&code),
        version,
    };
    let digest = intent.digest();
    codec::encode(&DeployArgs {
        name: name.to_string(),
        version,
        code,
        endorsements: endorse(&digest, endorsers),
    })
}

/// Builds `freeze` arguments endorsed by `endorsers`.
pub fn freeze_args(
    channel: &str,
    name: &str,
    version: u64,
    code_hash: Hash,
    endorsers: &[(Certificate, KeyPair)],
) -> Vec<u8> {
    let intent = LifecycleIntent {
        action: LifecycleAction::Freeze,
        channel: channel.to_string(),
        name: name.to_string(),
        code_hash,
        version,
    };
    codec::encode(&FreezeArgs {
        name: name.to_string(),
        version,
        endorsements: endorse(&intent.digest(), endorsers),
    })
}

fn endorse(digest: &Hash, endorsers: &[(Certificate, KeyPair)]) -> Vec<Endorsement> {
    endorsers
        .iter()
        .map(|(c, k)| Endorsement::sign(c.clone(), k, digest))
        .collect()
}

/// The `_wasm` system contract.
pub struct WasmLifecycle {
    host: Arc<WasmHost>,
}

impl WasmLifecycle {
    /// The lifecycle contract validating with `host`'s engine.
    pub fn new(host: Arc<WasmHost>) -> WasmLifecycle {
        WasmLifecycle { host }
    }
}

fn load_record(ctx: &mut dyn Context, name: &str) -> Result<Option<ContractRecord>, ContractError> {
    match ctx.get(&record_key(name))? {
        None => Ok(None),
        Some(bytes) => codec::decode("contract record", &bytes)
            .map(Some)
            .map_err(|e| ContractError::Storage(e.to_string())),
    }
}

fn check_contract_name(name: &str) -> Result<(), ContractError> {
    check_name("contract name", name).map_err(ContractError::BadArguments)?;
    if name.starts_with('_') {
        return Err(ContractError::BadArguments(format!(
            "contract name {name:?}: names starting with '_' are reserved for system contracts"
        )));
    }
    Ok(())
}

fn check_policy(
    ctx: &mut dyn Context,
    intent: &LifecycleIntent,
    endorsements: &[Endorsement],
) -> Result<(), ContractError> {
    let config = ctx.config();
    check_endorsements(
        &config.policies.deploy,
        &intent.digest(),
        endorsements,
        &config.orgs,
        &config.revocations,
        ctx.block().timestamp_ms,
    )
    .map_err(|e| ContractError::PolicyNotSatisfied(e.to_string()))
}

fn module_refused(e: ValidateError) -> ContractError {
    match e {
        ValidateError::TooLarge { .. }
        | ValidateError::MemoryTooLarge { .. }
        | ValidateError::TableTooLarge { .. }
        | ValidateError::TooManyImports(_) => {
            ContractError::LimitExceeded(format!("module refused: {e}"))
        }
        other => ContractError::BadArguments(format!("module refused: {other}")),
    }
}

impl WasmLifecycle {
    fn deploy(
        &self,
        ctx: &mut dyn Context,
        action: LifecycleAction,
        args: DeployArgs,
    ) -> Result<Vec<u8>, ContractError> {
        check_contract_name(&args.name)?;
        let current = load_record(ctx, &args.name)?;
        let expected_version = match (action, &current) {
            (LifecycleAction::Deploy, None) => 1,
            (LifecycleAction::Deploy, Some(r)) => {
                return refuse(format!(
                    "contract {:?} is already deployed (version {}); upgrade it",
                    args.name, r.version
                ));
            }
            (_, None) => return refuse(format!("no contract {:?} to upgrade", args.name)),
            (_, Some(r)) => r
                .version
                .checked_add(1)
                .ok_or_else(|| ContractError::LimitExceeded("version overflow".into()))?,
        };
        if args.version != expected_version {
            return refuse(format!(
                "version must be {expected_version}, got {}",
                args.version
            ));
        }
        let limits = ctx.config().wasm.clone();
        if args.code.len() > limits.module_bytes_max as usize {
            return Err(module_refused(ValidateError::TooLarge {
                bytes: args.code.len(),
                max: limits.module_bytes_max,
            }));
        }
        let intent = LifecycleIntent {
            action,
            channel: ctx.block().channel.clone(),
            name: args.name.clone(),
            code_hash: Hash::of(&args.code),
            version: args.version,
        };
        check_policy(ctx, &intent, &args.endorsements)?;
        let compiled = self
            .host
            .validate(&args.code, &limits)
            .map_err(module_refused)?;
        assert_eq!(compiled.code_hash, intent.code_hash);
        let key = code_key(&intent.code_hash);
        if ctx.get(&key)?.is_none() {
            ctx.put(&key, &args.code)?;
        }
        self.host.cache().insert(Arc::new(compiled));
        let record = ContractRecord {
            code_hash: intent.code_hash,
            version: args.version,
            frozen: false,
            height: ctx.block().height,
        };
        ctx.put(&record_key(&args.name), &codec::encode(&record))?;
        let event = match action {
            LifecycleAction::Deploy => "deployed",
            _ => "upgraded",
        };
        ctx.emit(
            event,
            &codec::encode(&LifecycleEvent {
                name: args.name,
                code_hash: record.code_hash,
                version: record.version,
            }),
        )?;
        Ok(codec::encode(&record))
    }

    fn freeze(&self, ctx: &mut dyn Context, args: FreezeArgs) -> Result<Vec<u8>, ContractError> {
        check_contract_name(&args.name)?;
        let Some(mut record) = load_record(ctx, &args.name)? else {
            return refuse(format!("no contract {:?} to freeze", args.name));
        };
        if record.frozen {
            return refuse(format!("contract {:?} is already frozen", args.name));
        }
        if args.version != record.version {
            return refuse(format!(
                "contract {:?} is at version {}, not {}",
                args.name, record.version, args.version
            ));
        }
        let intent = LifecycleIntent {
            action: LifecycleAction::Freeze,
            channel: ctx.block().channel.clone(),
            name: args.name.clone(),
            code_hash: record.code_hash,
            version: record.version,
        };
        check_policy(ctx, &intent, &args.endorsements)?;
        record.frozen = true;
        record.height = ctx.block().height;
        ctx.put(&record_key(&args.name), &codec::encode(&record))?;
        ctx.emit(
            "frozen",
            &codec::encode(&LifecycleEvent {
                name: args.name,
                code_hash: record.code_hash,
                version: record.version,
            }),
        )?;
        Ok(codec::encode(&record))
    }
}

impl Contract for WasmLifecycle {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "deploy" => self.deploy(ctx, LifecycleAction::Deploy, decode_args(args)?),
            "upgrade" => self.deploy(ctx, LifecycleAction::Upgrade, decode_args(args)?),
            "freeze" => self.freeze(ctx, decode_args(args)?),
            "info" => {
                let a: NameArgs = decode_args(args)?;
                match load_record(ctx, &a.name)? {
                    Some(r) => Ok(codec::encode(&r)),
                    None => refuse(format!("no contract {:?}", a.name)),
                }
            }
            other => Err(ContractError::BadArguments(format!(
                "unknown method {other:?} of {WASM_CONTRACT}"
            ))),
        }
    }
}

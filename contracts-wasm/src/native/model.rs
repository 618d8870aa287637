//! `model`: model authentication before production.
//!
//! A designer registers the blake3 hash of a model file with its license
//! terms; a new version links to the previous one, which records that it
//! was superseded. Anyone asks whether a file is authentic. Accredited
//! experts certify a model fit for a material or process. The market asks
//! for print licenses, checked against the terms (allowed producer,
//! material, process, and the most units across all licenses).
//!
//! Keys:
//! - `m/{file_hash}` → [`ModelRecord`]
//! - `f/{file_hash}/{n:be32}` → [`FitnessCertificate`] (n from 0)
//! - `l/{order_id:be64}` → [`PrintLicense`]

use super::api::*;
use super::certification::require_accredited_expert;
use super::keys::{be32, be64, key, prefix, prefix_end};
use super::kit::*;
use productivist_engine::Hash;
use productivist_engine::contract::{Context, Contract, ContractError, decode_args, refuse};
use productivist_engine::identity::Role;

/// The model contract.
pub struct Model;

fn model_key(h: &Hash) -> Vec<u8> {
    key("m", &[&h.0])
}

fn fitness_key(h: &Hash, n: u32) -> Vec<u8> {
    key("f", &[&h.0, &be32(n)])
}

fn license_key(order_id: u64) -> Vec<u8> {
    key("l", &[&be64(order_id)])
}

/// Loads a registered model, refusing an unknown hash.
fn registered(ctx: &mut dyn Context, h: &Hash) -> Result<ModelRecord, ContractError> {
    match load::<ModelRecord>(ctx, &model_key(h))? {
        Some(m) => Ok(m),
        None => refuse(format!(
            "unknown model {h}: no model with this file hash is registered"
        )),
    }
}

fn check_terms(ctx: &dyn Context, t: &LicenseTerms) -> Result<(), ContractError> {
    if t.max_units == 0 {
        return Err(ContractError::BadArguments(
            "license max_units must be at least 1".into(),
        ));
    }
    check_allow_list(ctx, "allowed producers", &t.producers, true)?;
    check_allow_list(ctx, "allowed materials", &t.materials, false)?;
    check_allow_list(ctx, "allowed processes", &t.processes, false)?;
    Ok(())
}

fn register(ctx: &mut dyn Context, args: RegisterModelArgs) -> Result<Vec<u8>, ContractError> {
    require_role(ctx, &[Role::Designer], "register a model")?;
    let designer = ctx.caller().account();
    check_text("model name", &args.name, TEXT_BYTES_MAX, false)?;
    check_terms(ctx, &args.license)?;
    if let Some(existing) = load::<ModelRecord>(ctx, &model_key(&args.file_hash))? {
        return refuse(format!(
            "model {} is already registered (version {} by {} at height {})",
            args.file_hash, existing.version, existing.designer, existing.registered.height
        ));
    }
    let here = stamp(ctx);
    match args.previous {
        None => {
            if args.version != 1 {
                return Err(ContractError::BadArguments(format!(
                    "a model without a previous version must be version 1, got {}",
                    args.version
                )));
            }
        }
        Some(prev_hash) => {
            let Some(mut prev) = load::<ModelRecord>(ctx, &model_key(&prev_hash))? else {
                return refuse(format!("previous version {prev_hash} is not registered"));
            };
            if prev.designer != designer {
                return Err(ContractError::NotAuthorized(format!(
                    "only {}, the designer of the previous version, may publish a new version of it",
                    prev.designer
                )));
            }
            if let Some(s) = &prev.superseded_by {
                return refuse(format!(
                    "previous version {prev_hash} is already superseded by version {} ({})",
                    s.version, s.file_hash
                ));
            }
            let expected = prev.version.checked_add(1).ok_or_else(|| {
                ContractError::BadArguments("previous version number is at its maximum".into())
            })?;
            if args.version != expected {
                return Err(ContractError::BadArguments(format!(
                    "the version after {} must be {expected}, got {}",
                    prev.version, args.version
                )));
            }
            prev.superseded_by = Some(Supersession {
                version: args.version,
                file_hash: args.file_hash,
                stamp: here.clone(),
            });
            save(ctx, &model_key(&prev_hash), &prev)?;
            emit(
                ctx,
                "model_superseded",
                &ModelEvent {
                    file_hash: prev_hash,
                    version: args.version,
                    designer: designer.clone(),
                },
            )?;
        }
    }
    let record = ModelRecord {
        file_hash: args.file_hash,
        name: args.name,
        version: args.version,
        previous: args.previous,
        designer: designer.clone(),
        license: args.license,
        registered: here,
        superseded_by: None,
        units_licensed: 0,
        fitness_count: 0,
    };
    save(ctx, &model_key(&record.file_hash), &record)?;
    emit(
        ctx,
        "model_registered",
        &ModelEvent {
            file_hash: record.file_hash,
            version: record.version,
            designer: designer.clone(),
        },
    )?;
    let () = call(
        ctx,
        REPUTATION,
        "record",
        &Fact::ModelRegistered { designer },
    )?;
    Ok(Vec::new())
}

fn authenticate(ctx: &mut dyn Context, args: FileHashArgs) -> Result<Vec<u8>, ContractError> {
    let Some(model) = load::<ModelRecord>(ctx, &model_key(&args.file_hash))? else {
        return output(&Authenticity::Unknown);
    };
    let start = prefix("f", &[&args.file_hash.0]);
    let rows = ctx.range(
        &start,
        Some(&prefix_end(&start)),
        FITNESS_PER_MODEL_MAX as usize,
    )?;
    let mut fitness = Vec::with_capacity(rows.len());
    for (k, _) in rows {
        if let Some(f) = load::<FitnessCertificate>(ctx, &k)? {
            fitness.push(f);
        }
    }
    assert!(fitness.len() <= FITNESS_PER_MODEL_MAX as usize);
    output(&Authenticity::Authentic {
        model: Box::new(model),
        fitness,
    })
}

fn certify_fitness(
    ctx: &mut dyn Context,
    args: CertifyFitnessArgs,
) -> Result<Vec<u8>, ContractError> {
    let expert = require_accredited_expert(ctx, "certify a model")?;
    check_ident("material or process", &args.value)?;
    let mut model = registered(ctx, &args.file_hash)?;
    if model.fitness_count >= FITNESS_PER_MODEL_MAX {
        return Err(ContractError::LimitExceeded(format!(
            "model {} already has {FITNESS_PER_MODEL_MAX} fitness certificates",
            args.file_hash
        )));
    }
    let cert = FitnessCertificate {
        aspect: args.aspect,
        value: args.value,
        expert,
        evidence: args.evidence,
        stamp: stamp(ctx),
    };
    save(
        ctx,
        &fitness_key(&args.file_hash, model.fitness_count),
        &cert,
    )?;
    model.fitness_count += 1;
    save(ctx, &model_key(&args.file_hash), &model)?;
    emit(
        ctx,
        "fitness_certified",
        &ModelEvent {
            file_hash: model.file_hash,
            version: model.version,
            designer: model.designer,
        },
    )?;
    Ok(Vec::new())
}

fn grant_license(ctx: &mut dyn Context, args: GrantLicenseArgs) -> Result<Vec<u8>, ContractError> {
    require_calling_contract(ctx, MARKET, "model.grant_license")?;
    let mut model = registered(ctx, &args.file_hash)?;
    if load::<PrintLicense>(ctx, &license_key(args.order_id))?.is_some() {
        return refuse(format!(
            "order {} already has a print license",
            args.order_id
        ));
    }
    let terms = &model.license;
    if !terms.producers.allows(&args.producer) {
        return refuse(format!(
            "the license of model {} does not allow producer {}",
            args.file_hash, args.producer
        ));
    }
    if !terms.materials.allows(&args.material) {
        return refuse(format!(
            "the license of model {} does not allow material {}",
            args.file_hash, args.material
        ));
    }
    if !terms.processes.allows(&args.process) {
        return refuse(format!(
            "the license of model {} does not allow process {}",
            args.file_hash, args.process
        ));
    }
    let total = model.units_licensed.checked_add(args.quantity);
    if total.is_none_or(|t| t > terms.max_units) {
        return refuse(format!(
            "the license of model {} allows at most {} units; {} already licensed, {} requested",
            args.file_hash, terms.max_units, model.units_licensed, args.quantity
        ));
    }
    let license = PrintLicense {
        order_id: args.order_id,
        file_hash: args.file_hash,
        designer: model.designer.clone(),
        producer: args.producer,
        quantity: args.quantity,
        material: args.material,
        process: args.process,
        royalty_per_unit: terms.royalty_per_unit,
        granted: stamp(ctx),
    };
    model.units_licensed += args.quantity;
    assert!(model.units_licensed <= model.license.max_units);
    save(ctx, &model_key(&args.file_hash), &model)?;
    save(ctx, &license_key(args.order_id), &license)?;
    emit(
        ctx,
        "license_granted",
        &ModelEvent {
            file_hash: model.file_hash,
            version: model.version,
            designer: model.designer,
        },
    )?;
    output(&license)
}

impl Contract for Model {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "register" => register(ctx, decode_args(args)?),
            "authenticate" => authenticate(ctx, decode_args(args)?),
            "certify_fitness" => certify_fitness(ctx, decode_args(args)?),
            "grant_license" => grant_license(ctx, decode_args(args)?),
            "license" => {
                let a: OrderIdArgs = decode_args(args)?;
                output(&load::<PrintLicense>(ctx, &license_key(a.order_id))?)
            }
            other => Err(unknown_method(MODEL, other)),
        }
    }
}

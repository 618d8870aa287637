//! `certify`: expert accreditation, production records and object
//! certificates after production, and the provenance of an object.
//!
//! Governance accredits experts: an accreditation is accepted only with
//! endorsements satisfying the channel's `config_update` policy ("N of these
//! organizations' admins") over [`accreditation_digest`]. The market records
//! production (serials unique on the channel). Accredited experts issue
//! pass/fail certificates on serials and may revoke their own. `verify`
//! assembles the whole chain behind a serial from every contract.
//!
//! Keys:
//! - `a/{account}` → [`AccreditationRecord`] (the expert's current grant)
//! - `g/{grant_id:be64}` → account (grant ids are accepted once)
//! - `p/{order_id:be64}/{batch:be32}` → [`ProductionRecord`]
//! - `s/{serial}` → [`SerialEntry`]
//! - `c/{certificate_id:be64}` → [`ObjectCertificate`]
//! - `sc/{serial}/{certificate_id:be64}` → `()` (certificates per serial)
//! - `seq/certificate` → `u64` last certificate id

use super::api::*;
use super::keys::{be32, be64, key, prefix, prefix_end};
use super::kit::*;
use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::Hash;
use productivist_engine::contract::{Context, Contract, ContractError, decode_args, refuse};
use productivist_engine::identity::Role;
use productivist_engine::policy::{Endorsement, check_endorsements};
use std::collections::BTreeSet;

/// The certify contract.
pub struct Certify;

/// What the channel knows about one serial number.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SerialEntry {
    /// The order it was made for.
    pub order_id: u64,
    /// The production record (batch) listing it.
    pub batch: u32,
    /// The producer.
    pub producer: String,
    /// Certificates issued on it.
    pub certificates: u32,
}

fn accreditation_key(account: &str) -> Vec<u8> {
    key("a", &[account.as_bytes()])
}

fn grant_key(grant_id: u64) -> Vec<u8> {
    key("g", &[&be64(grant_id)])
}

fn production_key(order_id: u64, batch: u32) -> Vec<u8> {
    key("p", &[&be64(order_id), &be32(batch)])
}

fn serial_key(serial: &str) -> Vec<u8> {
    key("s", &[serial.as_bytes()])
}

fn certificate_key(id: u64) -> Vec<u8> {
    key("c", &[&be64(id)])
}

fn serial_certificate_key(serial: &str, id: u64) -> Vec<u8> {
    key("sc", &[serial.as_bytes(), &be64(id)])
}

const CERTIFICATE_SEQ_KEY: &[u8] = b"seq/certificate";

fn is_active(record: &AccreditationRecord, now_ms: u64) -> bool {
    let a = &record.accreditation;
    record.withdrawn.is_none() && a.valid_from_ms <= now_ms && now_ms < a.valid_until_ms
}

fn check_active(
    status: Option<AccreditationStatus>,
    account: &str,
    action: &str,
) -> Result<(), ContractError> {
    match status {
        None => Err(ContractError::NotAuthorized(format!(
            "{account} may not {action}: no accreditation granted by governance"
        ))),
        Some(s) if s.record.withdrawn.is_some() => Err(ContractError::NotAuthorized(format!(
            "{account} may not {action}: accreditation {} was withdrawn",
            s.record.accreditation.grant_id
        ))),
        Some(s) if !s.active => Err(ContractError::NotAuthorized(format!(
            "{account} may not {action}: accreditation {} is valid only from {} to {} ms",
            s.record.accreditation.grant_id,
            s.record.accreditation.valid_from_ms,
            s.record.accreditation.valid_until_ms
        ))),
        Some(_) => Ok(()),
    }
}

fn status_here(
    ctx: &mut dyn Context,
    account: &str,
) -> Result<Option<AccreditationStatus>, ContractError> {
    let now_ms = ctx.block().timestamp_ms;
    Ok(
        load::<AccreditationRecord>(ctx, &accreditation_key(account))?.map(|record| {
            AccreditationStatus {
                active: is_active(&record, now_ms),
                record,
            }
        }),
    )
}

/// Refuses unless the caller holds the `expert` role and an accreditation in
/// force, asking the `certify` contract through a nested call. Returns the
/// expert's account. For use by the other contracts.
pub fn require_accredited_expert(
    ctx: &mut dyn Context,
    action: &str,
) -> Result<String, ContractError> {
    require_role(ctx, &[Role::Expert], action)?;
    let account = ctx.caller().account();
    let status: Option<AccreditationStatus> = call(
        ctx,
        CERTIFY,
        "accreditation",
        &AccountArgs {
            account: account.clone(),
        },
    )?;
    check_active(status, &account, action)?;
    Ok(account)
}

fn require_accredited_here(ctx: &mut dyn Context, action: &str) -> Result<String, ContractError> {
    require_role(ctx, &[Role::Expert], action)?;
    let account = ctx.caller().account();
    let status = status_here(ctx, &account)?;
    check_active(status, &account, action)?;
    Ok(account)
}

fn check_governance(
    ctx: &dyn Context,
    digest: &Hash,
    endorsements: &[Endorsement],
) -> Result<(), ContractError> {
    let config = ctx.config();
    check_endorsements(
        &config.policies.config_update,
        digest,
        endorsements,
        &config.orgs,
        &config.revocations,
        ctx.block().timestamp_ms,
    )
    .map_err(|e| ContractError::PolicyNotSatisfied(format!("accreditation needs governance: {e}")))
}

fn accredit(ctx: &mut dyn Context, args: AccreditArgs) -> Result<Vec<u8>, ContractError> {
    let a = &args.accreditation;
    check_account(ctx, "expert", &a.expert)?;
    check_text("scope", &a.scope, TEXT_BYTES_MAX, false)?;
    if a.valid_from_ms >= a.valid_until_ms {
        return Err(ContractError::BadArguments(
            "accreditation validity is empty (valid_from_ms >= valid_until_ms)".into(),
        ));
    }
    let digest = accreditation_digest(&ctx.block().channel, a);
    check_governance(ctx, &digest, &args.endorsements)?;
    if let Some(holder) = load::<String>(ctx, &grant_key(a.grant_id))? {
        return refuse(format!(
            "accreditation grant {} was already used (for {holder})",
            a.grant_id
        ));
    }
    save(ctx, &grant_key(a.grant_id), &a.expert)?;
    let record = AccreditationRecord {
        accreditation: args.accreditation,
        granted: stamp(ctx),
        withdrawn: None,
    };
    // A new grant replaces the expert's previous one.
    save(
        ctx,
        &accreditation_key(&record.accreditation.expert),
        &record,
    )?;
    emit(
        ctx,
        "accredited",
        &CertifyEvent {
            account: record.accreditation.expert.clone(),
            id: record.accreditation.grant_id,
        },
    )?;
    Ok(Vec::new())
}

fn withdraw_accreditation(
    ctx: &mut dyn Context,
    args: WithdrawAccreditationArgs,
) -> Result<Vec<u8>, ContractError> {
    let w = &args.withdrawal;
    check_account(ctx, "expert", &w.expert)?;
    check_text("reason", &w.reason, REASON_BYTES_MAX, false)?;
    let digest = withdrawal_digest(&ctx.block().channel, w);
    check_governance(ctx, &digest, &args.endorsements)?;
    let Some(mut record) = load::<AccreditationRecord>(ctx, &accreditation_key(&w.expert))? else {
        return refuse(format!("{} holds no accreditation", w.expert));
    };
    if record.accreditation.grant_id != w.grant_id {
        return refuse(format!(
            "{} holds grant {}, not {}",
            w.expert, record.accreditation.grant_id, w.grant_id
        ));
    }
    if record.withdrawn.is_some() {
        return refuse(format!(
            "accreditation {} was already withdrawn",
            w.grant_id
        ));
    }
    record.withdrawn = Some(stamp(ctx));
    save(ctx, &accreditation_key(&w.expert), &record)?;
    emit(
        ctx,
        "accreditation_withdrawn",
        &CertifyEvent {
            account: w.expert.clone(),
            id: w.grant_id,
        },
    )?;
    Ok(Vec::new())
}

fn record_production(
    ctx: &mut dyn Context,
    args: RecordProductionArgs,
) -> Result<Vec<u8>, ContractError> {
    require_calling_contract(ctx, MARKET, "certify.record_production")?;
    let r = &args.report;
    check_ident("machine", &r.machine)?;
    check_ident("material batch", &r.material_batch)?;
    check_len("parameters", r.parameters.len(), 0, LIST_ITEMS_MAX)?;
    for p in &r.parameters {
        check_ident("parameter name", &p.name)?;
        check_text("parameter value", &p.value, TEXT_BYTES_MAX, true)?;
    }
    check_len("evidence", r.evidence.len(), 0, LIST_ITEMS_MAX)?;
    for e in &r.evidence {
        check_ident("evidence kind", &e.kind)?;
    }
    check_len("serials", r.serials.len(), 1, SERIALS_PER_RECORD_MAX)?;
    let mut seen = BTreeSet::new();
    for s in &r.serials {
        check_ident("serial", s)?;
        if !seen.insert(s.as_str()) {
            return Err(ContractError::BadArguments(format!(
                "serial {s} is listed twice"
            )));
        }
        if let Some(existing) = load::<SerialEntry>(ctx, &serial_key(s))? {
            return refuse(format!(
                "serial {s} is already recorded (order {} batch {} by {}); serials are unique on the channel",
                existing.order_id, existing.batch, existing.producer
            ));
        }
    }
    let pk = production_key(r.order_id, args.batch);
    if ctx.get(&pk)?.is_some() {
        return refuse(format!(
            "order {} batch {} is already recorded",
            r.order_id, args.batch
        ));
    }
    for s in &r.serials {
        save(
            ctx,
            &serial_key(s),
            &SerialEntry {
                order_id: r.order_id,
                batch: args.batch,
                producer: args.producer.clone(),
                certificates: 0,
            },
        )?;
    }
    let record = ProductionRecord {
        order_id: r.order_id,
        batch: args.batch,
        file_hash: args.file_hash,
        producer: args.producer,
        machine: args.report.machine,
        material: args.material,
        material_batch: args.report.material_batch,
        parameters: args.report.parameters,
        evidence: args.report.evidence,
        serials: args.report.serials,
        stamp: stamp(ctx),
    };
    save(ctx, &pk, &record)?;
    emit(
        ctx,
        "production_recorded",
        &CertifyEvent {
            account: record.producer.clone(),
            id: record.order_id,
        },
    )?;
    Ok(Vec::new())
}

fn serial_entry(ctx: &mut dyn Context, serial: &str) -> Result<SerialEntry, ContractError> {
    match load::<SerialEntry>(ctx, &serial_key(serial))? {
        Some(e) => Ok(e),
        None => refuse(format!(
            "unknown serial {serial}: no production record lists it"
        )),
    }
}

fn feed_certificate(
    ctx: &mut dyn Context,
    producers: BTreeSet<String>,
    outcome: Outcome,
    revoked: bool,
) -> Result<(), ContractError> {
    assert!(producers.len() <= SERIALS_PER_CERTIFICATE_MAX);
    for producer in producers {
        let () = call(
            ctx,
            REPUTATION,
            "record",
            &Fact::Certificate {
                producer,
                outcome,
                revoked,
            },
        )?;
    }
    Ok(())
}

fn issue(ctx: &mut dyn Context, args: IssueCertificateArgs) -> Result<Vec<u8>, ContractError> {
    let issuer = require_accredited_here(ctx, "issue certificates")?;
    check_len(
        "serials",
        args.serials.len(),
        1,
        SERIALS_PER_CERTIFICATE_MAX,
    )?;
    check_text("claim", &args.claim, TEXT_BYTES_MAX, false)?;
    if args.valid_from_ms >= args.valid_until_ms {
        return Err(ContractError::BadArguments(
            "certificate validity is empty (valid_from_ms >= valid_until_ms)".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut producers = BTreeSet::new();
    let mut entries = Vec::with_capacity(args.serials.len());
    for s in &args.serials {
        check_ident("serial", s)?;
        if !seen.insert(s.as_str()) {
            return Err(ContractError::BadArguments(format!(
                "serial {s} is listed twice"
            )));
        }
        let entry = serial_entry(ctx, s)?;
        if entry.producer == issuer {
            return Err(ContractError::NotAuthorized(format!(
                "{issuer} may not certify serial {s}: it is their own production"
            )));
        }
        if entry.certificates >= CERTIFICATES_PER_SERIAL_MAX {
            return Err(ContractError::LimitExceeded(format!(
                "serial {s} already has {CERTIFICATES_PER_SERIAL_MAX} certificates"
            )));
        }
        producers.insert(entry.producer.clone());
        entries.push(entry);
    }
    let id = load::<u64>(ctx, CERTIFICATE_SEQ_KEY)?
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| ContractError::LimitExceeded("certificate ids exhausted".into()))?;
    save(ctx, CERTIFICATE_SEQ_KEY, &id)?;
    for (s, mut entry) in args.serials.iter().zip(entries) {
        entry.certificates += 1;
        save(ctx, &serial_key(s), &entry)?;
        save(ctx, &serial_certificate_key(s, id), &())?;
    }
    let cert = ObjectCertificate {
        certificate_id: id,
        issuer: issuer.clone(),
        serials: args.serials,
        claim: args.claim,
        outcome: args.outcome,
        evidence: args.evidence,
        valid_from_ms: args.valid_from_ms,
        valid_until_ms: args.valid_until_ms,
        issued: stamp(ctx),
        revoked: None,
    };
    save(ctx, &certificate_key(id), &cert)?;
    emit(
        ctx,
        "certificate_issued",
        &CertifyEvent {
            account: issuer,
            id,
        },
    )?;
    feed_certificate(ctx, producers, cert.outcome, false)?;
    output(&id)
}

fn revoke(ctx: &mut dyn Context, args: RevokeCertificateArgs) -> Result<Vec<u8>, ContractError> {
    check_text("reason", &args.reason, REASON_BYTES_MAX, false)?;
    let Some(mut cert) = load::<ObjectCertificate>(ctx, &certificate_key(args.certificate_id))?
    else {
        return refuse(format!("no certificate {}", args.certificate_id));
    };
    let caller = ctx.caller().account();
    if cert.issuer != caller {
        return Err(ContractError::NotAuthorized(format!(
            "only the issuer {} may revoke certificate {}",
            cert.issuer, cert.certificate_id
        )));
    }
    if let Some(r) = &cert.revoked {
        return refuse(format!(
            "certificate {} was already revoked at height {}",
            cert.certificate_id, r.stamp.height
        ));
    }
    cert.revoked = Some(CertificateRevocation {
        reason: args.reason,
        stamp: stamp(ctx),
    });
    save(ctx, &certificate_key(cert.certificate_id), &cert)?;
    emit(
        ctx,
        "certificate_revoked",
        &CertifyEvent {
            account: caller,
            id: cert.certificate_id,
        },
    )?;
    let mut producers = BTreeSet::new();
    for s in &cert.serials {
        producers.insert(serial_entry(ctx, s)?.producer);
    }
    feed_certificate(ctx, producers, cert.outcome, true)?;
    Ok(Vec::new())
}

fn certificate_status(cert: &ObjectCertificate, now_ms: u64) -> CertificateStatus {
    if cert.revoked.is_some() {
        CertificateStatus::Revoked
    } else if now_ms < cert.valid_from_ms {
        CertificateStatus::NotYetValid
    } else if now_ms >= cert.valid_until_ms {
        CertificateStatus::Expired
    } else {
        CertificateStatus::Valid
    }
}

fn certificate_view(
    ctx: &mut dyn Context,
    id: u64,
) -> Result<Option<CertificateView>, ContractError> {
    let now_ms = ctx.block().timestamp_ms;
    Ok(
        load::<ObjectCertificate>(ctx, &certificate_key(id))?.map(|certificate| CertificateView {
            status: certificate_status(&certificate, now_ms),
            certificate,
        }),
    )
}

fn verify(ctx: &mut dyn Context, args: SerialArgs) -> Result<Vec<u8>, ContractError> {
    check_ident("serial", &args.serial)?;
    let Some(entry) = load::<SerialEntry>(ctx, &serial_key(&args.serial))? else {
        return output(&None::<Provenance>);
    };
    let Some(production) =
        load::<ProductionRecord>(ctx, &production_key(entry.order_id, entry.batch))?
    else {
        return Err(ContractError::Storage(format!(
            "serial {} points at a missing production record",
            args.serial
        )));
    };
    let start = prefix("sc", &[args.serial.as_bytes()]);
    let rows = ctx.range(
        &start,
        Some(&prefix_end(&start)),
        CERTIFICATES_PER_SERIAL_MAX as usize,
    )?;
    let mut certificates = Vec::with_capacity(rows.len());
    for (k, _) in rows {
        let id_bytes: [u8; 8] = k[start.len()..].try_into().map_err(|_| {
            ContractError::Storage(format!("corrupt certificate index key {}", show_key(&k)))
        })?;
        if let Some(view) = certificate_view(ctx, u64::from_be_bytes(id_bytes))? {
            certificates.push(view);
        }
    }
    let order_args = OrderIdArgs {
        order_id: entry.order_id,
    };
    let order: Option<Order> = call(ctx, MARKET, "order", &order_args)?;
    let license: Option<PrintLicense> = call(ctx, MODEL, "license", &order_args)?;
    let model = match call(
        ctx,
        MODEL,
        "authenticate",
        &FileHashArgs {
            file_hash: production.file_hash,
        },
    )? {
        Authenticity::Unknown => None,
        Authenticity::Authentic { model, .. } => Some(*model),
    };
    let rating: Option<Rating> = call(ctx, REPUTATION, "rating", &order_args)?;
    output(&Some(Provenance {
        serial: args.serial,
        model,
        order,
        license,
        production,
        certificates,
        rating,
        checked_at_height: ctx.block().height,
        checked_at_ms: ctx.block().timestamp_ms,
    }))
}

impl Contract for Certify {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "accredit" => accredit(ctx, decode_args(args)?),
            "withdraw_accreditation" => withdraw_accreditation(ctx, decode_args(args)?),
            "record_production" => record_production(ctx, decode_args(args)?),
            "issue" => issue(ctx, decode_args(args)?),
            "revoke" => revoke(ctx, decode_args(args)?),
            "verify" => verify(ctx, decode_args(args)?),
            "accreditation" => {
                let a: AccountArgs = decode_args(args)?;
                check_account(ctx, "account", &a.account)?;
                output(&status_here(ctx, &a.account)?)
            }
            "production" => {
                let a: ProductionArgs = decode_args(args)?;
                output(&load::<ProductionRecord>(
                    ctx,
                    &production_key(a.order_id, a.batch),
                )?)
            }
            "certificate" => {
                let a: CertificateIdArgs = decode_args(args)?;
                output(&certificate_view(ctx, a.certificate_id)?)
            }
            other => Err(unknown_method(CERTIFY, other)),
        }
    }
}

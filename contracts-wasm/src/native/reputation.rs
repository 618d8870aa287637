//! `reputation`: reputation derived from on-chain facts, ratings, rankings
//! and the labster (producer accreditation) program.
//!
//! Nobody writes a score. `market`, `certify` and `model` feed facts through
//! nested calls to `record` (each fact is accepted only from the contract
//! that witnessed it); customers rate their completed orders once; accredited
//! experts grant labster levels. Scores are [`producer_score`] and
//! [`designer_score`] of the facts, and rankings read score-ordered indexes
//! maintained on every change, so a ranking is one bounded range scan.
//!
//! Keys:
//! - `a/{account}` → [`Profile`]
//! - `rp/{score:desc64}/{account}` → `()` producers by score
//! - `rt/{kind}/{value}/{score:desc64}/{account}` → `()` producers by score
//!   per tag (`kind` = `m`aterial, `p`rocess, `r`egion)
//! - `rd/{score:desc64}/{account}` → `()` designers by score
//! - `r/{order_id:be64}` → [`Rating`]

use super::api::*;
use super::certification::require_accredited_expert;
use super::keys::{be64, key, prefix, prefix_end, score_desc, score_from_desc};
use super::kit::*;
use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::contract::{Context, Contract, ContractError, decode_args, refuse};

/// The reputation contract.
pub struct ReputationContract;

/// Everything stored about one account.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Profile {
    /// Facts.
    pub stats: Stats,
    /// Labster level.
    pub labster: Option<LabsterLevel>,
    /// Tags the producer is indexed under (sorted, at most
    /// [`TAGS_PER_PRODUCER_MAX`]).
    pub tags: Vec<Tag>,
    /// Whether the account has producer facts (and is in producer rankings).
    pub producer: bool,
    /// Whether the account has designer facts (and is in designer rankings).
    pub designer: bool,
}

impl Profile {
    fn level(&self) -> u8 {
        self.labster.as_ref().map_or(0, |l| l.level)
    }

    fn producer_score(&self) -> i64 {
        producer_score(&self.stats, self.level())
    }

    fn designer_score(&self) -> i64 {
        designer_score(&self.stats)
    }

    fn add_tag(&mut self, kind: TagKind, value: &str) {
        let tag = Tag {
            kind,
            value: value.to_string(),
        };
        if let Err(at) = self.tags.binary_search(&tag)
            && self.tags.len() < TAGS_PER_PRODUCER_MAX
        {
            self.tags.insert(at, tag);
        }
        assert!(self.tags.len() <= TAGS_PER_PRODUCER_MAX);
    }
}

fn profile_key(account: &str) -> Vec<u8> {
    key("a", &[account.as_bytes()])
}

fn kind_tag(kind: TagKind) -> &'static [u8] {
    match kind {
        TagKind::Material => b"m",
        TagKind::Process => b"p",
        TagKind::Region => b"r",
    }
}

fn producer_rank_key(score: i64, account: &str) -> Vec<u8> {
    key("rp", &[&score_desc(score), account.as_bytes()])
}

fn tag_prefix(tag: &Tag) -> Vec<u8> {
    prefix("rt", &[kind_tag(tag.kind), tag.value.as_bytes()])
}

fn tag_rank_key(tag: &Tag, score: i64, account: &str) -> Vec<u8> {
    key(
        "rt",
        &[
            kind_tag(tag.kind),
            tag.value.as_bytes(),
            &score_desc(score),
            account.as_bytes(),
        ],
    )
}

fn designer_rank_key(score: i64, account: &str) -> Vec<u8> {
    key("rd", &[&score_desc(score), account.as_bytes()])
}

fn rating_key(order_id: u64) -> Vec<u8> {
    key("r", &[&be64(order_id)])
}

fn load_profile(ctx: &mut dyn Context, account: &str) -> Result<Profile, ContractError> {
    Ok(load(ctx, &profile_key(account))?.unwrap_or_default())
}

/// Applies `change` to an account's profile and moves its index entries
/// from the old scores and tags to the new ones.
fn update(
    ctx: &mut dyn Context,
    account: &str,
    change: impl FnOnce(&mut Profile),
) -> Result<(), ContractError> {
    let before = load_profile(ctx, account)?;
    let mut after = before.clone();
    change(&mut after);
    if after == before {
        return Ok(());
    }
    let (old_p, new_p) = (before.producer_score(), after.producer_score());
    let (old_d, new_d) = (before.designer_score(), after.designer_score());
    if before.producer {
        ctx.delete(&producer_rank_key(old_p, account))?;
        for t in &before.tags {
            ctx.delete(&tag_rank_key(t, old_p, account))?;
        }
    }
    if after.producer {
        save(ctx, &producer_rank_key(new_p, account), &())?;
        for t in &after.tags {
            save(ctx, &tag_rank_key(t, new_p, account), &())?;
        }
    }
    if before.designer {
        ctx.delete(&designer_rank_key(old_d, account))?;
    }
    if after.designer {
        save(ctx, &designer_rank_key(new_d, account), &())?;
    }
    save(ctx, &profile_key(account), &after)?;
    emit(
        ctx,
        "reputation_changed",
        &ReputationChanged {
            account: account.to_string(),
            producer_score: new_p,
            designer_score: new_d,
        },
    )
}

fn bump(counter: &mut u64, by: u64) {
    *counter = counter.saturating_add(by);
}

fn record(ctx: &mut dyn Context, fact: Fact) -> Result<Vec<u8>, ContractError> {
    let witness = match &fact {
        Fact::OrderCompleted { .. }
        | Fact::DeadlineMissed { .. }
        | Fact::DisputeResolved { .. } => MARKET,
        Fact::Certificate { .. } => CERTIFY,
        Fact::ModelRegistered { .. } => MODEL,
    };
    require_calling_contract(ctx, witness, "reputation.record")?;
    match fact {
        Fact::OrderCompleted {
            producer,
            designer,
            customer,
            on_time,
            units,
            material,
            process,
            region,
        } => {
            update(ctx, &producer, |p| {
                p.producer = true;
                if on_time {
                    bump(&mut p.stats.orders_on_time, 1);
                } else {
                    bump(&mut p.stats.orders_late, 1);
                }
                p.add_tag(TagKind::Material, &material);
                p.add_tag(TagKind::Process, &process);
                p.add_tag(TagKind::Region, &region);
            })?;
            update(ctx, &designer, |p| {
                p.designer = true;
                bump(&mut p.stats.design_orders_completed, 1);
                bump(&mut p.stats.design_units_produced, units);
            })?;
            update(ctx, &customer, |p| bump(&mut p.stats.orders_as_customer, 1))?;
        }
        Fact::DeadlineMissed { producer } => {
            update(ctx, &producer, |p| {
                p.producer = true;
                bump(&mut p.stats.orders_missed, 1);
            })?;
        }
        Fact::DisputeResolved {
            producer,
            customer,
            winner,
        } => {
            let producer_won = winner == Party::Producer;
            update(ctx, &producer, |p| {
                p.producer = true;
                bump(
                    if producer_won {
                        &mut p.stats.disputes_won
                    } else {
                        &mut p.stats.disputes_lost
                    },
                    1,
                );
            })?;
            update(ctx, &customer, |p| {
                bump(
                    if producer_won {
                        &mut p.stats.disputes_lost
                    } else {
                        &mut p.stats.disputes_won
                    },
                    1,
                );
            })?;
        }
        Fact::Certificate {
            producer,
            outcome,
            revoked,
        } => {
            let mut underflow = false;
            update(ctx, &producer, |p| {
                p.producer = true;
                let counter = match outcome {
                    Outcome::Pass => &mut p.stats.certificates_passed,
                    Outcome::Fail => &mut p.stats.certificates_failed,
                };
                if revoked {
                    match counter.checked_sub(1) {
                        Some(v) => *counter = v,
                        None => underflow = true,
                    }
                } else {
                    bump(counter, 1);
                }
            })?;
            if underflow {
                return Err(ContractError::Storage(format!(
                    "certificate count of {producer} would go negative: reputation state is corrupt"
                )));
            }
        }
        Fact::ModelRegistered { designer } => {
            update(ctx, &designer, |p| {
                p.designer = true;
                bump(&mut p.stats.models_registered, 1);
            })?;
        }
    }
    Ok(Vec::new())
}

fn rate(ctx: &mut dyn Context, args: RateArgs) -> Result<Vec<u8>, ContractError> {
    if !(STARS_MIN..=STARS_MAX).contains(&args.stars) {
        return Err(ContractError::BadArguments(format!(
            "a rating is {STARS_MIN} to {STARS_MAX} stars, got {}",
            args.stars
        )));
    }
    check_text("comment", &args.comment, REASON_BYTES_MAX, true)?;
    let Some(order): Option<Order> = call(
        ctx,
        MARKET,
        "order",
        &OrderIdArgs {
            order_id: args.order_id,
        },
    )?
    else {
        return refuse(format!("no order {}", args.order_id));
    };
    let caller = ctx.caller().account();
    if caller != order.customer {
        return Err(ContractError::NotAuthorized(format!(
            "only the customer {} may rate order {}, not {caller}",
            order.customer, order.order_id
        )));
    }
    if order.state != OrderState::Completed {
        return refuse(format!(
            "only completed orders can be rated; order {} is {}",
            order.order_id,
            order.state.name()
        ));
    }
    if let Some(r) = load::<Rating>(ctx, &rating_key(order.order_id))? {
        return refuse(format!(
            "order {} was already rated ({} stars at height {})",
            order.order_id, r.stars, r.stamp.height
        ));
    }
    let producer = order.acceptance.map(|a| a.offer.producer).ok_or_else(|| {
        ContractError::Storage(format!(
            "completed order {} has no producer",
            order.order_id
        ))
    })?;
    let rating = Rating {
        order_id: order.order_id,
        customer: caller,
        producer: producer.clone(),
        stars: args.stars,
        comment: args.comment,
        stamp: stamp(ctx),
    };
    save(ctx, &rating_key(order.order_id), &rating)?;
    update(ctx, &producer, |p| {
        p.producer = true;
        bump(&mut p.stats.ratings_count, 1);
        bump(&mut p.stats.stars_sum, u64::from(args.stars));
    })?;
    Ok(Vec::new())
}

fn grant_level(ctx: &mut dyn Context, args: GrantLevelArgs) -> Result<Vec<u8>, ContractError> {
    let expert = require_accredited_expert(ctx, "grant labster levels")?;
    check_account(ctx, "producer", &args.producer)?;
    if args.level > LABSTER_LEVEL_MAX {
        return Err(ContractError::BadArguments(format!(
            "labster level is 0 to {LABSTER_LEVEL_MAX}, got {}",
            args.level
        )));
    }
    if args.producer == expert {
        return Err(ContractError::NotAuthorized(format!(
            "{expert} may not grant a labster level to themselves"
        )));
    }
    let level = (args.level > 0).then(|| LabsterLevel {
        level: args.level,
        granted_by: expert,
        evidence: args.evidence,
        stamp: stamp(ctx),
    });
    update(ctx, &args.producer, |p| {
        p.producer = true;
        p.labster = level;
    })?;
    Ok(Vec::new())
}

fn get(ctx: &mut dyn Context, args: AccountArgs) -> Result<Vec<u8>, ContractError> {
    check_account(ctx, "account", &args.account)?;
    let p = load_profile(ctx, &args.account)?;
    output(&Reputation {
        producer_score: p.producer_score(),
        designer_score: p.designer_score(),
        account: args.account,
        stats: p.stats,
        labster: p.labster,
        tags: p.tags,
    })
}

/// Reads a score-ordered index: keys are `{prefix}{score:desc64}/{account}`.
fn ranking(ctx: &mut dyn Context, start: Vec<u8>, limit: u32) -> Result<Vec<u8>, ContractError> {
    if limit == 0 || limit > RANKING_LIMIT_MAX {
        return Err(ContractError::BadArguments(format!(
            "ranking limit is 1 to {RANKING_LIMIT_MAX}, got {limit}"
        )));
    }
    let rows = ctx.range(&start, Some(&prefix_end(&start)), limit as usize)?;
    let mut out = Vec::with_capacity(rows.len());
    for (k, _) in rows {
        let rest = &k[start.len()..];
        let corrupt = || ContractError::Storage(format!("corrupt ranking key {}", show_key(&k)));
        let (score, account) = match rest.split_at_checked(8) {
            Some((score, [b'/', account @ ..])) => (score, account),
            _ => return Err(corrupt()),
        };
        let score: [u8; 8] = score.try_into().map_err(|_| corrupt())?;
        let account = std::str::from_utf8(account).map_err(|_| corrupt())?;
        out.push(RankEntry {
            account: account.to_string(),
            score: score_from_desc(score),
        });
    }
    assert!(out.len() <= limit as usize);
    output(&out)
}

impl Contract for ReputationContract {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "record" => record(ctx, decode_args(args)?),
            "rate" => rate(ctx, decode_args(args)?),
            "grant_level" => grant_level(ctx, decode_args(args)?),
            "get" => get(ctx, decode_args(args)?),
            "rank_producers" => {
                let a: RankProducersArgs = decode_args(args)?;
                let start = match &a.filter {
                    None => prefix("rp", &[]),
                    Some(tag) => {
                        check_ident("tag value", &tag.value)?;
                        tag_prefix(tag)
                    }
                };
                ranking(ctx, start, a.limit)
            }
            "rank_designers" => {
                let a: RankDesignersArgs = decode_args(args)?;
                ranking(ctx, prefix("rd", &[]), a.limit)
            }
            "rating" => {
                let a: OrderIdArgs = decode_args(args)?;
                output(&load::<Rating>(ctx, &rating_key(a.order_id))?)
            }
            other => Err(unknown_method(REPUTATION, other)),
        }
    }
}

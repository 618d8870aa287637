//! `market`: the tokenized service marketplace.
//!
//! Life of an order:
//!
//! ```text
//! Open --accept--> Accepted --report_production (last unit)--> Delivered
//!   |                 |  \--reclaim (deadline passed)--> Reclaimed
//!   |                 \--dispute--> Disputed --resolve--> Resolved
//!   \--cancel--> Cancelled        Delivered --confirm_receipt | settle (timeout)--> Completed
//!                                 Delivered --dispute--> Disputed
//! ```
//!
//! Accepting an offer grants a print license (`model.grant_license`) and
//! locks price + royalty in escrow (`token.escrow_lock`, escrow id = order
//! id). Every way out of `Accepted`/`Delivered`/`Disputed` closes the escrow
//! exactly once (`token` refuses a second release or refund), then feeds
//! the facts to `reputation`.
//!
//! Keys:
//! - `o/{order_id:be64}` → [`Order`]
//! - `f/{order_id:be64}/{offer_no:be32}` → [`Offer`]
//! - `fp/{order_id:be64}/{producer}` → `u32` offer number (one per producer)
//! - `seq/order` → `u64` last order id

use super::api::*;
use super::certification::require_accredited_expert;
use super::keys::{be32, be64, key, prefix, prefix_end};
use super::kit::*;
use productivist_engine::contract::{Context, Contract, ContractError, decode_args, refuse};
use productivist_engine::identity::Role;

/// The market contract.
pub struct Market;

fn order_key(id: u64) -> Vec<u8> {
    key("o", &[&be64(id)])
}

fn offer_key(id: u64, offer_no: u32) -> Vec<u8> {
    key("f", &[&be64(id), &be32(offer_no)])
}

fn producer_offer_key(id: u64, producer: &str) -> Vec<u8> {
    key("fp", &[&be64(id), producer.as_bytes()])
}

const ORDER_SEQ_KEY: &[u8] = b"seq/order";

fn load_order(ctx: &mut dyn Context, id: u64) -> Result<Order, ContractError> {
    match load::<Order>(ctx, &order_key(id))? {
        Some(o) => Ok(o),
        None => refuse(format!("no order {id}")),
    }
}

fn save_order(ctx: &mut dyn Context, order: &Order, event: &str) -> Result<(), ContractError> {
    save(ctx, &order_key(order.order_id), order)?;
    let data = OrderEvent {
        order_id: order.order_id,
        actor: ctx.caller().account(),
        state: order.state,
    };
    emit(ctx, event, &data)
}

/// The acceptance of an order past `Open`; its absence is corrupt state.
fn acceptance(order: &Order) -> Result<&Acceptance, ContractError> {
    order.acceptance.as_ref().ok_or_else(|| {
        ContractError::Storage(format!(
            "order {} is {} without an acceptance",
            order.order_id,
            order.state.name()
        ))
    })
}

fn wrong_state(order: &Order, action: &str) -> ContractError {
    let why = match order.state {
        OrderState::Open => "it is open: no offer was accepted yet",
        OrderState::Accepted => "it is accepted and in production",
        OrderState::Delivered => "it is delivered and awaits receipt",
        OrderState::Completed => "it was already settled",
        OrderState::Reclaimed => "its escrow was already reclaimed",
        OrderState::Disputed => "it is in dispute",
        OrderState::Resolved => "its dispute was already resolved",
        OrderState::Cancelled => "it was cancelled",
    };
    ContractError::Refused(format!("cannot {action} order {}: {why}", order.order_id))
}

fn require_customer(ctx: &dyn Context, order: &Order, action: &str) -> Result<(), ContractError> {
    let caller = ctx.caller().account();
    if caller != order.customer {
        return Err(ContractError::NotAuthorized(format!(
            "only the customer {} may {action} order {}, not {caller}",
            order.customer, order.order_id
        )));
    }
    Ok(())
}

fn post_order(ctx: &mut dyn Context, args: PostOrderArgs) -> Result<Vec<u8>, ContractError> {
    require_role(ctx, &[Role::Customer], "post an order")?;
    if args.quantity == 0 {
        return Err(ContractError::BadArguments(
            "quantity must be at least 1".into(),
        ));
    }
    if args.price_cap == 0 {
        return Err(ContractError::BadArguments(
            "price cap must be at least 1".into(),
        ));
    }
    check_ident("material", &args.material)?;
    check_ident("region", &args.region)?;
    let now_ms = ctx.block().timestamp_ms;
    if args.deadline_ms <= now_ms {
        return refuse(format!(
            "deadline {} ms is not after the block time {now_ms} ms",
            args.deadline_ms
        ));
    }
    let model = match call(
        ctx,
        MODEL,
        "authenticate",
        &FileHashArgs {
            file_hash: args.file_hash,
        },
    )? {
        Authenticity::Unknown => {
            return refuse(format!("unknown model {}: not registered", args.file_hash));
        }
        Authenticity::Authentic { model, .. } => *model,
    };
    if !model.license.materials.allows(&args.material) {
        return refuse(format!(
            "the license of model {} does not allow material {}",
            args.file_hash, args.material
        ));
    }
    let id = load::<u64>(ctx, ORDER_SEQ_KEY)?
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| ContractError::LimitExceeded("order ids exhausted".into()))?;
    save(ctx, ORDER_SEQ_KEY, &id)?;
    let order = Order {
        order_id: id,
        customer: ctx.caller().account(),
        file_hash: args.file_hash,
        quantity: args.quantity,
        material: args.material,
        region: args.region,
        deadline_ms: args.deadline_ms,
        price_cap: args.price_cap,
        posted: stamp(ctx),
        state: OrderState::Open,
        offers: 0,
        acceptance: None,
        produced_units: 0,
        batches: 0,
        delivered: None,
        dispute: None,
        settlement: None,
    };
    save_order(ctx, &order, "order_posted")?;
    output(&id)
}

fn offer(ctx: &mut dyn Context, args: OfferArgs) -> Result<Vec<u8>, ContractError> {
    require_role(ctx, &[Role::Producer, Role::Industrial], "offer to produce")?;
    check_ident("process", &args.process)?;
    let producer = ctx.caller().account();
    let mut order = load_order(ctx, args.order_id)?;
    if order.state != OrderState::Open {
        return Err(wrong_state(&order, "offer on"));
    }
    if producer == order.customer {
        return Err(ContractError::NotAuthorized(format!(
            "{producer} may not offer on their own order {}",
            order.order_id
        )));
    }
    if args.price == 0 || args.price > order.price_cap {
        return refuse(format!(
            "price {} is outside 1 to the order's price cap {}",
            args.price, order.price_cap
        ));
    }
    let now_ms = ctx.block().timestamp_ms;
    if now_ms
        .checked_add(args.lead_time_ms)
        .is_none_or(|ready| ready > order.deadline_ms)
    {
        return refuse(format!(
            "lead time {} ms cannot meet the deadline {} ms (now {now_ms} ms)",
            args.lead_time_ms, order.deadline_ms
        ));
    }
    let pk = producer_offer_key(order.order_id, &producer);
    if let Some(n) = load::<u32>(ctx, &pk)? {
        return refuse(format!(
            "{producer} already made offer {n} on order {}",
            order.order_id
        ));
    }
    if order.offers >= OFFERS_PER_ORDER_MAX {
        return Err(ContractError::LimitExceeded(format!(
            "order {} already has {OFFERS_PER_ORDER_MAX} offers",
            order.order_id
        )));
    }
    order.offers += 1;
    let o = Offer {
        order_id: order.order_id,
        offer_no: order.offers,
        producer,
        price: args.price,
        lead_time_ms: args.lead_time_ms,
        process: args.process,
        stamp: stamp(ctx),
    };
    save(ctx, &offer_key(o.order_id, o.offer_no), &o)?;
    save(ctx, &pk, &o.offer_no)?;
    save_order(ctx, &order, "offer_made")?;
    output(&o.offer_no)
}

fn accept(ctx: &mut dyn Context, args: AcceptArgs) -> Result<Vec<u8>, ContractError> {
    let mut order = load_order(ctx, args.order_id)?;
    require_customer(ctx, &order, "accept offers on")?;
    if order.state == OrderState::Accepted {
        let a = acceptance(&order)?;
        return refuse(format!(
            "order {} was already accepted (offer {} by {})",
            order.order_id, a.offer.offer_no, a.offer.producer
        ));
    }
    if order.state != OrderState::Open {
        return Err(wrong_state(&order, "accept an offer on"));
    }
    let now_ms = ctx.block().timestamp_ms;
    if now_ms > order.deadline_ms {
        return refuse(format!(
            "order {} deadline {} ms has passed (now {now_ms} ms)",
            order.order_id, order.deadline_ms
        ));
    }
    let Some(offer) = load::<Offer>(ctx, &offer_key(order.order_id, args.offer_no))? else {
        return refuse(format!(
            "no offer {} on order {}",
            args.offer_no, order.order_id
        ));
    };
    // Checked before any token moves: a fee payee that cannot be paid would
    // otherwise leave the escrow locked forever.
    if let Some(platform) = ctx.config().market.platform_account.clone() {
        check_account(ctx, "platform account", &platform).map_err(|e| {
            ContractError::Refused(format!(
                "the channel config's market.platform_account is unusable: {e}"
            ))
        })?;
    }
    let license: PrintLicense = call(
        ctx,
        MODEL,
        "grant_license",
        &GrantLicenseArgs {
            file_hash: order.file_hash,
            order_id: order.order_id,
            producer: offer.producer.clone(),
            quantity: order.quantity,
            material: order.material.clone(),
            process: offer.process.clone(),
        },
    )?;
    let Some(royalty_total) = license.royalty_per_unit.checked_mul(order.quantity) else {
        return refuse("royalty for this quantity overflows");
    };
    let Some(escrow_total) = offer.price.checked_add(royalty_total) else {
        return refuse("price plus royalty overflows");
    };
    let () = call(
        ctx,
        TOKEN,
        "escrow_lock",
        &EscrowLockArgs {
            escrow_id: order.order_id,
            from: order.customer.clone(),
            amount: escrow_total,
        },
    )?;
    let market = &ctx.config().market;
    let (platform_fee_bps, platform_account) = match &market.platform_account {
        Some(account) => (market.platform_fee_bps, Some(account.clone())),
        None => (0, None),
    };
    assert!(u64::from(platform_fee_bps) <= BPS_DENOMINATOR);
    order.acceptance = Some(Acceptance {
        offer,
        designer: license.designer,
        royalty_per_unit: license.royalty_per_unit,
        royalty_total,
        escrow_total,
        platform_fee_bps,
        platform_account,
        receipt_timeout_ms: market.receipt_timeout_ms,
        stamp: stamp(ctx),
    });
    order.state = OrderState::Accepted;
    save_order(ctx, &order, "offer_accepted")?;
    Ok(Vec::new())
}

fn report_production(
    ctx: &mut dyn Context,
    args: ReportProductionArgs,
) -> Result<Vec<u8>, ContractError> {
    let mut order = load_order(ctx, args.order_id)?;
    let caller = ctx.caller().account();
    let Some(a) = &order.acceptance else {
        return refuse(format!(
            "no print license: order {} has no accepted offer",
            order.order_id
        ));
    };
    if a.offer.producer != caller {
        return Err(ContractError::NotAuthorized(format!(
            "{caller} holds no print license for order {} (licensed to {})",
            order.order_id, a.offer.producer
        )));
    }
    let units = args.serials.len() as u64;
    let beyond = order
        .produced_units
        .checked_add(units)
        .is_none_or(|total| total > order.quantity);
    if order.state == OrderState::Delivered || (order.state == OrderState::Accepted && beyond) {
        return refuse(format!(
            "production beyond the licensed quantity: order {} licenses {} units, {} already reported, {units} more",
            order.order_id, order.quantity, order.produced_units
        ));
    }
    if order.state != OrderState::Accepted {
        return Err(wrong_state(&order, "report production for"));
    }
    if order.batches >= BATCHES_PER_ORDER_MAX {
        return Err(ContractError::LimitExceeded(format!(
            "order {} already has {BATCHES_PER_ORDER_MAX} production records",
            order.order_id
        )));
    }
    let batch = order.batches + 1;
    let () = call(
        ctx,
        CERTIFY,
        "record_production",
        &RecordProductionArgs {
            batch,
            file_hash: order.file_hash,
            producer: caller,
            material: order.material.clone(),
            report: args,
        },
    )?;
    order.batches = batch;
    order.produced_units += units;
    assert!(order.produced_units <= order.quantity);
    if order.produced_units == order.quantity {
        order.state = OrderState::Delivered;
        order.delivered = Some(stamp(ctx));
        save_order(ctx, &order, "order_delivered")?;
    } else {
        save_order(ctx, &order, "production_reported")?;
    }
    output(&batch)
}

/// Pays the escrow out after delivery: the producer gets the price minus
/// the platform fee, the designer the royalty, the platform its fee.
fn complete(
    ctx: &mut dyn Context,
    mut order: Order,
    kind: SettlementKind,
) -> Result<Vec<u8>, ContractError> {
    assert_eq!(order.state, OrderState::Delivered);
    let a = acceptance(&order)?.clone();
    let delivered_ms = order.delivered.as_ref().map(|d| d.time_ms).ok_or_else(|| {
        ContractError::Storage(format!(
            "order {} delivered without a stamp",
            order.order_id
        ))
    })?;
    let price = a.offer.price;
    // u128: price × bps cannot overflow, and fee <= price since bps <= 10 000.
    let fee =
        (u128::from(price) * u128::from(a.platform_fee_bps) / u128::from(BPS_DENOMINATOR)) as u64;
    assert!(fee <= price);
    let mut payouts = vec![
        Payout {
            to: a.offer.producer.clone(),
            amount: price - fee,
        },
        Payout {
            to: a.designer.clone(),
            amount: a.royalty_total,
        },
    ];
    if let Some(platform) = &a.platform_account {
        payouts.push(Payout {
            to: platform.clone(),
            amount: fee,
        });
    }
    payouts.retain(|p| p.amount > 0);
    assert_eq!(
        payouts.iter().map(|p| p.amount).sum::<u64>(),
        a.escrow_total
    );
    let () = call(
        ctx,
        TOKEN,
        "escrow_release",
        &EscrowReleaseArgs {
            escrow_id: order.order_id,
            payouts: payouts.clone(),
        },
    )?;
    order.state = OrderState::Completed;
    order.settlement = Some(Settlement {
        kind,
        payouts,
        stamp: stamp(ctx),
    });
    save_order(ctx, &order, "order_settled")?;
    let () = call(
        ctx,
        REPUTATION,
        "record",
        &Fact::OrderCompleted {
            producer: a.offer.producer,
            designer: a.designer,
            customer: order.customer,
            on_time: delivered_ms <= order.deadline_ms,
            units: order.quantity,
            material: order.material,
            process: a.offer.process,
            region: order.region,
        },
    )?;
    Ok(Vec::new())
}

fn confirm_receipt(ctx: &mut dyn Context, args: OrderIdArgs) -> Result<Vec<u8>, ContractError> {
    let order = load_order(ctx, args.order_id)?;
    require_customer(ctx, &order, "confirm receipt of")?;
    if order.state != OrderState::Delivered {
        return Err(wrong_state(&order, "confirm receipt of"));
    }
    complete(ctx, order, SettlementKind::Confirmed)
}

fn settle(ctx: &mut dyn Context, args: OrderIdArgs) -> Result<Vec<u8>, ContractError> {
    let order = load_order(ctx, args.order_id)?;
    if order.state != OrderState::Delivered {
        return Err(wrong_state(&order, "settle"));
    }
    let a = acceptance(&order)?;
    let delivered_ms = order.delivered.as_ref().map_or(u64::MAX, |d| d.time_ms);
    let due_ms = delivered_ms.saturating_add(a.receipt_timeout_ms);
    let now_ms = ctx.block().timestamp_ms;
    if now_ms < due_ms {
        return refuse(format!(
            "receipt of order {} is assumed only from {due_ms} ms (now {now_ms} ms); the customer may confirm earlier",
            order.order_id
        ));
    }
    complete(ctx, order, SettlementKind::AssumedReceipt)
}

fn reclaim(ctx: &mut dyn Context, args: OrderIdArgs) -> Result<Vec<u8>, ContractError> {
    let mut order = load_order(ctx, args.order_id)?;
    require_customer(ctx, &order, "reclaim the escrow of")?;
    if order.state != OrderState::Accepted {
        return Err(wrong_state(&order, "reclaim the escrow of"));
    }
    let now_ms = ctx.block().timestamp_ms;
    if now_ms <= order.deadline_ms {
        return refuse(format!(
            "order {} deadline {} ms has not passed (now {now_ms} ms)",
            order.order_id, order.deadline_ms
        ));
    }
    let a = acceptance(&order)?.clone();
    let () = call(
        ctx,
        TOKEN,
        "escrow_refund",
        &EscrowIdArgs {
            escrow_id: order.order_id,
        },
    )?;
    order.state = OrderState::Reclaimed;
    order.settlement = Some(Settlement {
        kind: SettlementKind::Reclaimed,
        payouts: vec![Payout {
            to: order.customer.clone(),
            amount: a.escrow_total,
        }],
        stamp: stamp(ctx),
    });
    save_order(ctx, &order, "order_reclaimed")?;
    let () = call(
        ctx,
        REPUTATION,
        "record",
        &Fact::DeadlineMissed {
            producer: a.offer.producer,
        },
    )?;
    Ok(Vec::new())
}

fn dispute(ctx: &mut dyn Context, args: DisputeArgs) -> Result<Vec<u8>, ContractError> {
    check_text("reason", &args.reason, REASON_BYTES_MAX, false)?;
    let mut order = load_order(ctx, args.order_id)?;
    let caller = ctx.caller().account();
    let producer = order.acceptance.as_ref().map(|a| a.offer.producer.clone());
    let raised_by = if caller == order.customer {
        Party::Customer
    } else if producer.as_deref() == Some(caller.as_str()) {
        Party::Producer
    } else {
        return Err(ContractError::NotAuthorized(format!(
            "only the customer or the producer may dispute order {}, not {caller}",
            order.order_id
        )));
    };
    if !matches!(order.state, OrderState::Accepted | OrderState::Delivered) {
        return Err(wrong_state(&order, "dispute"));
    }
    order.dispute = Some(Dispute {
        raised_by,
        reason: args.reason,
        interrupted: order.state,
        stamp: stamp(ctx),
        ruling: None,
    });
    order.state = OrderState::Disputed;
    save_order(ctx, &order, "order_disputed")?;
    Ok(Vec::new())
}

fn resolve(ctx: &mut dyn Context, args: ResolveArgs) -> Result<Vec<u8>, ContractError> {
    let expert = require_accredited_expert(ctx, "resolve disputes")?;
    check_text("ruling", &args.ruling, REASON_BYTES_MAX, false)?;
    let mut order = load_order(ctx, args.order_id)?;
    if order.state != OrderState::Disputed {
        return refuse(format!(
            "order {} is not in dispute (it is {})",
            order.order_id,
            order.state.name()
        ));
    }
    let a = acceptance(&order)?.clone();
    if expert == order.customer || expert == a.offer.producer {
        return Err(ContractError::NotAuthorized(format!(
            "{expert} is a party to order {} and may not resolve its dispute",
            order.order_id
        )));
    }
    let sum = [args.to_producer, args.to_designer, args.to_customer]
        .into_iter()
        .try_fold(0u64, u64::checked_add);
    if sum != Some(a.escrow_total) {
        return refuse(format!(
            "the split {} + {} + {} must add up to the escrow of {}",
            args.to_producer, args.to_designer, args.to_customer, a.escrow_total
        ));
    }
    let mut payouts = vec![
        Payout {
            to: a.offer.producer.clone(),
            amount: args.to_producer,
        },
        Payout {
            to: a.designer.clone(),
            amount: args.to_designer,
        },
        Payout {
            to: order.customer.clone(),
            amount: args.to_customer,
        },
    ];
    payouts.retain(|p| p.amount > 0);
    let () = call(
        ctx,
        TOKEN,
        "escrow_release",
        &EscrowReleaseArgs {
            escrow_id: order.order_id,
            payouts: payouts.clone(),
        },
    )?;
    let here = stamp(ctx);
    if let Some(d) = order.dispute.as_mut() {
        d.ruling = Some(Ruling {
            expert,
            winner: args.winner,
            text: args.ruling,
            stamp: here.clone(),
        });
    }
    order.state = OrderState::Resolved;
    order.settlement = Some(Settlement {
        kind: SettlementKind::Resolved,
        payouts,
        stamp: here,
    });
    save_order(ctx, &order, "dispute_resolved")?;
    let () = call(
        ctx,
        REPUTATION,
        "record",
        &Fact::DisputeResolved {
            producer: a.offer.producer,
            customer: order.customer,
            winner: args.winner,
        },
    )?;
    Ok(Vec::new())
}

fn cancel(ctx: &mut dyn Context, args: OrderIdArgs) -> Result<Vec<u8>, ContractError> {
    let mut order = load_order(ctx, args.order_id)?;
    require_customer(ctx, &order, "cancel")?;
    if order.state != OrderState::Open {
        return Err(wrong_state(&order, "cancel"));
    }
    order.state = OrderState::Cancelled;
    save_order(ctx, &order, "order_cancelled")?;
    Ok(Vec::new())
}

fn offers(ctx: &mut dyn Context, args: OrderIdArgs) -> Result<Vec<u8>, ContractError> {
    let start = prefix("f", &[&be64(args.order_id)]);
    let rows = ctx.range(
        &start,
        Some(&prefix_end(&start)),
        OFFERS_PER_ORDER_MAX as usize,
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for (k, _) in rows {
        if let Some(o) = load::<Offer>(ctx, &k)? {
            out.push(o);
        }
    }
    output(&out)
}

impl Contract for Market {
    fn call(
        &self,
        ctx: &mut dyn Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        match method {
            "post_order" => post_order(ctx, decode_args(args)?),
            "offer" => offer(ctx, decode_args(args)?),
            "accept" => accept(ctx, decode_args(args)?),
            "report_production" => report_production(ctx, decode_args(args)?),
            "confirm_receipt" => confirm_receipt(ctx, decode_args(args)?),
            "settle" => settle(ctx, decode_args(args)?),
            "reclaim" => reclaim(ctx, decode_args(args)?),
            "dispute" => dispute(ctx, decode_args(args)?),
            "resolve" => resolve(ctx, decode_args(args)?),
            "cancel" => cancel(ctx, decode_args(args)?),
            "order" => {
                let a: OrderIdArgs = decode_args(args)?;
                output(&load::<Order>(ctx, &order_key(a.order_id))?)
            }
            "offers" => offers(ctx, decode_args(args)?),
            other => Err(unknown_method(MARKET, other)),
        }
    }
}

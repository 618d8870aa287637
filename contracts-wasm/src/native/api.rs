//! The public interface of the native contracts: names, limits, and every
//! argument, output and event, as borsh structs.
//!
//! Clients (the CLI, the web page, tests) build calls by encoding one of the
//! `*Args` structs with borsh and decode outputs and event data with the
//! types named in each method's documentation (see `docs/CONTRACTS.md`).
//! Nothing here touches the ledger: it is plain data, so it can be used on
//! the client side without a context.

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_engine::Hash;
use productivist_engine::crypto::domain;
use productivist_engine::policy::Endorsement;

// ---------------------------------------------------------------------------
// Contract names (stable: the CLI and other contracts use them).

/// The fiat-pegged service token.
pub const TOKEN: &str = "token";
/// Model authentication (pre-production).
pub const MODEL: &str = "model";
/// The tokenized service marketplace.
pub const MARKET: &str = "market";
/// Production records, object certificates and expert accreditation.
pub const CERTIFY: &str = "certify";
/// Reputation, ratings, rankings and the labster program.
pub const REPUTATION: &str = "reputation";

// ---------------------------------------------------------------------------
// Limits. Every list an untrusted client sends, and every scan a contract
// makes, is bounded by one of these.

/// Longest free text (model names, references, claims, memos), in bytes.
pub const TEXT_BYTES_MAX: usize = 256;
/// Longest reason or ruling text, in bytes.
pub const REASON_BYTES_MAX: usize = 1024;
/// Most entries of an allow-list, parameter list or evidence list.
pub const LIST_ITEMS_MAX: usize = 32;
/// Most payees of one escrow release.
pub const PAYOUTS_MAX: usize = 8;
/// Most serial numbers in one production record.
pub const SERIALS_PER_RECORD_MAX: usize = 256;
/// Most serial numbers one certificate covers.
pub const SERIALS_PER_CERTIFICATE_MAX: usize = 64;
/// Most certificates issued on one serial number.
pub const CERTIFICATES_PER_SERIAL_MAX: u32 = 64;
/// Most offers on one order.
pub const OFFERS_PER_ORDER_MAX: u32 = 64;
/// Most production records (batches) for one order.
pub const BATCHES_PER_ORDER_MAX: u32 = 64;
/// Most fitness certificates on one model.
pub const FITNESS_PER_MODEL_MAX: u32 = 64;
/// Most entries one ranking query returns.
pub const RANKING_LIMIT_MAX: u32 = 100;
/// Most (material, process, region) tags tracked per producer; facts past
/// the bound still count in the score, the producer just is not indexed
/// under more tags.
pub const TAGS_PER_PRODUCER_MAX: usize = 48;
/// Highest labster (producer accreditation program) level.
pub const LABSTER_LEVEL_MAX: u8 = 3;
/// Lowest and highest rating.
pub const STARS_MIN: u8 = 1;
/// Highest rating.
pub const STARS_MAX: u8 = 5;
/// Basis points in one whole.
pub const BPS_DENOMINATOR: u64 = 10_000;

// ---------------------------------------------------------------------------
// Shared types.

/// Where and when a fact was recorded on the channel.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Stamp {
    /// Block height.
    pub height: u64,
    /// Block time, ms since the Unix epoch.
    pub time_ms: u64,
    /// The transaction that recorded it.
    pub tx_id: Hash,
}

/// Either anything, or exactly the listed values (1 to [`LIST_ITEMS_MAX`]).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum AllowList {
    /// Any value is allowed.
    Any,
    /// Only these values.
    Only(Vec<String>),
}

impl AllowList {
    /// Whether `value` is allowed.
    pub fn allows(&self, value: &str) -> bool {
        match self {
            AllowList::Any => true,
            AllowList::Only(values) => values.iter().any(|v| v == value),
        }
    }
}

/// Account argument (`subject@org`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AccountArgs {
    /// The account.
    pub account: String,
}

/// Order id argument.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct OrderIdArgs {
    /// The order.
    pub order_id: u64,
}

/// Model file hash argument.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FileHashArgs {
    /// blake3 of the model file.
    pub file_hash: Hash,
}

/// One payment out of an escrow.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Payout {
    /// Payee account.
    pub to: String,
    /// Tokens.
    pub amount: u64,
}

// ---------------------------------------------------------------------------
// token

/// `token.mint` (issuer only): credits `to` against fiat received off-chain.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct MintArgs {
    /// Credited account.
    pub to: String,
    /// Tokens, at least 1.
    pub amount: u64,
    /// The off-chain payment reference (1 to [`TEXT_BYTES_MAX`] bytes);
    /// each reference mints once, so a payment cannot be minted twice.
    pub reference: String,
}

/// `token.burn` (issuer only): destroys tokens from the issuer's own balance
/// on redemption (the holder first transfers them to the issuer).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BurnArgs {
    /// Tokens, at least 1.
    pub amount: u64,
    /// The off-chain redemption reference; each burns once.
    pub reference: String,
}

/// `token.transfer`: moves tokens from the caller's account.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TransferArgs {
    /// Recipient account (its organization must be a channel member).
    pub to: String,
    /// Tokens, at least 1.
    pub amount: u64,
    /// Free text, up to [`TEXT_BYTES_MAX`] bytes.
    pub memo: String,
}

/// Output of `token.balance`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Balance {
    /// The account.
    pub account: String,
    /// Spendable tokens (escrowed tokens are not included).
    pub amount: u64,
}

/// Output of `token.supply`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Supply {
    /// Token symbol (from the channel config).
    pub unit: String,
    /// Off-chain value of one token (from the channel config).
    pub peg: String,
    /// Tokens ever minted.
    pub minted: u64,
    /// Tokens ever burned.
    pub burned: u64,
    /// Tokens in open escrows.
    pub escrowed: u64,
}

/// `token.escrow_lock` (market only): moves `amount` from `from` into a new
/// escrow.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EscrowLockArgs {
    /// Escrow id, never reused (the market uses the order id).
    pub escrow_id: u64,
    /// Paying account.
    pub from: String,
    /// Tokens, at least 1.
    pub amount: u64,
}

/// `token.escrow_release` (market only): pays the whole escrow out to the
/// payees and closes it. The amounts must add up to the escrow exactly.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EscrowReleaseArgs {
    /// Escrow id.
    pub escrow_id: u64,
    /// 1 to [`PAYOUTS_MAX`] payees, each at least 1 token.
    pub payouts: Vec<Payout>,
}

/// `token.escrow_refund` (market only) and `token.escrow` (query).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EscrowIdArgs {
    /// Escrow id.
    pub escrow_id: u64,
}

/// Where an escrow is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum EscrowState {
    /// Holding tokens.
    Locked,
    /// Paid out to payees; closed.
    Released,
    /// Returned to the payer; closed.
    Refunded,
}

/// Output of `token.escrow` (`Option<Escrow>`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Escrow {
    /// Escrow id.
    pub escrow_id: u64,
    /// Paying account.
    pub payer: String,
    /// Tokens locked.
    pub amount: u64,
    /// State.
    pub state: EscrowState,
    /// When it was locked.
    pub locked: Stamp,
    /// When it was closed.
    pub closed: Option<Stamp>,
    /// Who was paid when it closed (the payer alone for a refund).
    pub payouts: Vec<Payout>,
}

/// Event `minted`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Minted {
    /// Credited account.
    pub to: String,
    /// Tokens.
    pub amount: u64,
    /// Off-chain payment reference.
    pub reference: String,
}

/// Event `burned`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Burned {
    /// Debited (issuer) account.
    pub from: String,
    /// Tokens.
    pub amount: u64,
    /// Off-chain redemption reference.
    pub reference: String,
}

/// Event `transferred`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transferred {
    /// Debited account.
    pub from: String,
    /// Credited account.
    pub to: String,
    /// Tokens.
    pub amount: u64,
    /// Memo.
    pub memo: String,
}

/// Events `escrow_locked`, `escrow_released` and `escrow_refunded`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct EscrowEvent {
    /// Escrow id.
    pub escrow_id: u64,
    /// Tokens locked, released or refunded.
    pub amount: u64,
    /// Payees (release), the payer (refund), or empty (lock).
    pub payouts: Vec<Payout>,
}

// ---------------------------------------------------------------------------
// model

/// A model's license terms.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LicenseTerms {
    /// Tokens owed to the designer per produced unit.
    pub royalty_per_unit: u64,
    /// Producer accounts allowed to print it.
    pub producers: AllowList,
    /// Most units across all print licenses of this version (at least 1).
    pub max_units: u64,
    /// Allowed materials (identifiers such as `PLA`).
    pub materials: AllowList,
    /// Allowed processes (identifiers such as `FDM`).
    pub processes: AllowList,
}

/// `model.register` (designer): registers a model file.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RegisterModelArgs {
    /// blake3 of the model file (`Hash::of(bytes)`).
    pub file_hash: Hash,
    /// Display name, 1 to [`TEXT_BYTES_MAX`] bytes.
    pub name: String,
    /// 1 for a first version; the previous version's plus one otherwise.
    pub version: u32,
    /// The previous version's file hash (only its designer may follow it up).
    pub previous: Option<Hash>,
    /// License terms.
    pub license: LicenseTerms,
}

/// A newer version replacing a model.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Supersession {
    /// The newer version number.
    pub version: u32,
    /// The newer version's file hash.
    pub file_hash: Hash,
    /// When the newer version was registered.
    pub stamp: Stamp,
}

/// A registered model.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ModelRecord {
    /// blake3 of the model file.
    pub file_hash: Hash,
    /// Display name.
    pub name: String,
    /// Version number.
    pub version: u32,
    /// Previous version's file hash.
    pub previous: Option<Hash>,
    /// The registering designer's account.
    pub designer: String,
    /// License terms.
    pub license: LicenseTerms,
    /// When it was registered.
    pub registered: Stamp,
    /// Set once a newer version is registered.
    pub superseded_by: Option<Supersession>,
    /// Units covered by print licenses so far (at most `license.max_units`).
    pub units_licensed: u64,
    /// Number of fitness certificates.
    pub fitness_count: u32,
}

/// What a fitness certificate is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Aspect {
    /// A material, such as `PETG`.
    Material,
    /// A process, such as `SLA`.
    Process,
}

/// `model.certify_fitness` (accredited expert).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertifyFitnessArgs {
    /// The model.
    pub file_hash: Hash,
    /// Material or process.
    pub aspect: Aspect,
    /// The material or process identifier.
    pub value: String,
    /// Hash of the evidence (test report).
    pub evidence: Hash,
}

/// An expert's statement that a model is fit for a material or process.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct FitnessCertificate {
    /// Material or process.
    pub aspect: Aspect,
    /// The material or process identifier.
    pub value: String,
    /// The expert's account.
    pub expert: String,
    /// Hash of the evidence.
    pub evidence: Hash,
    /// When it was issued.
    pub stamp: Stamp,
}

/// Output of `model.authenticate`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Authenticity {
    /// No model with this file hash is registered.
    Unknown,
    /// The file is a registered model.
    Authentic {
        /// The registration (boxed: it is much larger than `Unknown`).
        model: Box<ModelRecord>,
        /// Its fitness certificates (the first [`FITNESS_PER_MODEL_MAX`]).
        fitness: Vec<FitnessCertificate>,
    },
}

/// `model.grant_license` (market only).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GrantLicenseArgs {
    /// The model.
    pub file_hash: Hash,
    /// The order the license is for (one license per order).
    pub order_id: u64,
    /// The licensed producer.
    pub producer: String,
    /// Units licensed.
    pub quantity: u64,
    /// Material.
    pub material: String,
    /// Process.
    pub process: String,
}

/// A print license: one producer may make `quantity` units of one model for
/// one order. Output of `model.grant_license` and `model.license`
/// (`Option<PrintLicense>`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PrintLicense {
    /// The order.
    pub order_id: u64,
    /// The model.
    pub file_hash: Hash,
    /// The model's designer (royalty payee).
    pub designer: String,
    /// The licensed producer.
    pub producer: String,
    /// Units licensed.
    pub quantity: u64,
    /// Material.
    pub material: String,
    /// Process.
    pub process: String,
    /// Royalty per unit at grant time.
    pub royalty_per_unit: u64,
    /// When it was granted.
    pub granted: Stamp,
}

/// Event `model_registered` and `model_superseded` (the new version).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ModelEvent {
    /// The model (for `model_superseded`: the old version).
    pub file_hash: Hash,
    /// Its version (for `model_superseded`: the new version).
    pub version: u32,
    /// The designer.
    pub designer: String,
}

// ---------------------------------------------------------------------------
// market

/// `market.post_order` (customer). Returns the order id (`u64`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct PostOrderArgs {
    /// The model to make.
    pub file_hash: Hash,
    /// Units, at least 1.
    pub quantity: u64,
    /// Material identifier.
    pub material: String,
    /// Production must be reported by this block time (ms).
    pub deadline_ms: u64,
    /// The most the customer pays producers (tokens, royalty excluded).
    pub price_cap: u64,
    /// Region identifier, such as `FR-IDF`.
    pub region: String,
}

/// `market.offer` (producer or industrial). Returns the offer number (`u32`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct OfferArgs {
    /// The order.
    pub order_id: u64,
    /// Price for the whole order (tokens, royalty excluded), at most the cap.
    pub price: u64,
    /// Promised production time from acceptance.
    pub lead_time_ms: u64,
    /// Process identifier the producer will use.
    pub process: String,
}

/// `market.accept` (the order's customer).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AcceptArgs {
    /// The order.
    pub order_id: u64,
    /// The offer number.
    pub offer_no: u32,
}

/// A named process parameter.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Parameter {
    /// Identifier, such as `layer_height_um`.
    pub name: String,
    /// Value text.
    pub value: String,
}

/// A hash of a piece of evidence.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Evidence {
    /// Identifier of the kind, such as `photo`, `scan`, `measurement-report`.
    pub kind: String,
    /// blake3 of the evidence file.
    pub hash: Hash,
}

/// `market.report_production` (the licensed producer). Returns the batch
/// number (`u32`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ReportProductionArgs {
    /// The order.
    pub order_id: u64,
    /// Machine identifier.
    pub machine: String,
    /// Material batch identifier.
    pub material_batch: String,
    /// Up to [`LIST_ITEMS_MAX`] process parameters.
    pub parameters: Vec<Parameter>,
    /// Up to [`LIST_ITEMS_MAX`] evidence hashes.
    pub evidence: Vec<Evidence>,
    /// Serial numbers of the units made, 1 to [`SERIALS_PER_RECORD_MAX`],
    /// unique on the channel.
    pub serials: Vec<String>,
}

/// `market.dispute` (the customer or the producer).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct DisputeArgs {
    /// The order.
    pub order_id: u64,
    /// Why, 1 to [`REASON_BYTES_MAX`] bytes.
    pub reason: String,
}

/// A side of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Party {
    /// The customer.
    Customer,
    /// The producer.
    Producer,
}

/// `market.resolve` (an accredited expert who is not a party): splits the
/// escrow. The three amounts must add up to the escrow exactly.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ResolveArgs {
    /// The order.
    pub order_id: u64,
    /// Who won the dispute (for reputation).
    pub winner: Party,
    /// Tokens to the producer.
    pub to_producer: u64,
    /// Tokens to the designer.
    pub to_designer: u64,
    /// Tokens back to the customer.
    pub to_customer: u64,
    /// The decision's text, 1 to [`REASON_BYTES_MAX`] bytes.
    pub ruling: String,
}

/// Where an order is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum OrderState {
    /// Posted; taking offers.
    Open,
    /// An offer was accepted; escrow locked; production under way.
    Accepted,
    /// Every unit was reported produced; waiting for receipt.
    Delivered,
    /// Receipt confirmed or assumed; escrow paid out.
    Completed,
    /// Deadline missed; escrow returned to the customer.
    Reclaimed,
    /// A dispute is open; escrow frozen.
    Disputed,
    /// An expert split the escrow.
    Resolved,
    /// Withdrawn by the customer before acceptance.
    Cancelled,
}

impl OrderState {
    /// Lower-case name, for messages.
    pub fn name(self) -> &'static str {
        match self {
            OrderState::Open => "open",
            OrderState::Accepted => "accepted",
            OrderState::Delivered => "delivered",
            OrderState::Completed => "completed",
            OrderState::Reclaimed => "reclaimed",
            OrderState::Disputed => "disputed",
            OrderState::Resolved => "resolved",
            OrderState::Cancelled => "cancelled",
        }
    }
}

/// An offer. Output of `market.offers` (`Vec<Offer>`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Offer {
    /// The order.
    pub order_id: u64,
    /// Number within the order, from 1.
    pub offer_no: u32,
    /// The producer's account.
    pub producer: String,
    /// Price for the whole order.
    pub price: u64,
    /// Promised production time.
    pub lead_time_ms: u64,
    /// Process.
    pub process: String,
    /// When it was made.
    pub stamp: Stamp,
}

/// The terms fixed when an offer is accepted. Channel parameters (fee,
/// receipt timeout) are copied here so a later config change cannot alter a
/// running order.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Acceptance {
    /// The accepted offer.
    pub offer: Offer,
    /// The designer (royalty payee).
    pub designer: String,
    /// Royalty per unit.
    pub royalty_per_unit: u64,
    /// Royalty for the whole quantity.
    pub royalty_total: u64,
    /// Price plus royalty: the escrowed amount (escrow id = order id).
    pub escrow_total: u64,
    /// Platform fee, basis points of the price.
    pub platform_fee_bps: u32,
    /// Platform fee payee.
    pub platform_account: Option<String>,
    /// Receipt is assumed this long after delivery.
    pub receipt_timeout_ms: u64,
    /// When it was accepted.
    pub stamp: Stamp,
}

/// How an order's escrow was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SettlementKind {
    /// The customer confirmed receipt.
    Confirmed,
    /// Receipt was assumed after the timeout.
    AssumedReceipt,
    /// The customer reclaimed the escrow after a missed deadline.
    Reclaimed,
    /// An expert resolved a dispute.
    Resolved,
}

/// The closing of an order's escrow.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Settlement {
    /// How.
    pub kind: SettlementKind,
    /// Who got what.
    pub payouts: Vec<Payout>,
    /// When.
    pub stamp: Stamp,
}

/// An expert's decision on a dispute.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Ruling {
    /// The expert.
    pub expert: String,
    /// The winner.
    pub winner: Party,
    /// The decision's text.
    pub text: String,
    /// When.
    pub stamp: Stamp,
}

/// A dispute on an order.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Dispute {
    /// Who raised it.
    pub raised_by: Party,
    /// Why.
    pub reason: String,
    /// The state it interrupted (`Accepted` or `Delivered`).
    pub interrupted: OrderState,
    /// When.
    pub stamp: Stamp,
    /// The decision, once made.
    pub ruling: Option<Ruling>,
}

/// An order. Output of `market.order` (`Option<Order>`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Order {
    /// Order id, from 1.
    pub order_id: u64,
    /// The customer's account.
    pub customer: String,
    /// The model.
    pub file_hash: Hash,
    /// Units.
    pub quantity: u64,
    /// Material.
    pub material: String,
    /// Region.
    pub region: String,
    /// Production deadline, block time ms.
    pub deadline_ms: u64,
    /// Price cap.
    pub price_cap: u64,
    /// When it was posted.
    pub posted: Stamp,
    /// State.
    pub state: OrderState,
    /// Offers made.
    pub offers: u32,
    /// The accepted offer and its terms.
    pub acceptance: Option<Acceptance>,
    /// Units reported produced.
    pub produced_units: u64,
    /// Production records (batches) reported.
    pub batches: u32,
    /// When the last unit was reported (delivery).
    pub delivered: Option<Stamp>,
    /// The dispute, if one was raised.
    pub dispute: Option<Dispute>,
    /// The escrow's closing.
    pub settlement: Option<Settlement>,
}

/// Data of every market event: `order_posted`, `offer_made`,
/// `offer_accepted`, `production_reported`, `order_delivered`,
/// `order_settled`, `order_reclaimed`, `order_disputed`, `dispute_resolved`,
/// `order_cancelled`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct OrderEvent {
    /// The order.
    pub order_id: u64,
    /// The account that acted.
    pub actor: String,
    /// The order's state after the step.
    pub state: OrderState,
}

// ---------------------------------------------------------------------------
// certify

/// A governance grant of expert accreditation. Governance endorses
/// [`accreditation_digest`] of it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Accreditation {
    /// The expert's account.
    pub expert: String,
    /// Governance's number for this grant; a grant is accepted once.
    pub grant_id: u64,
    /// What the expert is accredited for (free text, such as a standard).
    pub scope: String,
    /// Valid from (block time ms, inclusive).
    pub valid_from_ms: u64,
    /// Valid until (block time ms, exclusive).
    pub valid_until_ms: u64,
}

/// `certify.accredit` (anyone may submit; the endorsements carry authority).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AccreditArgs {
    /// The grant.
    pub accreditation: Accreditation,
    /// Org admins' endorsements of [`accreditation_digest`], satisfying the
    /// channel's `config_update` policy.
    pub endorsements: Vec<Endorsement>,
}

/// A governance withdrawal of an expert's accreditation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Withdrawal {
    /// The expert's account.
    pub expert: String,
    /// The grant being withdrawn.
    pub grant_id: u64,
    /// Why.
    pub reason: String,
}

/// `certify.withdraw_accreditation`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct WithdrawAccreditationArgs {
    /// The withdrawal.
    pub withdrawal: Withdrawal,
    /// Endorsements of [`withdrawal_digest`] satisfying `config_update`.
    pub endorsements: Vec<Endorsement>,
}

#[derive(BorshSerialize)]
struct DigestPayload<'a, T> {
    purpose: &'static str,
    channel: &'a str,
    value: &'a T,
}

fn digest<T: BorshSerialize>(purpose: &'static str, channel: &str, value: &T) -> Hash {
    let payload = DigestPayload {
        purpose,
        channel,
        value,
    };
    let mut bytes = Vec::new();
    // Serializing into a Vec cannot fail.
    if let Err(e) = payload.serialize(&mut bytes) {
        unreachable!("borsh into memory failed: {e}");
    }
    Hash::tagged(domain::ENDORSEMENT, &bytes)
}

/// The digest governance endorses to accredit an expert on `channel`. The
/// purpose and channel are inside it so an endorsement cannot be replayed
/// for another purpose or channel.
pub fn accreditation_digest(channel: &str, accreditation: &Accreditation) -> Hash {
    digest("certify.accredit", channel, accreditation)
}

/// The digest governance endorses to withdraw an accreditation.
pub fn withdrawal_digest(channel: &str, withdrawal: &Withdrawal) -> Hash {
    digest("certify.withdraw_accreditation", channel, withdrawal)
}

/// A stored accreditation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AccreditationRecord {
    /// The grant.
    pub accreditation: Accreditation,
    /// When it was recorded.
    pub granted: Stamp,
    /// When it was withdrawn.
    pub withdrawn: Option<Stamp>,
}

/// Output of `certify.accreditation` (`Option<AccreditationStatus>`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct AccreditationStatus {
    /// The record.
    pub record: AccreditationRecord,
    /// Whether it is in force at the current block time.
    pub active: bool,
}

/// `certify.record_production` (market only).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RecordProductionArgs {
    /// Batch number within the order, from 1.
    pub batch: u32,
    /// The model.
    pub file_hash: Hash,
    /// The producer.
    pub producer: String,
    /// Material (of the order).
    pub material: String,
    /// The report.
    pub report: ReportProductionArgs,
}

/// A production record. Output of `certify.production`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProductionRecord {
    /// The order.
    pub order_id: u64,
    /// Batch number within the order.
    pub batch: u32,
    /// The model.
    pub file_hash: Hash,
    /// The producer.
    pub producer: String,
    /// Machine.
    pub machine: String,
    /// Material.
    pub material: String,
    /// Material batch.
    pub material_batch: String,
    /// Process parameters.
    pub parameters: Vec<Parameter>,
    /// Evidence hashes.
    pub evidence: Vec<Evidence>,
    /// Unit serial numbers.
    pub serials: Vec<String>,
    /// When it was recorded.
    pub stamp: Stamp,
}

/// `certify.production` query.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ProductionArgs {
    /// The order.
    pub order_id: u64,
    /// The batch.
    pub batch: u32,
}

/// Pass or fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Outcome {
    /// The object meets the claim.
    Pass,
    /// The object does not meet the claim.
    Fail,
}

/// `certify.issue` (accredited expert). Returns the certificate id (`u64`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct IssueCertificateArgs {
    /// Serials covered, 1 to [`SERIALS_PER_CERTIFICATE_MAX`], all recorded.
    pub serials: Vec<String>,
    /// The claim or standard, 1 to [`TEXT_BYTES_MAX`] bytes.
    pub claim: String,
    /// Pass or fail.
    pub outcome: Outcome,
    /// blake3 of the evidence (test report).
    pub evidence: Hash,
    /// Valid from (ms, inclusive).
    pub valid_from_ms: u64,
    /// Valid until (ms, exclusive), after `valid_from_ms`.
    pub valid_until_ms: u64,
}

/// A revocation.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertificateRevocation {
    /// Why.
    pub reason: String,
    /// When.
    pub stamp: Stamp,
}

/// An object certificate.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ObjectCertificate {
    /// Certificate id, from 1.
    pub certificate_id: u64,
    /// The issuing expert.
    pub issuer: String,
    /// Serials covered.
    pub serials: Vec<String>,
    /// The claim or standard.
    pub claim: String,
    /// Pass or fail.
    pub outcome: Outcome,
    /// Evidence hash.
    pub evidence: Hash,
    /// Valid from.
    pub valid_from_ms: u64,
    /// Valid until.
    pub valid_until_ms: u64,
    /// When it was issued.
    pub issued: Stamp,
    /// Set when revoked.
    pub revoked: Option<CertificateRevocation>,
}

/// A certificate's standing at the current block time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum CertificateStatus {
    /// In force.
    Valid,
    /// Not in force yet.
    NotYetValid,
    /// Past its validity.
    Expired,
    /// Revoked by its issuer.
    Revoked,
}

/// A certificate with its standing. Output of `certify.certificate`
/// (`Option<CertificateView>`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertificateView {
    /// The certificate.
    pub certificate: ObjectCertificate,
    /// Its standing now.
    pub status: CertificateStatus,
}

/// `certify.certificate` query.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertificateIdArgs {
    /// The certificate.
    pub certificate_id: u64,
}

/// `certify.revoke` (the issuer).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RevokeCertificateArgs {
    /// The certificate.
    pub certificate_id: u64,
    /// Why, 1 to [`REASON_BYTES_MAX`] bytes.
    pub reason: String,
}

/// `certify.verify` query.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SerialArgs {
    /// A unit's serial number.
    pub serial: String,
}

/// The whole chain behind one object. Output of `certify.verify`
/// (`Option<Provenance>`; `None` for an unknown serial). Every fact carries
/// the block height, time and transaction that recorded it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Provenance {
    /// The serial asked about.
    pub serial: String,
    /// The model's registration (designer, version, supersession).
    pub model: Option<ModelRecord>,
    /// The order: customer, acceptance (producer, terms), delivery,
    /// dispute and settlement.
    pub order: Option<Order>,
    /// The print license.
    pub license: Option<PrintLicense>,
    /// The production record (producer, machine, batch, evidence).
    pub production: ProductionRecord,
    /// Certificates on this serial with their standing at `checked_at_ms`.
    pub certificates: Vec<CertificateView>,
    /// The customer's rating of the order.
    pub rating: Option<Rating>,
    /// Block height of the state this was read from.
    pub checked_at_height: u64,
    /// Block time the certificates' standing was computed at.
    pub checked_at_ms: u64,
}

/// Event data of `production_recorded`, `certificate_issued`,
/// `certificate_revoked`, `accredited` and `accreditation_withdrawn`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertifyEvent {
    /// The account the fact is about (producer, issuer, expert).
    pub account: String,
    /// Order id, certificate id or grant id.
    pub id: u64,
}

// ---------------------------------------------------------------------------
// reputation

/// On-chain facts about one account. All counters only move through the
/// contracts that witness the facts.
#[derive(Clone, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Stats {
    /// Orders produced by the deadline and settled (as producer).
    pub orders_on_time: u64,
    /// Orders produced after the deadline and settled (as producer).
    pub orders_late: u64,
    /// Orders reclaimed after a missed deadline (as producer).
    pub orders_missed: u64,
    /// Disputes won (either side).
    pub disputes_won: u64,
    /// Disputes lost (either side).
    pub disputes_lost: u64,
    /// Passing object certificates on this producer's units (in force).
    pub certificates_passed: u64,
    /// Failing object certificates on this producer's units (in force).
    pub certificates_failed: u64,
    /// Ratings received (as producer).
    pub ratings_count: u64,
    /// Sum of stars received.
    pub stars_sum: u64,
    /// Models registered (as designer).
    pub models_registered: u64,
    /// Settled orders of this designer's models.
    pub design_orders_completed: u64,
    /// Units made of this designer's models in settled orders.
    pub design_units_produced: u64,
    /// Orders settled as customer.
    pub orders_as_customer: u64,
}

/// A producer's labster (accreditation program) level.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct LabsterLevel {
    /// 1 to [`LABSTER_LEVEL_MAX`].
    pub level: u8,
    /// The accredited expert who granted it.
    pub granted_by: String,
    /// Evidence hash (audit report).
    pub evidence: Hash,
    /// When.
    pub stamp: Stamp,
}

/// What a producer is indexed under for filtered rankings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub enum TagKind {
    /// A material made in a settled order.
    Material,
    /// A process used in a settled order.
    Process,
    /// A region served in a settled order.
    Region,
}

/// A ranking filter / producer tag.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Tag {
    /// Material, process or region.
    pub kind: TagKind,
    /// Identifier.
    pub value: String,
}

/// Output of `reputation.get`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Reputation {
    /// The account.
    pub account: String,
    /// Facts.
    pub stats: Stats,
    /// Labster level, if granted.
    pub labster: Option<LabsterLevel>,
    /// [`producer_score`] of the facts.
    pub producer_score: i64,
    /// [`designer_score`] of the facts.
    pub designer_score: i64,
    /// Tags the producer is ranked under.
    pub tags: Vec<Tag>,
}

/// `reputation.rank_producers`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RankProducersArgs {
    /// Only producers with this tag, or all.
    pub filter: Option<Tag>,
    /// 1 to [`RANKING_LIMIT_MAX`] entries.
    pub limit: u32,
}

/// `reputation.rank_designers`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RankDesignersArgs {
    /// 1 to [`RANKING_LIMIT_MAX`] entries.
    pub limit: u32,
}

/// One ranking entry. Rankings are `Vec<RankEntry>`, best first (score
/// descending, then account ascending).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RankEntry {
    /// The account.
    pub account: String,
    /// Its score.
    pub score: i64,
}

/// `reputation.rate` (the order's customer, once, after completion).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RateArgs {
    /// The completed order.
    pub order_id: u64,
    /// [`STARS_MIN`] to [`STARS_MAX`].
    pub stars: u8,
    /// Up to [`REASON_BYTES_MAX`] bytes.
    pub comment: String,
}

/// A rating. Output of `reputation.rating` (`Option<Rating>`).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Rating {
    /// The order.
    pub order_id: u64,
    /// The customer.
    pub customer: String,
    /// The rated producer.
    pub producer: String,
    /// Stars.
    pub stars: u8,
    /// Comment.
    pub comment: String,
    /// When.
    pub stamp: Stamp,
}

/// `reputation.grant_level` (accredited expert): sets a producer's labster
/// level; 0 withdraws it.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct GrantLevelArgs {
    /// The producer.
    pub producer: String,
    /// 0 to [`LABSTER_LEVEL_MAX`].
    pub level: u8,
    /// Evidence hash (audit report).
    pub evidence: Hash,
}

/// Event data of `reputation_changed`.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct ReputationChanged {
    /// The account.
    pub account: String,
    /// New producer score.
    pub producer_score: i64,
    /// New designer score.
    pub designer_score: i64,
}

/// A fact fed to `reputation.record` by another native contract.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Fact {
    /// From `market`: an order was settled after delivery.
    OrderCompleted {
        /// Producer.
        producer: String,
        /// Designer of the model.
        designer: String,
        /// Customer.
        customer: String,
        /// Whether the last unit was reported by the deadline.
        on_time: bool,
        /// Units made.
        units: u64,
        /// Material.
        material: String,
        /// Process.
        process: String,
        /// Region.
        region: String,
    },
    /// From `market`: the customer reclaimed after a missed deadline.
    DeadlineMissed {
        /// Producer.
        producer: String,
    },
    /// From `market`: an expert resolved a dispute.
    DisputeResolved {
        /// Producer.
        producer: String,
        /// Customer.
        customer: String,
        /// Winner.
        winner: Party,
    },
    /// From `certify`: a certificate on a producer's units was issued
    /// (`revoked = false`) or revoked (`revoked = true`, undoing it).
    Certificate {
        /// Producer.
        producer: String,
        /// Pass or fail.
        outcome: Outcome,
        /// Undo of an earlier issue.
        revoked: bool,
    },
    /// From `model`: a designer registered a model.
    ModelRegistered {
        /// Designer.
        designer: String,
    },
}

/// A producer's score: a documented, integer function of on-chain facts so
/// every node and every client computes the same number.
///
/// `10·on_time + 4·late − 20·missed + 5·disputes_won − 10·disputes_lost +
/// 3·certificates_passed − 6·certificates_failed + 4·(stars_sum −
/// 3·ratings_count) + 25·labster_level` (saturating).
pub fn producer_score(stats: &Stats, labster_level: u8) -> i64 {
    let s = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let stars_over_neutral =
        s(stats.stars_sum).saturating_sub(s(stats.ratings_count).saturating_mul(3));
    [
        s(stats.orders_on_time).saturating_mul(10),
        s(stats.orders_late).saturating_mul(4),
        s(stats.orders_missed).saturating_mul(-20),
        s(stats.disputes_won).saturating_mul(5),
        s(stats.disputes_lost).saturating_mul(-10),
        s(stats.certificates_passed).saturating_mul(3),
        s(stats.certificates_failed).saturating_mul(-6),
        stars_over_neutral.saturating_mul(4),
        i64::from(labster_level) * 25,
    ]
    .into_iter()
    .fold(0i64, i64::saturating_add)
}

/// A designer's score: `5·models_registered + 10·design_orders_completed +
/// design_units_produced` (saturating).
pub fn designer_score(stats: &Stats) -> i64 {
    let s = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    [
        s(stats.models_registered).saturating_mul(5),
        s(stats.design_orders_completed).saturating_mul(10),
        s(stats.design_units_produced),
    ]
    .into_iter()
    .fold(0i64, i64::saturating_add)
}

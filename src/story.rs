//! The Productivist story, told through a ledger: the Freelabster use case
//! from fiat to a verified object. `productivist demo` runs it on the
//! embedded ledger; the same steps drive a cluster through its API.

use productivist_contracts::api::*;
use productivist_engine::block::{TxResult, TxStatus};
use productivist_engine::crypto::Hash;
use productivist_engine::devnet::Member;
use productivist_engine::policy::Endorsement;
use std::fmt::Write as _;

/// A ledger the story can drive.
pub trait Chain {
    /// Commits `txs` (in one block when possible) and returns each one's
    /// result and the height it was committed at.
    fn submit(&mut self, txs: Vec<Vec<u8>>) -> Result<Vec<(TxResult, u64)>, String>;
    /// A read-only call at the head.
    fn query(&mut self, contract: &str, method: &str, args: Vec<u8>) -> Result<Vec<u8>, String>;
    /// The time of the last block, ms since the Unix epoch.
    fn now_ms(&mut self) -> Result<u64, String>;
}

/// Who plays which part, found in the network's members.
pub struct Cast<'a> {
    /// Channel id.
    pub channel: String,
    /// Token issuer.
    pub issuer: &'a Member,
    /// Customer.
    pub carla: &'a Member,
    /// Designer.
    pub dora: &'a Member,
    /// Producer (fab lab).
    pub anna: &'a Member,
    /// Producer (print shop, industrial).
    pub ben: &'a Member,
    /// Expert.
    pub eric: &'a Member,
    /// Organization admins, to endorse governance acts.
    pub admins: Vec<&'a Member>,
    /// The platform account receiving fees, from the channel config.
    pub platform: Option<String>,
}

/// What the story leaves behind, for a reader to check.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Lines of narration.
    pub narration: Vec<String>,
    /// The serial verified at the end.
    pub serial: String,
    /// The verified provenance.
    pub provenance: Option<Provenance>,
    /// Final balances of the cast.
    pub balances: Vec<(String, u64)>,
    /// The model file's hash.
    pub model: Hash,
}

const DAY_MS: u64 = 24 * 3600 * 1000;

/// What `amount` tokens are worth off-chain under a peg like `0.01 EUR`.
pub fn fiat_value(amount: u64, peg: &str) -> String {
    match peg.split_once(' ') {
        Some((unit_value, currency)) => match unit_value.parse::<f64>() {
            Ok(v) => format!("{:.2} {currency}", v * amount as f64),
            Err(_) => format!("{amount} x {peg}"),
        },
        None => format!("{amount} x {peg}"),
    }
}

/// A small but real ASCII STL: a wedge-shaped bracket, unique per `run`.
pub fn model_file(run: u64) -> Vec<u8> {
    let mut s = format!("solid bracket-run-{run}\n");
    let facets = [
        (
            [0.0, 0.0, -1.0],
            [[0.0, 0.0, 0.0], [40.0, 0.0, 0.0], [0.0, 20.0, 0.0]],
        ),
        (
            [0.0, -1.0, 0.0],
            [[0.0, 0.0, 0.0], [40.0, 0.0, 0.0], [0.0, 0.0, 10.0]],
        ),
        (
            [-1.0, 0.0, 0.0],
            [[0.0, 0.0, 0.0], [0.0, 20.0, 0.0], [0.0, 0.0, 10.0]],
        ),
        (
            [0.4, 0.8, 0.4],
            [[40.0, 0.0, 0.0], [0.0, 20.0, 0.0], [0.0, 0.0, 10.0]],
        ),
    ];
    for (n, vs) in facets {
        let _ = writeln!(
            s,
            "  facet normal {} {} {}\n    outer loop",
            n[0], n[1], n[2]
        );
        for v in vs {
            let _ = writeln!(s, "      vertex {} {} {}", v[0], v[1], v[2]);
        }
        s.push_str("    endloop\n  endfacet\n");
    }
    let _ = writeln!(s, "endsolid bracket-run-{run}");
    s.into_bytes()
}

struct Teller<'c, 'a> {
    chain: &'c mut dyn Chain,
    cast: &'c Cast<'a>,
    nonce: u64,
    out: Outcome,
    echo: bool,
}

impl Teller<'_, '_> {
    fn say(&mut self, line: String) {
        if self.echo {
            println!("{line}");
        }
        self.out.narration.push(line);
    }

    fn call<A: borsh::BorshSerialize>(
        &mut self,
        who: &Member,
        contract: &str,
        method: &str,
        args: &A,
    ) -> Result<(TxResult, u64), String> {
        self.nonce += 1;
        let bytes = borsh::to_vec(args).map_err(|e| e.to_string())?;
        let tx = who.call_bytes(&self.cast.channel, contract, method, bytes, self.nonce);
        let mut results = self.chain.submit(vec![tx])?;
        let (result, height) = results.pop().ok_or("no result")?;
        if let TxStatus::Invalid { code, reason } = &result.status {
            return Err(format!(
                "{}.{} by {} refused ({code}): {reason}",
                contract,
                method,
                who.account()
            ));
        }
        Ok((result, height))
    }

    fn call_as<A: borsh::BorshSerialize, T: borsh::BorshDeserialize>(
        &mut self,
        who: &Member,
        contract: &str,
        method: &str,
        args: &A,
    ) -> Result<(T, u64), String> {
        let (result, height) = self.call(who, contract, method, args)?;
        let value = borsh::from_slice(&result.output)
            .map_err(|e| format!("{contract}.{method} output: {e}"))?;
        Ok((value, height))
    }

    fn query<A: borsh::BorshSerialize, T: borsh::BorshDeserialize>(
        &mut self,
        contract: &str,
        method: &str,
        args: &A,
    ) -> Result<T, String> {
        let bytes = borsh::to_vec(args).map_err(|e| e.to_string())?;
        let out = self.chain.query(contract, method, bytes)?;
        borsh::from_slice(&out).map_err(|e| format!("{contract}.{method} output: {e}"))
    }

    fn balance(&mut self, who: &Member) -> Result<u64, String> {
        let b: Balance = self.query(
            TOKEN,
            "balance",
            &AccountArgs {
                account: who.account(),
            },
        )?;
        Ok(b.amount)
    }
}

/// Runs the story once. `run` makes this run's model file, references and
/// serials unique, so the story can be told again on the same ledger.
pub fn tell(
    chain: &mut dyn Chain,
    cast: &Cast<'_>,
    run: u64,
    echo: bool,
) -> Result<Outcome, String> {
    let mut t = Teller {
        chain,
        cast,
        nonce: run.wrapping_mul(1_000_000),
        out: Outcome::default(),
        echo,
    };
    let supply: Supply = t.query(TOKEN, "supply", &())?;
    let (carla, dora, anna, ben, eric, issuer) = (
        cast.carla,
        cast.dora,
        cast.anna,
        cast.ben,
        cast.eric,
        cast.issuer,
    );

    // 1. Fiat in, tokens out.
    let (_, h) = t.call(
        issuer,
        TOKEN,
        "mint",
        &MintArgs {
            to: carla.account(),
            amount: 10_000,
            reference: format!("SEPA-{run}-0001"),
        },
    )?;
    t.say(format!(
        "[block {h}] {} received {} from {} and minted 10000 {} (1 {} = {}).",
        issuer.account(),
        fiat_value(10_000, &supply.peg),
        carla.account(),
        supply.unit,
        supply.unit,
        supply.peg
    ));

    // 2. The designer registers a model.
    let file = model_file(run);
    let model = Hash::of(&file);
    t.out.model = model;
    let (_, h) = t.call(
        dora,
        MODEL,
        "register",
        &RegisterModelArgs {
            file_hash: model,
            name: format!("Wall bracket (run {run})"),
            version: 1,
            previous: None,
            license: LicenseTerms {
                royalty_per_unit: 5,
                producers: AllowList::Any,
                max_units: 100,
                materials: AllowList::Only(vec!["PLA".into(), "PETG".into()]),
                processes: AllowList::Any,
            },
        },
    )?;
    t.say(format!(
        "[block {h}] {} registered the model {} (blake3 {}), royalty 5 per unit, PLA or PETG.",
        dora.account(),
        format_args!("\"Wall bracket (run {run})\""),
        &model.to_hex()[..16]
    ));

    // 3. The customer orders; two producers offer; one is accepted.
    let now = t.chain.now_ms()?;
    let (order_id, h): (u64, u64) = t.call_as(
        carla,
        MARKET,
        "post_order",
        &PostOrderArgs {
            file_hash: model,
            quantity: 4,
            material: "PLA".into(),
            deadline_ms: now + 10 * DAY_MS,
            price_cap: 2_000,
            region: "FR-IDF".into(),
        },
    )?;
    t.say(format!(
        "[block {h}] {} ordered 4 units in PLA, delivery in Ile-de-France within 10 days, price cap 2000 (order #{order_id}).",
        carla.account()
    ));
    let (anna_offer, h): (u32, u64) = t.call_as(
        anna,
        MARKET,
        "offer",
        &OfferArgs {
            order_id,
            price: 1_500,
            lead_time_ms: 3 * DAY_MS,
            process: "FDM".into(),
        },
    )?;
    t.say(format!(
        "[block {h}] {} offered 1500 in 3 days (FDM), offer {anna_offer}.",
        anna.account()
    ));
    let (ben_offer, h): (u32, u64) = t.call_as(
        ben,
        MARKET,
        "offer",
        &OfferArgs {
            order_id,
            price: 1_200,
            lead_time_ms: 2 * DAY_MS,
            process: "SLA".into(),
        },
    )?;
    t.say(format!(
        "[block {h}] {} offered 1200 in 2 days (SLA), offer {ben_offer}.",
        ben.account()
    ));
    let (_, h) = t.call(
        carla,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id,
            offer_no: ben_offer,
        },
    )?;
    t.say(format!(
        "[block {h}] {} accepted {}'s offer: 1200 + 20 royalty locked in escrow, print license for 4 units granted.",
        carla.account(),
        ben.account()
    ));

    // 4. Production is recorded with unit serials.
    let serials: Vec<String> = (1..=4).map(|i| format!("PVT-{run}-{i:04}")).collect();
    let (batch, h): (u32, u64) = t.call_as(
        ben,
        MARKET,
        "report_production",
        &ReportProductionArgs {
            order_id,
            machine: "formlabs-form4-02".into(),
            material_batch: format!("PLA-LOT-{run}"),
            parameters: vec![
                Parameter {
                    name: "layer_height_um".into(),
                    value: "50".into(),
                },
                Parameter {
                    name: "cure_s".into(),
                    value: "900".into(),
                },
            ],
            evidence: vec![
                Evidence {
                    kind: "photo".into(),
                    hash: Hash::of(format!("photo of {}", serials[0]).as_bytes()),
                },
                Evidence {
                    kind: "measurement-report".into(),
                    hash: Hash::of(format!("CMM report run {run}").as_bytes()),
                },
            ],
            serials: serials.clone(),
        },
    )?;
    t.say(format!(
        "[block {h}] {} recorded production batch {batch} on formlabs-form4-02: serials {}.",
        ben.account(),
        serials.join(", ")
    ));

    // 5. Governance accredits the expert (once), who certifies two units.
    let status: Option<AccreditationStatus> = t.query(
        CERTIFY,
        "accreditation",
        &AccountArgs {
            account: eric.account(),
        },
    )?;
    if !status.is_some_and(|s| s.active) {
        let now = t.chain.now_ms()?;
        let a = Accreditation {
            expert: eric.account(),
            grant_id: run,
            scope: "ISO/ASTM 52900 additive manufacturing".into(),
            valid_from_ms: now.saturating_sub(DAY_MS),
            valid_until_ms: now + 365 * DAY_MS,
        };
        let digest = accreditation_digest(&cast.channel, &a);
        let endorsements: Vec<Endorsement> = cast
            .admins
            .iter()
            .map(|m| Endorsement::sign(m.cert.clone(), &m.key, &digest))
            .collect();
        let (_, h) = t.call(
            issuer,
            CERTIFY,
            "accredit",
            &AccreditArgs {
                accreditation: a,
                endorsements,
            },
        )?;
        t.say(format!(
            "[block {h}] {} organizations' admins accredited {} as a certification expert.",
            cast.admins.len(),
            eric.account()
        ));
    }
    let now = t.chain.now_ms()?;
    let (cert_id, h): (u64, u64) = t.call_as(
        eric,
        CERTIFY,
        "issue",
        &IssueCertificateArgs {
            serials: vec![serials[0].clone(), serials[2].clone()],
            claim: "ISO 527-2 tensile strength >= 40 MPa".into(),
            outcome: productivist_contracts::api::Outcome::Pass,
            evidence: Hash::of(format!("tensile test report run {run}").as_bytes()),
            valid_from_ms: now,
            valid_until_ms: now + 365 * DAY_MS,
        },
    )?;
    t.say(format!(
        "[block {h}] {} certified {} and {}: ISO 527-2 tensile strength >= 40 MPa, PASS (certificate #{cert_id}).",
        eric.account(),
        serials[0],
        serials[2]
    ));

    // 6. Receipt, payouts, rating.
    let (_, h) = t.call(carla, MARKET, "confirm_receipt", &OrderIdArgs { order_id })?;
    t.say(format!(
        "[block {h}] {} confirmed receipt: escrow paid the producer, the designer's royalty and the platform fee.",
        carla.account()
    ));
    let (_, h) = t.call(
        carla,
        REPUTATION,
        "rate",
        &RateArgs {
            order_id,
            stars: 5,
            comment: "perfect fit, fast delivery".into(),
        },
    )?;
    t.say(format!(
        "[block {h}] {} rated {} 5 stars.",
        carla.account(),
        ben.account()
    ));

    // 7. Verify a part by its serial.
    let serial = serials[2].clone();
    let provenance: Option<Provenance> = t.query(
        CERTIFY,
        "verify",
        &SerialArgs {
            serial: serial.clone(),
        },
    )?;
    if provenance.is_none() {
        return Err(format!("serial {serial} is unknown after the story"));
    }
    t.out.serial = serial;
    t.out.provenance = provenance;
    let mut balances = Vec::new();
    for m in [carla, ben, anna, dora, issuer] {
        balances.push((m.account(), t.balance(m)?));
    }
    if let Some(platform) = &cast.platform {
        let b: Balance = t.query(
            TOKEN,
            "balance",
            &AccountArgs {
                account: platform.clone(),
            },
        )?;
        balances.push((platform.clone(), b.amount));
    }
    t.out.balances = balances;
    Ok(t.out)
}

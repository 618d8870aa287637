//! A real ledger (redb) with the native contracts and the Productivist dev
//! network, plus helpers to call, query and check refusals.
#![allow(dead_code)]

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_contracts::api::*;
use productivist_engine::block::{InvalidCode, TxResult, TxStatus};
use productivist_engine::config::ChannelConfig;
use productivist_engine::contract::Contracts;
use productivist_engine::devnet::{DevNet, DevNetSpec, Member};
use productivist_engine::identity::{Identity, Role, check_certificate};
use productivist_engine::ledger::Ledger;
use productivist_engine::policy::Endorsement;
use productivist_engine::store::{RedbStore, Store};
use productivist_engine::system::config_tx;
use productivist_engine::{ContractError, Hash};

/// Genesis time: 2024-01-01.
pub const T0_MS: u64 = 1_704_067_200_000;
pub const HOUR_MS: u64 = 3_600_000;
pub const DAY_MS: u64 = 24 * HOUR_MS;

pub const ISSUER: &str = "issuer@productivist";
pub const PLATFORM: &str = "platform@productivist";
pub const ANNA: &str = "anna@fablab-paris";
pub const BEN: &str = "ben@printshop-lyon";
pub const DORA: &str = "dora@design-studio";
pub const ERIC: &str = "eric@certilab";
pub const CARLA: &str = "carla@customers";

pub struct Net {
    pub net: DevNet,
    pub ledger: Ledger<RedbStore>,
    pub now_ms: u64,
    nonce: u64,
    _dir: tempfile::TempDir,
}

fn tempdir() -> tempfile::TempDir {
    // tmpfs makes redb's fsyncs free; fall back to the default temp dir.
    let shm = std::path::Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(d) = tempfile::Builder::new()
            .prefix("pvt-contracts")
            .tempdir_in(shm)
    {
        return d;
    }
    tempfile::tempdir().expect("temp dir")
}

/// The productivist dev network plus an extra designer `dan` (for
/// "another designer" refusals), an extra expert `erin` (never accredited)
/// and `cecile`, a customer who is also an expert (conflict of interest).
pub fn spec() -> DevNetSpec {
    let mut s = DevNetSpec::productivist(Some("contracts-tests"));
    for (org, members) in &mut s.orgs {
        if org == "design-studio" {
            members.push(("dan".into(), vec![Role::Designer]));
        }
        if org == "certilab" {
            members.push(("erin".into(), vec![Role::Expert]));
        }
        if org == "customers" {
            members.push(("cecile".into(), vec![Role::Customer, Role::Expert]));
        }
    }
    s
}

impl Net {
    pub fn new() -> Net {
        Net::build(|_| {}, |_| {})
    }

    /// A network whose genesis config is changed by `edit`, with extra
    /// contracts registered by `extra`.
    pub fn build(edit: impl FnOnce(&mut ChannelConfig), extra: impl FnOnce(&mut Contracts)) -> Net {
        let mut net = DevNet::generate(&spec()).expect("devnet");
        edit(&mut net.config);
        let first = &net.orgs[0].members[0];
        net.genesis_tx = config_tx(
            "genesis",
            &net.config,
            &net.admins(),
            (&first.cert, &first.key),
            0,
        );
        let mut contracts = Contracts::new();
        productivist_contracts::register_natives(&mut contracts);
        extra(&mut contracts);
        let dir = tempdir();
        let store = RedbStore::open(&dir.path().join("db")).expect("store");
        let mut ledger = Ledger::open(store, contracts).expect("ledger");
        let g = ledger
            .build_genesis(net.genesis_bytes(), T0_MS, net.nodes[0].2.public())
            .expect("genesis");
        ledger.commit(g).expect("commit genesis");
        Net {
            net,
            ledger,
            now_ms: T0_MS,
            nonce: 0,
            _dir: dir,
        }
    }

    /// A member by account `subject@org`.
    pub fn member(&self, account: &str) -> &Member {
        let (subject, org) = account.split_once('@').expect("account");
        self.net
            .member(org, subject)
            .unwrap_or_else(|| panic!("no member {account}"))
    }

    pub fn tx<A: BorshSerialize>(
        &mut self,
        who: &str,
        contract: &str,
        method: &str,
        args: &A,
    ) -> Vec<u8> {
        self.nonce += 1;
        let bytes = borsh::to_vec(args).expect("encode");
        let channel = self.net.config.channel_id.clone();
        self.member(who)
            .call_bytes(&channel, contract, method, bytes, self.nonce)
    }

    /// Submits transactions as one block at the current time.
    pub fn block(&mut self, txs: Vec<Vec<u8>>) -> Vec<TxResult> {
        let proposer = self.net.nodes[0].2.public();
        let block = self
            .ledger
            .submit_block(txs, self.now_ms, proposer)
            .expect("block");
        block.results
    }

    pub fn call<A: BorshSerialize>(
        &mut self,
        who: &str,
        contract: &str,
        method: &str,
        args: &A,
    ) -> TxResult {
        let tx = self.tx(who, contract, method, args);
        self.block(vec![tx]).remove(0)
    }

    /// Calls and expects success; returns the output.
    #[track_caller]
    pub fn ok<A: BorshSerialize>(
        &mut self,
        who: &str,
        contract: &str,
        method: &str,
        args: &A,
    ) -> Vec<u8> {
        let r = self.call(who, contract, method, args);
        assert_eq!(
            r.status,
            TxStatus::Valid,
            "{who} {contract}.{method} should succeed"
        );
        r.output
    }

    /// Calls, expects success and decodes the output.
    #[track_caller]
    pub fn ok_as<A: BorshSerialize, R: BorshDeserialize>(
        &mut self,
        who: &str,
        contract: &str,
        method: &str,
        args: &A,
    ) -> R {
        let out = self.ok(who, contract, method, args);
        borsh::from_slice(&out).expect("decode output")
    }

    /// Calls and expects an invalid result with `code` and a reason
    /// containing `needle`.
    #[track_caller]
    pub fn refused<A: BorshSerialize>(
        &mut self,
        who: &str,
        contract: &str,
        method: &str,
        args: &A,
        code: InvalidCode,
        needle: &str,
    ) {
        let r = self.call(who, contract, method, args);
        assert_invalid(&r, code, needle);
    }

    pub fn identity(&self, account: &str) -> Identity {
        let m = self.member(account);
        check_certificate(&m.cert, &self.net.config.orgs, &[], self.now_ms).expect("identity")
    }

    pub fn query_raw<A: BorshSerialize>(
        &self,
        contract: &str,
        method: &str,
        args: &A,
    ) -> Result<Vec<u8>, ContractError> {
        let caller = self.identity(CARLA);
        self.ledger.query(
            &caller,
            contract,
            method,
            &borsh::to_vec(args).expect("encode"),
        )
    }

    #[track_caller]
    pub fn query<A: BorshSerialize, R: BorshDeserialize>(
        &self,
        contract: &str,
        method: &str,
        args: &A,
    ) -> R {
        let out = self
            .query_raw(contract, method, args)
            .unwrap_or_else(|e| panic!("query {contract}.{method}: {e}"));
        borsh::from_slice(&out).expect("decode query output")
    }

    pub fn advance(&mut self, ms: u64) {
        self.now_ms += ms;
    }

    /// Advances time and commits an empty block, so queries (which read at
    /// the head block's time) see the new time.
    pub fn advance_block(&mut self, ms: u64) {
        self.advance(ms);
        self.block(Vec::new());
    }

    pub fn balance(&self, account: &str) -> u64 {
        let b: Balance = self.query(
            TOKEN,
            "balance",
            &AccountArgs {
                account: account.into(),
            },
        );
        b.amount
    }

    pub fn supply(&self) -> Supply {
        self.query(TOKEN, "supply", &())
    }

    pub fn order(&self, order_id: u64) -> Order {
        let o: Option<Order> = self.query(MARKET, "order", &OrderIdArgs { order_id });
        o.expect("order exists")
    }

    pub fn reputation(&self, account: &str) -> Reputation {
        self.query(
            REPUTATION,
            "get",
            &AccountArgs {
                account: account.into(),
            },
        )
    }

    pub fn mint(&mut self, to: &str, amount: u64) {
        let reference = format!("wire-{}", self.nonce + 1);
        self.ok(
            ISSUER,
            TOKEN,
            "mint",
            &MintArgs {
                to: to.into(),
                amount,
                reference,
            },
        );
    }

    /// Governance endorsements (by `admins`, e.g. `["productivist", ...]`)
    /// of an accreditation.
    pub fn endorse(&self, digest: &Hash, orgs: &[&str]) -> Vec<Endorsement> {
        orgs.iter()
            .map(|org| {
                let admin = self.net.member(org, "admin").expect("admin");
                Endorsement::sign(admin.cert.clone(), &admin.key, digest)
            })
            .collect()
    }

    pub fn accreditation(&self, expert: &str, grant_id: u64, valid_until_ms: u64) -> Accreditation {
        Accreditation {
            expert: expert.into(),
            grant_id,
            scope: "ISO/ASTM 52900 additive manufacturing".into(),
            valid_from_ms: T0_MS,
            valid_until_ms,
        }
    }

    /// Accredits `expert` with the endorsement of 4 of the 6 organizations'
    /// admins (the dev network's `config_update` majority).
    pub fn accredit(&mut self, expert: &str, grant_id: u64) {
        let a = self.accreditation(expert, grant_id, T0_MS + 365 * DAY_MS);
        let digest = accreditation_digest(&self.net.config.channel_id, &a);
        let endorsements = self.endorse(
            &digest,
            &["productivist", "fablab-paris", "certilab", "customers"],
        );
        self.ok(
            ISSUER,
            CERTIFY,
            "accredit",
            &AccreditArgs {
                accreditation: a,
                endorsements,
            },
        );
    }

    /// Σ balances and Σ open escrows, read straight from the store (not
    /// through the contract), for conservation checks.
    pub fn token_sums(&self) -> (u64, u64) {
        let store = self.ledger.store();
        let scan = |tag: &[u8]| {
            let mut start = b"token\0".to_vec();
            start.extend_from_slice(tag);
            let mut end = start.clone();
            *end.last_mut().unwrap() += 1;
            store.range(&start, Some(&end), 10_000).expect("range")
        };
        let mut balances: u64 = 0;
        for (_, v) in scan(b"b/") {
            let amount: u64 = borsh::from_slice(&v).expect("balance");
            assert!(amount > 0, "zero balances are deleted");
            balances = balances
                .checked_add(amount)
                .expect("sum of balances overflows");
        }
        let mut escrowed: u64 = 0;
        for (_, v) in scan(b"e/") {
            let e: Escrow = borsh::from_slice(&v).expect("escrow");
            if e.state == EscrowState::Locked {
                escrowed = escrowed
                    .checked_add(e.amount)
                    .expect("sum of escrows overflows");
            } else {
                let paid: u64 = e.payouts.iter().map(|p| p.amount).sum();
                assert_eq!(
                    paid, e.amount,
                    "a closed escrow pays out exactly what it held"
                );
            }
        }
        (balances, escrowed)
    }

    /// Asserts Σ balances + Σ escrows = minted − burned.
    #[track_caller]
    pub fn assert_conservation(&self) {
        let (balances, escrowed) = self.token_sums();
        let s = self.supply();
        assert_eq!(escrowed, s.escrowed, "escrowed total matches open escrows");
        assert_eq!(
            u128::from(balances) + u128::from(escrowed),
            u128::from(s.minted) - u128::from(s.burned),
            "tokens are conserved"
        );
    }
}

#[track_caller]
pub fn assert_invalid(r: &TxResult, code: InvalidCode, needle: &str) {
    match &r.status {
        TxStatus::Invalid { code: c, reason } => {
            assert_eq!(*c, code, "wrong code; reason: {reason}");
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            );
        }
        TxStatus::Valid => panic!("expected {code} ({needle:?}), but the transaction was valid"),
    }
}

/// A model file and its hash.
pub fn model_hash(name: &str) -> Hash {
    Hash::of(format!("solid {name}\n facet normal 0 0 1\nendsolid").as_bytes())
}

pub fn terms() -> LicenseTerms {
    LicenseTerms {
        royalty_per_unit: 5,
        producers: AllowList::Any,
        max_units: 100,
        materials: AllowList::Only(vec!["PLA".into(), "PETG".into()]),
        processes: AllowList::Any,
    }
}

pub fn register_args(
    name: &str,
    version: u32,
    previous: Option<Hash>,
    license: LicenseTerms,
) -> RegisterModelArgs {
    RegisterModelArgs {
        file_hash: model_hash(&format!("{name}-v{version}")),
        name: name.into(),
        version,
        previous,
        license,
    }
}

pub fn order_args(file_hash: Hash, quantity: u64, deadline_ms: u64) -> PostOrderArgs {
    PostOrderArgs {
        file_hash,
        quantity,
        material: "PLA".into(),
        deadline_ms,
        price_cap: 2_000,
        region: "FR-IDF".into(),
    }
}

pub fn report(order_id: u64, serials: &[&str]) -> ReportProductionArgs {
    ReportProductionArgs {
        order_id,
        machine: "prusa-mk4-07".into(),
        material_batch: "PLA-2024-001".into(),
        parameters: vec![
            Parameter {
                name: "layer_height_um".into(),
                value: "200".into(),
            },
            Parameter {
                name: "nozzle_c".into(),
                value: "215".into(),
            },
        ],
        evidence: vec![
            Evidence {
                kind: "photo".into(),
                hash: Hash::of(b"photo"),
            },
            Evidence {
                kind: "measurement-report".into(),
                hash: Hash::of(b"report"),
            },
        ],
        serials: serials.iter().map(|s| s.to_string()).collect(),
    }
}

/// The story up to an accepted order: carla holds 10 000, dora's model M
/// (royalty 5/unit, PLA or PETG), carla orders 4 units (deadline in 10
/// days, cap 2 000), anna offers 1 500 (FDM), ben offers 1 200 (SLA),
/// carla accepts ben's offer. Escrow 1 200 + 4×5 = 1 220.
pub struct Story {
    pub net: Net,
    pub model: Hash,
    pub order_id: u64,
}

pub const PRICE: u64 = 1_200;
pub const ROYALTY: u64 = 20;
pub const ESCROW: u64 = PRICE + ROYALTY;
pub const FEE: u64 = 24; // 2 % (200 bps) of 1 200

pub fn story_posted() -> Story {
    let mut net = Net::new();
    net.mint(CARLA, 10_000);
    let args = register_args("bracket", 1, None, terms());
    let model = args.file_hash;
    net.ok(DORA, MODEL, "register", &args);
    let deadline = net.now_ms + 10 * DAY_MS;
    let order_id: u64 = net.ok_as(CARLA, MARKET, "post_order", &order_args(model, 4, deadline));
    Story {
        net,
        model,
        order_id,
    }
}

pub fn story_accepted() -> Story {
    let mut s = story_posted();
    let n = &mut s.net;
    let a: u32 = n.ok_as(
        ANNA,
        MARKET,
        "offer",
        &OfferArgs {
            order_id: s.order_id,
            price: 1_500,
            lead_time_ms: 3 * DAY_MS,
            process: "FDM".into(),
        },
    );
    let b: u32 = n.ok_as(
        BEN,
        MARKET,
        "offer",
        &OfferArgs {
            order_id: s.order_id,
            price: PRICE,
            lead_time_ms: 2 * DAY_MS,
            process: "SLA".into(),
        },
    );
    assert_eq!((a, b), (1, 2));
    n.ok(
        CARLA,
        MARKET,
        "accept",
        &AcceptArgs {
            order_id: s.order_id,
            offer_no: 2,
        },
    );
    s
}

/// The story up to delivery: ben reports all 4 units in one record.
pub fn story_delivered() -> Story {
    let mut s = story_accepted();
    s.net.advance(DAY_MS);
    s.net.ok(
        BEN,
        MARKET,
        "report_production",
        &report(
            s.order_id,
            &["PVT-0001", "PVT-0002", "PVT-0003", "PVT-0004"],
        ),
    );
    s
}

/// A test-only contract that forwards `method(args)` to the token
/// contract, so escrow methods can be called from a contract of any name.
pub struct Forwarder;

impl productivist_engine::contract::Contract for Forwarder {
    fn call(
        &self,
        ctx: &mut dyn productivist_engine::contract::Context,
        method: &str,
        args: &[u8],
    ) -> Result<Vec<u8>, ContractError> {
        ctx.call(TOKEN, method, args)
    }
}

/// A network where a [`Forwarder`] stands in for the market (token-level
/// escrow tests) and another forwards as `broker`.
pub fn token_only_net() -> Net {
    Net::build(
        |_| {},
        |c| {
            c.register(MARKET, std::sync::Arc::new(Forwarder));
            c.register("broker", std::sync::Arc::new(Forwarder));
        },
    )
}

//! Shared by the `wasm_*` tests and the `wasm_vs_native` bench: a ledger
//! with the WASM host, the dev network, deploy helpers, the example modules,
//! and the native twins of the example contracts.
#![allow(dead_code)]

pub mod counter_native;
pub mod mini_token;

use productivist_contracts::wasm::lifecycle::{LifecycleAction, WASM_CONTRACT, deploy_args};
use productivist_contracts::wasm::runtime::FUEL_EVENT;
use productivist_engine::block::{Block, Event, InvalidCode, TxResult, TxStatus};
use productivist_engine::contract::Contracts;
use productivist_engine::devnet::{DevNet, DevNetSpec, Member};
use productivist_engine::ledger::Ledger;
use productivist_engine::store::RedbStore;

/// Genesis time: 2024-01-01.
pub const T0_MS: u64 = 1_704_067_200_000;

/// A module from `contracts-wasm/examples/`.
pub fn example(file: &str) -> Vec<u8> {
    let path = format!("{}/examples/{file}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (run sdk/build.sh)"))
}

/// A WAT file from `contracts-wasm/examples/wat/`, assembled.
pub fn wat_example(file: &str) -> Vec<u8> {
    let path = format!("{}/examples/wat/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    wat::parse_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A ledger on the Productivist dev network.
pub struct Chain {
    pub net: DevNet,
    pub ledger: Ledger<RedbStore>,
    pub now_ms: u64,
    nonce: u64,
}

impl Chain {
    /// A ledger with the contracts `register` installs, after genesis.
    pub fn new(register: impl FnOnce(&mut Contracts)) -> Chain {
        let net = DevNet::generate(&DevNetSpec::productivist(Some("wasm-tests"))).expect("devnet");
        let mut contracts = Contracts::new();
        register(&mut contracts);
        let mut ledger =
            Ledger::open(RedbStore::in_memory().expect("store"), contracts).expect("open");
        let g = ledger
            .build_genesis(net.genesis_bytes(), T0_MS, net.nodes[0].2.public())
            .expect("genesis");
        ledger.commit(g).expect("commit genesis");
        Chain {
            net,
            ledger,
            now_ms: T0_MS,
            nonce: 0,
        }
    }

    /// The member `subject@org`.
    pub fn member(&self, org: &str, subject: &str) -> Member {
        self.net.member(org, subject).expect("member").clone()
    }

    /// A signed transaction (fresh nonce).
    pub fn tx(&mut self, who: &Member, contract: &str, method: &str, args: Vec<u8>) -> Vec<u8> {
        self.nonce += 1;
        who.call_bytes(
            &self.net.config.channel_id,
            contract,
            method,
            args,
            self.nonce,
        )
    }

    /// Commits `txs` as the next block, one second after the previous.
    pub fn block(&mut self, txs: Vec<Vec<u8>>) -> Block {
        self.now_ms += 1_000;
        let proposer = self.net.nodes[0].2.public();
        self.ledger
            .submit_block(txs, self.now_ms, proposer)
            .expect("block")
    }

    /// One transaction in its own block.
    pub fn run(&mut self, who: &Member, contract: &str, method: &str, args: Vec<u8>) -> TxResult {
        let tx = self.tx(who, contract, method, args);
        let mut block = self.block(vec![tx]);
        block.results.remove(0)
    }

    /// Deploys (version 1) or upgrades `name`, endorsed by a majority of
    /// admins (the dev network's deploy policy), submitted by `anna`.
    pub fn lifecycle(
        &mut self,
        action: LifecycleAction,
        name: &str,
        version: u64,
        code: Vec<u8>,
    ) -> TxResult {
        let admins = self.net.admins();
        let endorsers = &admins[..admins.len() / 2 + 1];
        let args = deploy_args(
            action,
            &self.net.config.channel_id,
            name,
            version,
            code,
            endorsers,
        );
        let method = match action {
            LifecycleAction::Deploy => "deploy",
            _ => "upgrade",
        };
        let anna = self.member("fablab-paris", "anna");
        self.run(&anna, WASM_CONTRACT, method, args)
    }

    /// Deploys `code` as `name`, which must succeed.
    pub fn deploy(&mut self, name: &str, code: Vec<u8>) {
        let r = self.lifecycle(LifecycleAction::Deploy, name, 1, code);
        assert_valid(&r);
    }
}

/// Asserts a valid result.
pub fn assert_valid(r: &TxResult) {
    assert!(r.status.is_valid(), "expected valid, got {}", r.status);
}

/// Asserts an invalid result with `code` whose reason contains `needle`.
pub fn assert_invalid(r: &TxResult, code: InvalidCode, needle: &str) {
    match &r.status {
        TxStatus::Invalid { code: c, reason } => {
            assert_eq!(*c, code, "reason: {reason}");
            assert!(
                reason.contains(needle),
                "reason {reason:?} lacks {needle:?}"
            );
        }
        TxStatus::Valid => panic!("expected {code}, got valid"),
    }
}

/// The fuel the host reported for a successful WASM call.
pub fn fuel_used(r: &TxResult) -> Option<u64> {
    r.events
        .iter()
        .find(|e| e.name == FUEL_EVENT)
        .map(|e| u64::from_le_bytes(e.data.as_slice().try_into().expect("u64")))
}

/// The events a contract emitted (without the host's fuel report).
pub fn contract_events(r: &TxResult) -> Vec<Event> {
    r.events
        .iter()
        .filter(|e| e.name != FUEL_EVENT)
        .cloned()
        .collect()
}

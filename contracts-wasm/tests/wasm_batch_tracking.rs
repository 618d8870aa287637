//! The C example `examples/batch_tracking.c` on a ledger with the native
//! contracts: an industrial tracks material batches and pays suppliers in
//! the service token through a nested call to the native `token` contract.

mod wasm_common;

use borsh::{BorshDeserialize, BorshSerialize};
use productivist_contracts::api::{AccountArgs, Balance, MintArgs, TOKEN};
use productivist_contracts::{register_natives, register_wasm};
use productivist_engine::block::{InvalidCode, TxResult};
use productivist_engine::devnet::Member;
use wasm_common::{Chain, assert_invalid, assert_valid, contract_events, example, fuel_used};

const ANNA: &str = "anna@fablab-paris";
const BEN: &str = "ben@printshop-lyon";

#[derive(Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Batch {
    supplier: String,
    spec: String,
    quantity: u64,
    remaining: u64,
    unit_price: u64,
    registered_height: u64,
    consumptions: u32,
}

#[derive(Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Consumption {
    consumer: String,
    quantity: u64,
    production: String,
    paid: u64,
    height: u64,
}

#[derive(Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
struct Consumed {
    batch: String,
    consumer: String,
    quantity: u64,
    paid: u64,
    remaining: u64,
}

fn enc<T: BorshSerialize>(v: &T) -> Vec<u8> {
    borsh::to_vec(v).expect("encode")
}

struct Plant {
    chain: Chain,
    anna: Member,
    ben: Member,
}

impl Plant {
    fn new() -> Plant {
        let mut chain = Chain::new(|c| {
            register_natives(c);
            register_wasm(c);
        });
        chain.deploy("batches", example("batch_tracking.wasm"));
        let anna = chain.member("fablab-paris", "anna");
        let ben = chain.member("printshop-lyon", "ben");
        let issuer = chain.member("productivist", "issuer");
        let mint = MintArgs {
            to: BEN.into(),
            amount: 1_000,
            reference: "wire-2024-001".into(),
        };
        assert_valid(&chain.run(&issuer, TOKEN, "mint", enc(&mint)));
        assert_valid(&chain.run(&ben, "batches", "init", enc(&"token".to_string())));
        Plant { chain, anna, ben }
    }

    fn call(&mut self, who: &Member, method: &str, args: Vec<u8>) -> TxResult {
        self.chain.run(who, "batches", method, args)
    }

    fn balance(&mut self, account: &str) -> u64 {
        let ben = self.ben.clone();
        let r = self.chain.run(
            &ben,
            TOKEN,
            "balance",
            enc(&AccountArgs {
                account: account.into(),
            }),
        );
        assert_valid(&r);
        let b: Balance = borsh::from_slice(&r.output).expect("balance");
        b.amount
    }

    fn batch(&mut self, id: &str) -> Batch {
        let ben = self.ben.clone();
        let r = self.call(&ben, "get", enc(&id.to_string()));
        assert_valid(&r);
        borsh::from_slice(&r.output).expect("batch")
    }
}

fn register(id: &str, quantity: u64, unit_price: u64) -> Vec<u8> {
    enc(&(
        id.to_string(),
        "S235 steel sheet, 2 mm".to_string(),
        quantity,
        unit_price,
    ))
}

fn consume(id: &str, quantity: u64, production: &str) -> Vec<u8> {
    enc(&(id.to_string(), quantity, production.to_string()))
}

#[test]
fn register_consume_and_pay_the_supplier() {
    let mut p = Plant::new();
    let anna = p.anna.clone();
    let ben = p.ben.clone();
    let r = p.call(&anna, "register", register("steel-42", 100, 3));
    assert_valid(&r);
    let registered = &contract_events(&r)[0];
    assert_eq!(registered.name, "batch_registered");
    assert_eq!(
        registered.data,
        enc(&("steel-42".to_string(), ANNA.to_string(), 100u64))
    );

    let r = p.call(&ben, "consume", consume("steel-42", 10, "bracket run 1"));
    assert_valid(&r);
    assert_eq!(r.output, 90u64.to_le_bytes());
    // The token's event (nested native call) comes first, then the batch's.
    let events = contract_events(&r);
    assert_eq!(events[0].contract, TOKEN);
    assert_eq!(events[0].name, "transferred");
    assert_eq!(events[1].contract, "batches");
    let consumed: Consumed = borsh::from_slice(&events[1].data).expect("event");
    assert_eq!(
        consumed,
        Consumed {
            batch: "steel-42".into(),
            consumer: BEN.into(),
            quantity: 10,
            paid: 30,
            remaining: 90
        }
    );
    let fuel = fuel_used(&r).expect("fuel reported");
    assert!(fuel > 1_000 && fuel < 1_000_000, "fuel {fuel}");
    assert_eq!(p.balance(ANNA), 30);
    assert_eq!(p.balance(BEN), 970);

    let b = p.batch("steel-42");
    assert_eq!(b.supplier, ANNA);
    assert_eq!(
        (b.quantity, b.remaining, b.unit_price, b.consumptions),
        (100, 90, 3, 1)
    );
    let r = p.call(&ben, "consumption", enc(&("steel-42".to_string(), 0u32)));
    assert_valid(&r);
    let c: Consumption = borsh::from_slice(&r.output).expect("consumption");
    assert_eq!(c.consumer, BEN);
    assert_eq!((c.quantity, c.paid), (10, 30));
    assert_eq!(c.production, "bracket run 1");
}

#[test]
fn refusals() {
    let mut p = Plant::new();
    let anna = p.anna.clone();
    let ben = p.ben.clone();
    let carla = p.chain.member("customers", "carla");
    assert_valid(&p.call(&anna, "register", register("steel-42", 100, 3)));

    let r = p.call(&anna, "register", register("steel-42", 5, 3));
    assert_invalid(&r, InvalidCode::Refused, "batch already registered");
    let r = p.call(&carla, "register", register("x", 5, 3));
    assert_invalid(&r, InvalidCode::NotAuthorized, "producer or industrial");
    let r = p.call(&anna, "register", register("zero", 0, 3));
    assert_invalid(&r, InvalidCode::BadArguments, "quantity must be 1");
    let r = p.call(&anna, "register", b"\x05\0\0\0ab".to_vec());
    assert_invalid(&r, InvalidCode::BadArguments, "bad arguments");
    let r = p.call(&ben, "consume", consume("steel-42", 101, "too much"));
    assert_invalid(&r, InvalidCode::Refused, "not enough material left");
    let r = p.call(&anna, "consume", consume("steel-42", 1, "not industrial"));
    assert_invalid(&r, InvalidCode::NotAuthorized, "industrial role");
    let r = p.call(&ben, "consume", consume("nope", 1, "x"));
    assert_invalid(&r, InvalidCode::Refused, "no such batch");
    let r = p.call(&ben, "init", enc(&"token".to_string()));
    assert_invalid(&r, InvalidCode::Refused, "already initialized");
    let r = p.call(&ben, "melt", Vec::new());
    assert_invalid(&r, InvalidCode::BadArguments, "unknown method");
}

#[test]
fn failed_payment_rolls_back_the_consumption() {
    let mut p = Plant::new();
    let anna = p.anna.clone();
    let ben = p.ben.clone();
    assert_valid(&p.call(&anna, "register", register("gold-1", 10, 1_000_000)));
    let r = p.call(&ben, "consume", consume("gold-1", 1, "ring"));
    assert_invalid(
        &r,
        InvalidCode::Refused,
        "payment failed: insufficient balance",
    );
    assert!(r.events.is_empty());
    let b = p.batch("gold-1");
    assert_eq!((b.remaining, b.consumptions), (10, 0));
    assert_eq!(p.balance(BEN), 1_000);
    assert_eq!(p.balance(ANNA), 0);
}

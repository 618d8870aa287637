//! The `productivist` binary as a person uses it: the demo story, the read
//! commands, model authentication, object verification, and clear one-line
//! errors with a non-zero exit code.

use std::path::Path;
use std::process::{Command, Output};

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_productivist"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run productivist")
}

fn ok(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8")
}

fn fails(dir: &Path, args: &[&str]) -> String {
    let out = run(dir, args);
    assert!(!out.status.success(), "{args:?} should fail");
    assert!(out.stdout.is_empty() || !String::from_utf8_lossy(&out.stdout).contains("panicked"));
    let err = String::from_utf8(out.stderr).expect("utf-8");
    assert_eq!(err.lines().count(), 1, "one line on stderr, got {err:?}");
    assert!(err.starts_with("productivist: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
    err
}

#[test]
fn the_demo_tells_the_story_and_the_ledger_can_be_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = ok(d, &["demo"]);
    for expected in [
        "minted 10000 PVT",
        "registered the model",
        "offered 1500",
        "offered 1200",
        "accepted ben@printshop-lyon's offer",
        "recorded production",
        "accredited eric@certilab",
        "PASS",
        "confirmed receipt",
        "rated ben@printshop-lyon 5 stars",
        "Verification of object PVT-0-0003",
        "by dora@design-studio",
        "by ben@printshop-lyon on formlabs-form4-02",
        "by eric@certilab",
        "ben@printshop-lyon 1176, dora@design-studio 20, platform@productivist 24",
    ] {
        assert!(
            out.contains(expected),
            "demo output lacks {expected:?}:\n{out}"
        );
    }
    assert!(d.join(".productivist/network/network.json").exists());

    // Running it again goes on from where it stopped.
    let again = ok(d, &["demo"]);
    assert!(again.contains("at height 11"), "{again}");
    assert!(
        again.contains("Verification of object PVT-11-0003"),
        "{again}"
    );

    // blocks, tx, state, verify.
    let blocks = ok(d, &["blocks", "--txs", "--limit", "50"]);
    assert!(blocks.contains("channel public: height 21"), "{blocks}");
    assert!(blocks.contains("_config.genesis  valid"), "{blocks}");
    let tx_id = blocks
        .lines()
        .find(|l| l.contains("token.mint"))
        .and_then(|l| l.split_whitespace().next())
        .expect("a mint transaction")
        .to_string();
    let tx = ok(d, &["tx", &tx_id]);
    assert!(tx.contains("signer    issuer@productivist"), "{tx}");
    assert!(tx.contains("result    valid"), "{tx}");
    assert!(tx.contains("event     token.minted"), "{tx}");
    let state = ok(d, &["state", "_config/current", "--history"]);
    assert!(state.contains("block #0 tx 0"), "{state}");
    let verify = ok(d, &["verify", "PVT-0-0001"]);
    assert!(verify.contains("Certified #1 by eric@certilab"), "{verify}");
    let unknown = fails(d, &["verify", "NO-SUCH-SERIAL"]);
    assert!(unknown.contains("unknown"), "{unknown}");

    // A printable label whose QR code decodes to the verification URL.
    let label = ok(
        d,
        &[
            "label",
            "PVT-0-0001",
            "--out",
            "label.png",
            "--base-url",
            "https://lab.example/",
        ],
    );
    assert!(label.contains("Wall bracket (run 0)"), "{label}");
    let img = image::open(d.join("label.png")).unwrap().to_luma8();
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(
        img.width() as usize,
        img.height() as usize,
        |x, y| img.get_pixel(x as u32, y as u32).0[0],
    );
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1);
    assert_eq!(
        grids[0].decode().unwrap().1,
        "https://lab.example/verify/PVT-0-0001"
    );
    ok(d, &["label", "PVT-0-0001", "--out", "label.svg"]);
    let svg = std::fs::read_to_string(d.join("label.svg")).unwrap();
    assert!(svg.contains("PVT-0-0001") && svg.contains("Wall bracket (run 0)"));
    let gif = fails(d, &["label", "PVT-0-0001", "--out", "label.gif"]);
    assert!(gif.contains(".png or .svg"), "{gif}");
    let nope = fails(d, &["label", "NO-SUCH-SERIAL", "--out", "x.png"]);
    assert!(nope.contains("unknown"), "{nope}");

    // Model authentication.
    std::fs::write(d.join("gear.stl"), b"solid gear\nendsolid gear\n").unwrap();
    let before = ok(d, &["model", "verify", "gear.stl"]);
    assert!(before.contains("unknown"), "{before}");
    let reg = ok(
        d,
        &[
            "model",
            "register",
            "gear.stl",
            "--name",
            "Gear",
            "--royalty",
            "3",
        ],
    );
    assert!(reg.contains("by dora@design-studio"), "{reg}");
    let after = ok(d, &["model", "verify", "gear.stl"]);
    assert!(
        after.contains("AUTHENTIC")
            && after.contains("dora@design-studio")
            && after.contains("royalty 3"),
        "{after}"
    );
    let twice = fails(d, &["model", "register", "gear.stl", "--name", "Gear"]);
    assert!(twice.contains("already registered"), "{twice}");
    let not_designer = fails(
        d,
        &[
            "model", "register", "gear.stl", "--name", "Gear", "--as", "carla",
        ],
    );
    assert!(not_designer.contains("designer"), "{not_designer}");
}

#[test]
fn init_writes_a_network_and_never_overwrites_keys_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let out = ok(
        d,
        &["init", "--out", "net", "--nodes", "4", "--consensus", "bft"],
    );
    assert!(out.contains("consensus bft, 4 node(s)"), "{out}");
    for f in [
        "net/network.json",
        "net/orgs/customers/members/carla.key",
        "net/orgs/customers/members/carla.cert",
        "net/orgs/customers/members/carla.json",
        "net/orgs/productivist/root.key",
        "net/nodes/node3.key",
        "net/channels/public/genesis.block",
        "net/channels/public/config.json",
    ] {
        assert!(d.join(f).exists(), "{f} missing");
    }
    let key = std::fs::read(d.join("net/orgs/customers/members/carla.key")).unwrap();
    let err = fails(d, &["init", "--out", "net"]);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read(d.join("net/orgs/customers/members/carla.key")).unwrap(),
        key
    );
    ok(d, &["init", "--out", "net", "--force"]);
    assert_ne!(
        std::fs::read(d.join("net/orgs/customers/members/carla.key")).unwrap(),
        key
    );
    let bft3 = fails(
        d,
        &[
            "init",
            "--out",
            "other",
            "--nodes",
            "3",
            "--consensus",
            "bft",
        ],
    );
    assert!(bft3.contains("3f + 1"), "{bft3}");
}

#[test]
fn bad_input_gets_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(fails(d, &["blocks"]).contains("run `productivist demo`"));
    assert!(fails(d, &["tx", "xyz"]).contains("not a transaction id"));
    assert!(fails(d, &["state", "nokey"]).contains("CONTRACT/KEY"));
    assert!(fails(d, &["init", "--out", "n", "--consensus", "paxos"]).contains("raft or bft"));
    assert!(fails(d, &["sim", "--seeds", "5..1"]).contains("--seeds"));
    // A corrupt genesis file in a network directory is refused, not panicked on.
    ok(d, &["demo"]);
    std::fs::write(
        d.join(".productivist/network/orgs/customers/members/carla.cert"),
        "zz\n",
    )
    .unwrap();
    assert!(fails(d, &["demo"]).contains("carla.cert"));
}

#[test]
fn wasm_contracts_deploy_run_upgrade_and_freeze_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let wasm = Path::new(env!("CARGO_MANIFEST_DIR")).join("contracts-wasm/examples/counter.wasm");
    let wasm = wasm.to_str().unwrap();
    let out = ok(d, &["contract", "deploy", wasm, "--name", "counter"]);
    assert!(out.contains("Deployed counter version 1"), "{out}");
    // incr(key "a", by 5): borsh bytes of the C counter's arguments.
    let incr = "0x01000000610500000000000000";
    assert!(
        ok(
            d,
            &["contract", "invoke", "counter", "incr", "--args", incr]
        )
        .contains("0x0500000000000000")
    );
    assert!(
        ok(
            d,
            &["contract", "invoke", "counter", "incr", "--args", incr]
        )
        .contains("0x0a00000000000000")
    );
    assert!(
        ok(
            d,
            &[
                "contract",
                "query",
                "counter",
                "get",
                "--args",
                "0x0100000061"
            ]
        )
        .contains("0x0a00000000000000")
    );
    // An upgrade keeps the state.
    assert!(
        ok(d, &["contract", "deploy", wasm, "--name", "counter"])
            .contains("Upgraded counter version 2")
    );
    assert!(
        ok(
            d,
            &[
                "contract",
                "query",
                "counter",
                "get",
                "--args",
                "0x0100000061"
            ]
        )
        .contains("0x0a00000000000000")
    );
    // One endorsing organization does not satisfy the majority policy.
    let weak = fails(
        d,
        &["contract", "freeze", "counter", "--endorsers", "customers"],
    );
    assert!(weak.contains("policy"), "{weak}");
    assert!(ok(d, &["contract", "freeze", "counter"]).contains("Froze counter version 2"));
    assert!(
        fails(
            d,
            &["contract", "invoke", "counter", "incr", "--args", incr]
        )
        .contains("frozen")
    );
    // A file that is not WASM is refused at deploy, on one line.
    std::fs::write(d.join("bad.wasm"), b"garbage").unwrap();
    assert!(
        fails(d, &["contract", "deploy", "bad.wasm", "--name", "bad"]).contains("invalid wasm")
    );
}

#[test]
fn sim_output_does_not_depend_on_the_thread_count() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sim = |threads: &str| {
        let out = ok(
            d,
            &[
                "sim",
                "--protocol",
                "bft",
                "--nodes",
                "4",
                "--byzantine",
                "1",
                "--seeds",
                "0..6",
                "--threads",
                threads,
            ],
        );
        // The elapsed time ends the summary line; everything before it is
        // the simulation's result.
        out.rsplit_once(", ")
            .map(|(r, _)| r.to_string())
            .unwrap_or(out)
    };
    let one = sim("1");
    assert!(
        one.contains("6 seeds") && one.contains("0 violations"),
        "{one}"
    );
    assert!(one.contains("ledger payloads"), "{one}");
    assert_eq!(one, sim("2"));
}

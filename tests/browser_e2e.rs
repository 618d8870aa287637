//! End to end in a real browser: `productivist up --nodes 1` tells the
//! story on a local node (127.0.0.1 only), then headless Chromium opens the
//! object's verification page, the test checks that the chain names the
//! designer, the producer and the expert, and keeps screenshots under
//! `target/e2e/`.
//!
//! Needs Chromium (Debian's `chromium` package), so it is ignored by the
//! README's `cargo test`; `.ci/run` runs it explicitly:
//!
//! ```sh
//! cargo test --features sled --test browser_e2e -- --ignored
//! ```
//!
//! `PRODUCTIVIST_CHROMIUM` names another browser binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The story on a fresh single-node cluster takes seconds; allow for a
/// loaded CI machine.
const UP_TIMEOUT_MS: u64 = 180_000;
/// One browser run.
const BROWSER_TIMEOUT_MS: u64 = 60_000;
const POLL_MS: u64 = 100;

fn chromium() -> PathBuf {
    if let Ok(p) = std::env::var("PRODUCTIVIST_CHROMIUM") {
        return PathBuf::from(p);
    }
    for name in ["chromium", "chromium-browser", "google-chrome"] {
        if let Some(dir) = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .find(|d| d.join(name).is_file())
        {
            return dir.join(name);
        }
    }
    panic!("no Chromium found: apt-get install chromium, or set PRODUCTIVIST_CHROMIUM");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"))
}

/// Stops `productivist up` (SIGTERM, then SIGKILL after a bounded wait).
struct Up(Child);

impl Drop for Up {
    fn drop(&mut self) {
        if let Ok(pid) = i32::try_from(self.0.id()) {
            // SAFETY: kill(2) on our own child, not yet reaped.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(POLL_MS));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the browser with `args` and returns its stdout, bounded in time.
fn browser(profile: &Path, args: &[String]) -> String {
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_millis(BROWSER_TIMEOUT_MS);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(POLL_MS))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("chromium did not finish in {BROWSER_TIMEOUT_MS} ms: {args:?}");
            }
        }
    }
    reader.join().unwrap_or_default()
}

#[test]
#[ignore = "needs Chromium; run with `cargo test --features sled --test browser_e2e -- --ignored` (.ci/run does)"]
fn the_verification_page_shows_the_chain_in_a_real_browser() {
    let dir = tempfile::tempdir().unwrap();
    let http_port = free_port();
    let quic_port = free_port();
    let mut up = Up(Command::new(env!("CARGO_BIN_EXE_productivist"))
        .args(["up", "--nodes", "1", "--dir"])
        .arg(dir.path().join("cluster"))
        .args(["--base-port", &quic_port.to_string()])
        .args(["--http-base-port", &http_port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start productivist up"));
    let stdout = up.0.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // Drain to the end even after the test stops listening, so `up`
        // never writes to a closed pipe while it stops its nodes.
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + Duration::from_millis(UP_TIMEOUT_MS);
    let mut serial = None;
    let mut transcript = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = match rx.recv_timeout(left) {
            Ok(l) => l,
            Err(_) => panic!("the story did not finish:\n{}", transcript.join("\n")),
        };
        if let Some(rest) = line.strip_prefix("Verification of object ") {
            serial = rest.strip_suffix(':').map(str::to_string);
        }
        let done = line.contains("Nodes are running");
        transcript.push(line);
        if done {
            break;
        }
    }
    let serial = serial.unwrap_or_else(|| panic!("no serial in:\n{}", transcript.join("\n")));
    let base = format!("http://127.0.0.1:{http_port}");
    let url = format!("{base}/verify/{serial}");
    let profile = dir.path().join("chromium-profile");

    let dom = browser(&profile, &["--dump-dom".into(), url.clone()]);
    for who in ["dora@design-studio", "eric@certilab"] {
        assert!(dom.contains(who), "{who} not on the page:\n{dom}");
    }
    assert!(
        dom.contains("anna@fablab-paris") || dom.contains("ben@printshop-lyon"),
        "no producer on the page:\n{dom}"
    );
    assert!(dom.contains("Model registered") && dom.contains("<svg"));
    assert!(dom.contains("Verified: the chain is complete"), "{dom}");

    let out = target_dir().join("e2e");
    std::fs::create_dir_all(&out).unwrap();
    for (name, size, page) in [
        ("verify.png", "1200,1800", url.clone()),
        ("verify-phone.png", "390,2400", url.clone()),
        ("home.png", "1200,1200", format!("{base}/")),
    ] {
        let file = out.join(name);
        let _ = std::fs::remove_file(&file);
        browser(
            &profile,
            &[
                format!("--screenshot={}", file.display()),
                format!("--window-size={size}"),
                page,
            ],
        );
        let png = std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            png.starts_with(b"\x89PNG"),
            "{} is not a PNG",
            file.display()
        );
        assert!(png.len() > 10_000, "{} looks empty", file.display());
    }
    drop(up);
}

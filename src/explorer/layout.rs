//! The page shell every explorer page shares: head, navigation, style
//! (narrow-viewport friendly, no external assets), and small formatting
//! helpers. maud escapes every interpolated string, so user-provided text
//! (model names, claims, comments) can never become markup.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use productivist_engine::crypto::Hash;

/// The explorer's stylesheet, inline so a page is one request and works
/// offline on a shop-floor network. Colour is never the only signal: every
/// status is also said in words.
const STYLE: &str = r#"
:root{--ok:#1b7f3b;--bad:#b3261e;--warn:#9a6700;--muted:#5f6368;--line:#d0d7de;--bg:#fff;--fg:#1f2328;--link:#0b57d0}
*{box-sizing:border-box}
body{margin:0;font:16px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{background:#24292f;color:#fff;padding:.6rem 1rem;display:flex;flex-wrap:wrap;gap:.4rem 1.2rem;align-items:center}
header a{color:#fff;text-decoration:none}
header .brand{font-weight:700}
main{max-width:60rem;margin:0 auto;padding:1rem}
a{color:var(--link)}
h1{font-size:1.5rem;margin:.4rem 0 1rem}
h2{font-size:1.2rem;margin:1.4rem 0 .6rem}
table{border-collapse:collapse;width:100%;margin:.4rem 0}
th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
th{font-weight:600;color:var(--muted)}
.scroll{overflow-x:auto}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em;word-break:break-all}
.ok{color:var(--ok)}.bad{color:var(--bad)}.warn{color:var(--warn)}.muted{color:var(--muted)}
.badge{display:inline-block;padding:.05rem .45rem;border-radius:.6rem;font-size:.85em;font-weight:600;border:1px solid currentColor}
.banner{padding:.7rem 1rem;border-radius:.4rem;margin:.6rem 0;border:2px solid currentColor;font-weight:600}
.card{border:1px solid var(--line);border-radius:.5rem;padding:.8rem 1rem;margin:.6rem 0}
.timeline svg{width:100%;height:auto;max-width:36rem;display:block}
.drop{border:2px dashed var(--line);border-radius:.6rem;padding:2rem 1rem;text-align:center}
.drop.over{border-color:var(--link)}
form.inline{display:flex;flex-wrap:wrap;gap:.5rem;margin:.5rem 0}
input[type=text]{flex:1;min-width:12rem;padding:.45rem;font-size:1rem}
button{padding:.45rem .9rem;font-size:1rem}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1rem;margin:.4rem 0}
dt{color:var(--muted)}dd{margin:0}
@media (max-width:40rem){main{padding:.6rem}th,td{padding:.3rem}dl{grid-template-columns:1fr}dt{margin-top:.4rem}.hide-narrow{display:none}}
"#;

/// A whole HTML page around `body`.
pub fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Productivist" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    a.brand href="/" { "Productivist" }
                    a href="/models" { "Authenticate a model" }
                    a href="/participants" { "Participants" }
                    a href="/session" { "Member session" }
                }
                main { (body) }
            }
        }
    }
}

/// A block time as RFC 3339 (UTC).
pub fn time(ms: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The first 16 hex digits of a hash, for tables.
pub fn short(h: &Hash) -> String {
    h.to_hex()[..16].to_string()
}

/// `s` percent-encoded as one URL path segment (serials and accounts are
/// identifiers, but a typed-in serial may be anything).
pub fn seg(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A link to a block page.
pub fn block_link(channel: &str, height: u64) -> Markup {
    html! { a href={"/blocks/" (channel) "/" (height)} { "block " (height) } }
}

/// A link to a transaction page, showing the short id.
pub fn tx_link(channel: &str, id: &Hash) -> Markup {
    html! { a.mono href={"/tx/" (channel) "/" (id.to_hex())} title=(id.to_hex()) { "tx " (short(id)) } }
}

/// A link to a participant page.
pub fn participant_link(account: &str) -> Markup {
    html! { a href={"/participants/" (seg(account))} { (account) } }
}

/// Bytes as text when printable UTF-8, else hex (cut at `limit` bytes).
pub fn bytes(b: &[u8], limit: usize) -> String {
    let cut = &b[..b.len().min(limit)];
    let more = if b.len() > limit { "…" } else { "" };
    match std::str::from_utf8(cut) {
        Ok(s) if !s.chars().any(char::is_control) => format!("{s:?}{more}"),
        _ => format!("0x{}{more}", productivist_engine::crypto::hex(cut)),
    }
}

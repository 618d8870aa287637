//! Object verification, `/verify/{serial}`: what a printed QR label leads
//! to. The provenance chain as a timeline (model registration → order and
//! license → production → certificates → delivery and settlement →
//! rating), each step with the block and transaction that recorded it, and
//! anything wrong said plainly at the top.

use super::layout::{self, page, participant_link, seg, short};
use super::svg::{Step, Tone, timeline};
use super::{ExplorerState, PageError, PageResult, html_response, public, read};
use crate::apps;
use crate::embedded::PUBLIC_CHANNEL;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use productivist_contracts::api::*;
use std::collections::HashMap;

fn allow(a: &AllowList) -> String {
    match a {
        AllowList::Any => "any".into(),
        AllowList::Only(v) => v.join(", "),
    }
}

fn model_step(p: &Provenance) -> Step {
    match &p.model {
        None => Step {
            title: "Model".into(),
            status: "NOT REGISTERED: the design file of this object is unknown".into(),
            tone: Tone::Missing,
            lines: vec![format!("blake3 {}", p.production.file_hash)],
            at: None,
        },
        Some(m) => {
            let (status, tone) = match &m.superseded_by {
                Some(s) => (
                    format!(
                        "SUPERSEDED by version {} (blake3 {})",
                        s.version,
                        short(&s.file_hash)
                    ),
                    Tone::Warn,
                ),
                None => ("registered, current version".to_string(), Tone::Ok),
            };
            Step {
                title: "Model registered".into(),
                status,
                tone,
                lines: vec![
                    format!("\"{}\" version {}", m.name, m.version),
                    format!("designer {}", m.designer),
                    format!("blake3 {}", short(&m.file_hash)),
                    format!(
                        "license: royalty {} per unit, up to {} units; materials {}; processes {}",
                        m.license.royalty_per_unit,
                        m.license.max_units,
                        allow(&m.license.materials),
                        allow(&m.license.processes)
                    ),
                ],
                at: Some((m.registered.height, m.registered.tx_id)),
            }
        }
    }
}

fn order_steps(p: &Provenance) -> Vec<Step> {
    let mut out = Vec::new();
    match &p.order {
        None => out.push(Step {
            title: "Order".into(),
            status: "no order recorded".into(),
            tone: Tone::Missing,
            lines: Vec::new(),
            at: None,
        }),
        Some(o) => {
            let mut lines = vec![
                format!("order #{} by customer {}", o.order_id, o.customer),
                format!(
                    "{} unit(s) in {}, region {}",
                    o.quantity, o.material, o.region
                ),
            ];
            if let Some(a) = &o.acceptance {
                lines.push(format!(
                    "offer accepted: producer {} at {}, escrow {}",
                    a.offer.producer, a.offer.price, a.escrow_total
                ));
            }
            out.push(Step {
                title: "Order".into(),
                status: o.state.name().to_string(),
                tone: if o.dispute.is_some() {
                    Tone::Warn
                } else {
                    Tone::Ok
                },
                lines,
                at: Some((o.posted.height, o.posted.tx_id)),
            });
        }
    }
    if let Some(l) = &p.license {
        out.push(Step {
            title: "Print license".into(),
            status: "granted".into(),
            tone: Tone::Ok,
            lines: vec![
                format!("designer {} to producer {}", l.designer, l.producer),
                format!(
                    "{} unit(s), {} by {}, royalty {} per unit",
                    l.quantity, l.material, l.process, l.royalty_per_unit
                ),
            ],
            at: Some((l.granted.height, l.granted.tx_id)),
        });
    }
    out
}

fn production_step(p: &Provenance) -> Step {
    let r = &p.production;
    let mut lines = vec![
        format!("producer {}", r.producer),
        format!("machine {}", r.machine),
        format!(
            "material {}, material batch {}",
            r.material, r.material_batch
        ),
        format!(
            "order #{} batch {}, {} serial(s)",
            r.order_id,
            r.batch,
            r.serials.len()
        ),
    ];
    for param in &r.parameters {
        lines.push(format!("{} = {}", param.name, param.value));
    }
    Step {
        title: "Produced".into(),
        status: "production recorded".into(),
        tone: Tone::Ok,
        lines,
        at: Some((r.stamp.height, r.stamp.tx_id)),
    }
}

/// A certificate's standing in words and tone.
pub fn certificate_standing(c: &CertificateView) -> (String, Tone) {
    let oc = &c.certificate;
    let outcome = match oc.outcome {
        Outcome::Pass => "PASS",
        Outcome::Fail => "FAIL",
    };
    match c.status {
        CertificateStatus::Revoked => {
            let why = oc.revoked.as_ref().map_or("", |r| r.reason.as_str());
            (format!("{outcome}, REVOKED: {why}"), Tone::Bad)
        }
        CertificateStatus::Expired => (
            format!(
                "{outcome}, EXPIRED since {}",
                layout::time(oc.valid_until_ms)
            ),
            Tone::Bad,
        ),
        CertificateStatus::NotYetValid => (
            format!(
                "{outcome}, NOT YET VALID (from {})",
                layout::time(oc.valid_from_ms)
            ),
            Tone::Warn,
        ),
        CertificateStatus::Valid => match oc.outcome {
            Outcome::Pass => (
                format!("PASS, valid until {}", layout::time(oc.valid_until_ms)),
                Tone::Ok,
            ),
            Outcome::Fail => (
                format!("FAIL, in force until {}", layout::time(oc.valid_until_ms)),
                Tone::Bad,
            ),
        },
    }
}

fn certificate_steps(p: &Provenance) -> Vec<Step> {
    if p.certificates.is_empty() {
        return vec![Step {
            title: "Certification".into(),
            status: "no certificate on this object".into(),
            tone: Tone::Missing,
            lines: Vec::new(),
            at: None,
        }];
    }
    p.certificates
        .iter()
        .map(|c| {
            let oc = &c.certificate;
            let (status, tone) = certificate_standing(c);
            Step {
                title: format!("Certificate #{}", oc.certificate_id),
                status,
                tone,
                lines: vec![
                    format!("expert {}", oc.issuer),
                    format!("claim: {}", oc.claim),
                    format!("evidence blake3 {}", short(&oc.evidence)),
                ],
                at: Some((oc.issued.height, oc.issued.tx_id)),
            }
        })
        .collect()
}

fn delivery_steps(p: &Provenance) -> Vec<Step> {
    let mut out = Vec::new();
    if let Some(o) = &p.order {
        if let Some(s) = &o.settlement {
            out.push(Step {
                title: "Delivered and settled".into(),
                status: format!("{:?}", s.kind),
                tone: Tone::Ok,
                lines: s
                    .payouts
                    .iter()
                    .map(|p| format!("paid {} to {}", p.amount, p.to))
                    .collect(),
                at: Some((s.stamp.height, s.stamp.tx_id)),
            });
        } else if let Some(d) = &o.delivered {
            out.push(Step {
                title: "Delivered".into(),
                status: "not settled yet".into(),
                tone: Tone::Warn,
                lines: Vec::new(),
                at: Some((d.height, d.tx_id)),
            });
        } else {
            out.push(Step {
                title: "Delivery".into(),
                status: "not delivered yet".into(),
                tone: Tone::Missing,
                lines: Vec::new(),
                at: None,
            });
        }
    }
    if let Some(r) = &p.rating {
        out.push(Step {
            title: "Rated".into(),
            status: format!("{} of 5 stars", r.stars),
            tone: Tone::Ok,
            lines: vec![
                format!("by customer {} for producer {}", r.customer, r.producer),
                format!("\"{}\"", r.comment),
            ],
            at: Some((r.stamp.height, r.stamp.tx_id)),
        });
    }
    out
}

/// The steps of an object's chain, in order.
pub fn steps(p: &Provenance) -> Vec<Step> {
    let mut out = vec![model_step(p)];
    out.extend(order_steps(p));
    out.push(production_step(p));
    out.extend(certificate_steps(p));
    out.extend(delivery_steps(p));
    out
}

/// What is wrong with an object's chain, in words (empty when nothing is).
pub fn warnings(p: &Provenance) -> Vec<String> {
    let mut out = Vec::new();
    match &p.model {
        None => out.push("The model of this object is not registered.".to_string()),
        Some(m) => {
            if let Some(s) = &m.superseded_by {
                out.push(format!(
                    "The model \"{}\" v{} has been superseded by version {}.",
                    m.name, m.version, s.version
                ));
            }
        }
    }
    if p.certificates.is_empty() {
        out.push("No expert has certified this object.".into());
    }
    for c in &p.certificates {
        let (standing, tone) = certificate_standing(c);
        if tone != Tone::Ok {
            out.push(format!(
                "Certificate #{} by {}: {standing}.",
                c.certificate.certificate_id, c.certificate.issuer
            ));
        }
    }
    out
}

fn people(p: &Provenance) -> Markup {
    html! {
        dl {
            @if let Some(m) = &p.model { dt { "Designer" } dd { (participant_link(&m.designer)) } }
            dt { "Producer" } dd { (participant_link(&p.production.producer)) }
            @for c in &p.certificates { dt { "Expert" } dd { (participant_link(&c.certificate.issuer)) } }
            @if let Some(o) = &p.order { dt { "Customer" } dd { (participant_link(&o.customer)) } }
        }
    }
}

fn facts(steps: &[Step]) -> Markup {
    html! {
        ol.facts {
            @for s in steps {
                li {
                    strong { (s.title) } " — " span class=(s.tone.class()) { (s.status) }
                    @if let Some((h, tx)) = &s.at {
                        " (" (layout::block_link(PUBLIC_CHANNEL, *h)) ", " (layout::tx_link(PUBLIC_CHANNEL, tx)) ")"
                    }
                    @if !s.lines.is_empty() { ul { @for l in &s.lines { li { (l) } } } }
                }
            }
        }
    }
}

/// The verification page's body for `p`.
pub fn body(p: &Provenance) -> Markup {
    let steps = steps(p);
    let warnings = warnings(p);
    html! {
        h1 { "Object " span.mono { (p.serial) } }
        @if let Some(m) = &p.model {
            p { "Model: " strong { (m.name) } " ("
                a href={"/models?hash=" (m.file_hash.to_hex())} { "its registration and license" } ")" }
        }
        @if warnings.is_empty() {
            p.banner.ok { "Verified: the chain is complete and every certificate is in force." }
        } @else {
            div.banner.warn {
                p { "Verified on the ledger, with warnings:" }
                ul { @for w in &warnings { li { (w) } } }
            }
        }
        p.muted { "Checked at block " (p.checked_at_height) " (" (layout::time(p.checked_at_ms)) ")." }
        (people(p))
        h2 { "Provenance" }
        div.timeline { (timeline(PUBLIC_CHANNEL, &steps)) }
        h2 { "Every step" }
        (facts(&steps))
        p {
            a href={"/label/" (seg(&p.serial)) ".svg"} { "Printable label (SVG)" }
            " · "
            a href={"/label/" (seg(&p.serial)) ".png"} { "PNG" }
        }
    }
}

/// `GET /verify?serial=S`: the home page's form, redirected to the page.
pub async fn search(Query(q): Query<HashMap<String, String>>) -> PageResult {
    let serial = q.get("serial").map_or("", |s| s.trim());
    if serial.is_empty() {
        return Err(PageError::bad_request(
            "Type the serial printed on the object.",
        ));
    }
    Ok(Redirect::to(&format!("/verify/{}", seg(serial))).into_response())
}

/// `GET /verify/{serial}`.
pub async fn verify(
    State(state): State<ExplorerState>,
    Path(serial): Path<String>,
    headers: HeaderMap,
) -> PageResult {
    let ch = public(&state, &headers)?;
    let p = {
        let ledger = read(&ch)?;
        apps::provenance(&ledger, &apps::anonymous(), &serial)
    };
    let p = match p {
        Ok(p) => p,
        // An unknown serial that is not even a valid identifier.
        Err(apps::AppsError::Refused { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let Some(p) = p else {
        return Err(PageError {
            status: StatusCode::NOT_FOUND,
            title: "Unknown serial".into(),
            message: format!(
                "UNKNOWN SERIAL: no object {serial:?} is recorded on this ledger. \
                 Check the serial; a label that leads here may be counterfeit."
            ),
        });
    };
    Ok(html_response(
        StatusCode::OK,
        page(&format!("Object {}", p.serial), body(&p)),
    ))
}

/// The verification URL of `serial` as the requester reached this node
/// (its `Host` header), for labels printed from the web.
pub fn url_from_request(headers: &HeaderMap, serial: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    super::label::verify_url(&format!("http://{host}"), serial)
}

//! Participants: rankings, and one account's reputation, ranking
//! position, labster and expert accreditation, and history, all read from
//! the native reputation and certification contracts' state.

use super::layout::{self, page, participant_link};
use super::{ExplorerState, PageError, PageResult, html_response, public, read};
use crate::apps;
use crate::embedded::PUBLIC_CHANNEL;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use maud::{Markup, html};
use productivist_contracts::api::*;
use productivist_engine::tx::{decode_tx, tx_id};

/// Entries shown per ranking on the rankings page.
pub const RANKING_SHOWN: u32 = 20;
/// History entries shown on a participant page.
pub const HISTORY_MAX: usize = 25;

fn ranking_table(title: &str, entries: &[RankEntry]) -> Markup {
    html! {
        h2 { (title) }
        @if entries.is_empty() { p.muted { "Nobody yet." } }
        @else {
            table {
                thead { tr { th { "#" } th { "Account" } th { "Score" } } }
                tbody { @for (i, e) in entries.iter().enumerate() {
                    tr { td { (i + 1) } td { (participant_link(&e.account)) } td { (e.score) } }
                } }
            }
        }
    }
}

/// `GET /participants`: the producer and designer rankings.
pub async fn rankings(State(state): State<ExplorerState>, headers: HeaderMap) -> PageResult {
    let ch = public(&state, &headers)?;
    let (producers, designers) = {
        let ledger = read(&ch)?;
        let who = apps::anonymous();
        (
            apps::rank_producers(&ledger, &who, RANKING_SHOWN)?,
            apps::rank_designers(&ledger, &who, RANKING_SHOWN)?,
        )
    };
    let body = html! {
        h1 { "Participants" }
        (ranking_table("Producers", &producers))
        (ranking_table("Designers", &designers))
    };
    Ok(html_response(StatusCode::OK, page("Participants", body)))
}

fn position(entries: &[RankEntry], account: &str) -> Option<usize> {
    entries
        .iter()
        .position(|e| e.account == account)
        .map(|i| i + 1)
}

struct HistoryRow {
    height: u64,
    time_ms: u64,
    tx: Option<(productivist_engine::crypto::Hash, String)>,
    scores: Option<(i64, i64)>,
}

fn history(
    ledger: &productivist_engine::ledger::Ledger<crate::embedded::DynStore>,
    account: &str,
) -> Result<Vec<HistoryRow>, PageError> {
    let entries = apps::reputation_history(ledger, account, HISTORY_MAX)?;
    let mut rows = Vec::with_capacity(entries.len());
    for e in entries {
        let block = ledger
            .block(e.height)
            .map_err(|err| PageError::internal(err.to_string()))?;
        let Some(block) = block else { continue };
        let index = e.tx_index as usize;
        let tx = block
            .txs
            .get(index)
            .and_then(|b| decode_tx(b, usize::MAX).ok())
            .map(|t| {
                (
                    tx_id(&t),
                    format!("{}.{}", t.value().contract, t.value().method),
                )
            });
        let scores = block.results.get(index).and_then(|r| {
            r.events
                .iter()
                .filter(|ev| ev.contract == REPUTATION && ev.name == "reputation_changed")
                .filter_map(|ev| borsh::from_slice::<ReputationChanged>(&ev.data).ok())
                .find(|c| c.account == account)
                .map(|c| (c.producer_score, c.designer_score))
        });
        rows.push(HistoryRow {
            height: e.height,
            time_ms: block.header.timestamp_ms,
            tx,
            scores,
        });
    }
    // Newest first, whatever order the store lists them in.
    rows.sort_by_key(|r| std::cmp::Reverse(r.height));
    Ok(rows)
}

/// `GET /participants/{account}`.
pub async fn participant(
    State(state): State<ExplorerState>,
    Path(account): Path<String>,
    headers: HeaderMap,
) -> PageResult {
    let ch = public(&state, &headers)?;
    let (rep, accreditation, producers, designers, rows) = {
        let ledger = read(&ch)?;
        let who = apps::anonymous();
        let rep = match apps::reputation(&ledger, &who, &account) {
            Ok(r) => r,
            Err(apps::AppsError::Refused { .. }) => {
                return Err(PageError::not_found(format!(
                    "{account:?} is not an account on this ledger."
                )));
            }
            Err(e) => return Err(e.into()),
        };
        (
            rep,
            apps::accreditation(&ledger, &who, &account)?,
            apps::rank_producers(&ledger, &who, RANKING_LIMIT_MAX)?,
            apps::rank_designers(&ledger, &who, RANKING_LIMIT_MAX)?,
            history(&ledger, &account)?,
        )
    };
    let s = &rep.stats;
    let rank = |p: Option<usize>| match p {
        Some(n) => format!("#{n}"),
        None => format!("not in the top {RANKING_LIMIT_MAX}"),
    };
    let avg_stars = if s.ratings_count == 0 {
        "no ratings yet".to_string()
    } else {
        format!(
            "{:.1} of 5 over {} rating(s)",
            s.stars_sum as f64 / s.ratings_count as f64,
            s.ratings_count
        )
    };
    let body = html! {
        h1 { (account) }
        dl {
            dt { "Producer score" } dd { (rep.producer_score) " (" (rank(position(&producers, &account))) ")" }
            dt { "Designer score" } dd { (rep.designer_score) " (" (rank(position(&designers, &account))) ")" }
            dt { "Labster level" } dd {
                @match &rep.labster {
                    Some(l) => { "level " (l.level) " of " (LABSTER_LEVEL_MAX) ", granted by " (participant_link(&l.granted_by))
                                 " (" (layout::block_link(PUBLIC_CHANNEL, l.stamp.height)) ")" }
                    None => { span.muted { "none" } }
                }
            }
            dt { "Expert accreditation" } dd {
                @match &accreditation {
                    None => { span.muted { "not an accredited expert" } }
                    Some(a) => {
                        @if a.active { span.badge.ok { "active" } } @else { span.badge.bad { "not in force" } }
                        " scope " (a.record.accreditation.scope)
                        ", until " (layout::time(a.record.accreditation.valid_until_ms))
                        @if a.record.withdrawn.is_some() { " " span.bad { "WITHDRAWN" } }
                    }
                }
            }
            dt { "Ratings" } dd { (avg_stars) }
        }
        h2 { "Facts" }
        div.scroll { table { tbody {
            tr { th { "Orders on time / late / missed" } td { (s.orders_on_time) " / " (s.orders_late) " / " (s.orders_missed) } }
            tr { th { "Disputes won / lost" } td { (s.disputes_won) " / " (s.disputes_lost) } }
            tr { th { "Certificates passed / failed" } td { (s.certificates_passed) " / " (s.certificates_failed) } }
            tr { th { "Models registered" } td { (s.models_registered) } }
            tr { th { "Orders of own designs / units made" } td { (s.design_orders_completed) " / " (s.design_units_produced) } }
            tr { th { "Orders as customer" } td { (s.orders_as_customer) } }
        } } }
        @if !rep.tags.is_empty() {
            p { "Ranked under: "
                @for (i, t) in rep.tags.iter().enumerate() { @if i > 0 { ", " } (format!("{:?}", t.kind).to_lowercase()) " " (t.value) } }
        }
        h2 { "History" }
        @if rows.is_empty() { p.muted { "No reputation facts recorded yet." } }
        @else {
            div.scroll { table {
                thead { tr { th { "When (UTC)" } th { "Block" } th { "Transaction" } th { "Scores after (producer / designer)" } } }
                tbody { @for r in &rows { tr {
                    td { (layout::time(r.time_ms)) }
                    td { (layout::block_link(PUBLIC_CHANNEL, r.height)) }
                    td { @if let Some((id, call)) = &r.tx { (layout::tx_link(PUBLIC_CHANNEL, id)) " " code { (call) } } }
                    td { @if let Some((p, d)) = r.scores { (p) " / " (d) } }
                } } }
            } }
        }
    };
    Ok(html_response(StatusCode::OK, page(&account, body)))
}

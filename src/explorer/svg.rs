//! The provenance timeline as inline SVG: one dot per step on a vertical
//! rail, its title and status in words, its facts, and links to the block
//! and transaction that recorded it. The drawing is sized by its viewBox so
//! it scales to a phone's width; text is wrapped, never clipped.

use super::layout::{self, short};
use maud::{Markup, html};
use productivist_engine::crypto::Hash;

/// Width of the drawing in SVG units.
const WIDTH: u32 = 420;
/// Characters per text line before wrapping.
const WRAP_CHARS: usize = 46;
/// Lines of facts per step shown in the drawing (the rest are summarised).
const LINES_PER_STEP_MAX: usize = 12;
const LINE_H: u32 = 18;
const TITLE_H: u32 = 22;
const STEP_GAP: u32 = 18;
const RAIL_X: u32 = 16;
const TEXT_X: u32 = 36;

/// How a step stands, drawn as colour and always also said in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    /// In force, passed, done.
    Ok,
    /// Revoked, failed, expired.
    Bad,
    /// Superseded, not yet valid, pending.
    Warn,
    /// Missing from the chain.
    Missing,
}

impl Tone {
    fn colour(self) -> &'static str {
        match self {
            Tone::Ok => "#1b7f3b",
            Tone::Bad => "#b3261e",
            Tone::Warn => "#9a6700",
            Tone::Missing => "#8c959f",
        }
    }
    /// The CSS class of the tone.
    pub fn class(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Bad => "bad",
            Tone::Warn => "warn",
            Tone::Missing => "muted",
        }
    }
}

/// One step of the chain.
#[derive(Clone, Debug)]
pub struct Step {
    /// What happened ("Model registered").
    pub title: String,
    /// Its standing in words ("PASS, valid", "REVOKED").
    pub status: String,
    /// Colour of the standing.
    pub tone: Tone,
    /// Facts, one per line (wrapped when long).
    pub lines: Vec<String>,
    /// The block height and transaction that recorded it.
    pub at: Option<(u64, Hash)>,
}

fn wrap(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut line = String::new();
    for word in text.split(' ') {
        let mut word = word.to_string();
        // A word longer than a line (a hash) is cut.
        while word.chars().count() > WRAP_CHARS {
            if !line.is_empty() {
                out.push(std::mem::take(&mut line));
            }
            let head: String = word.chars().take(WRAP_CHARS).collect();
            word = word.chars().skip(WRAP_CHARS).collect();
            out.push(head);
        }
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > WRAP_CHARS {
            out.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(&word);
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

struct Laid<'a> {
    step: &'a Step,
    y: u32,
    lines: Vec<String>,
}

/// The timeline of `steps`, whose blocks and transactions are on
/// `channel`.
pub fn timeline(channel: &str, steps: &[Step]) -> Markup {
    let mut laid = Vec::with_capacity(steps.len());
    let mut y = 8;
    for step in steps {
        let mut lines: Vec<String> = step.lines.iter().flat_map(|l| wrap(l)).collect();
        if lines.len() > LINES_PER_STEP_MAX {
            let more = lines.len() - LINES_PER_STEP_MAX + 1;
            lines.truncate(LINES_PER_STEP_MAX - 1);
            lines.push(format!("(+{more} more lines below)"));
        }
        let h = TITLE_H * 2 + LINE_H * (lines.len() as u32 + u32::from(step.at.is_some()));
        laid.push(Laid { step, y, lines });
        y += h + STEP_GAP;
    }
    let height = y;
    let rail_end = laid.last().map_or(0, |l| l.y + 8);
    html! {
        svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (WIDTH) " " (height)}
            role="img" aria-label="Provenance timeline" font-family="system-ui, sans-serif" font-size="14" {
            line x1=(RAIL_X) y1="16" x2=(RAIL_X) y2=(rail_end) stroke="#d0d7de" stroke-width="4" {}
            @for l in &laid {
                g.step data-tone=(l.step.tone.class()) {
                    circle cx=(RAIL_X) cy=(l.y + 8) r="9" fill=(l.step.tone.colour()) stroke="#fff" stroke-width="2" {}
                    text x=(TEXT_X) y=(l.y + 14) font-weight="700" font-size="15" { (l.step.title) }
                    text x=(TEXT_X) y=(l.y + 14 + TITLE_H) font-weight="700" fill=(l.step.tone.colour()) { (l.step.status) }
                    @for (i, line) in l.lines.iter().enumerate() {
                        text x=(TEXT_X) y=(l.y + 14 + TITLE_H * 2 + LINE_H * i as u32) { (line) }
                    }
                    @if let Some((h, tx)) = &l.step.at {
                        text x=(TEXT_X) y=(l.y + 14 + TITLE_H * 2 + LINE_H * l.lines.len() as u32) fill="#0b57d0" {
                            a href={"/blocks/" (layout::seg(channel)) "/" (h)} { "block " (h) }
                            " · "
                            a href={"/tx/" (layout::seg(channel)) "/" (tx.to_hex())} { "tx " (short(tx)) }
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_wraps_within_the_line_width_and_keeps_every_word() {
        let text = format!("producer anna@fablab on {} machine", "x".repeat(130));
        let lines = wrap(&text);
        assert!(lines.iter().all(|l| l.chars().count() <= WRAP_CHARS));
        assert_eq!(lines.concat().replace(' ', ""), text.replace(' ', ""));
        assert_eq!(wrap(""), vec![String::new()]);
    }
}

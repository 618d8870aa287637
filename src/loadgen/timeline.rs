//! The per-second timeline of a run: rows, their CSV file, and the dip and
//! recovery after a node was killed.

use super::metrics::{Second, quantile_ms};
use std::io::Write;
use std::path::Path;

/// The CSV header, in column order.
pub const CSV_HEADER: &str = "second,submitted,committed,p50_ms,p99_ms";
/// Seconds before the kill averaged as the baseline throughput.
pub const BASELINE_SECONDS: usize = 5;
/// A second counts as recovered at this fraction of the baseline.
pub const RECOVERED_FRACTION: f64 = 0.9;
/// Consecutive recovered seconds that end a recovery.
pub const RECOVERED_SECONDS: usize = 2;

/// One second of the timeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Seconds since the start (this row covers `[second, second + 1)`).
    pub second: u64,
    /// Submissions acknowledged.
    pub submitted: u64,
    /// Commits seen (the committed tx/s of this second).
    pub committed: u64,
    /// Median commit latency of this second's commits, ms (0 if none).
    pub p50_ms: f64,
    /// 99th percentile, ms (0 if none).
    pub p99_ms: f64,
}

/// Rows from a recorder's seconds.
pub fn rows(seconds: &[Second]) -> Vec<Row> {
    seconds
        .iter()
        .enumerate()
        .map(|(i, s)| Row {
            second: i as u64,
            submitted: s.submitted,
            committed: s.committed,
            p50_ms: quantile_ms(&s.latency_us, 0.50),
            p99_ms: quantile_ms(&s.latency_us, 0.99),
        })
        .collect()
}

/// The CSV text of `rows`, header first.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::with_capacity(32 * (rows.len() + 1));
    out.push_str(CSV_HEADER);
    out.push('\n');
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{:.3},{:.3}\n",
            r.second, r.submitted, r.committed, r.p50_ms, r.p99_ms
        ));
    }
    out
}

/// Writes [`csv`] to `path`.
pub fn write_csv(path: &Path, rows: &[Row]) -> std::io::Result<()> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(csv(rows).as_bytes())?;
    f.sync_all()
}

/// The effect of killing a node at `kill_s`.
#[derive(Clone, Debug, PartialEq)]
pub struct Recovery {
    /// Mean committed tx/s over the seconds before the kill.
    pub baseline_tps: f64,
    /// Lowest committed tx/s from the kill on (until recovered).
    pub dip_tps: u64,
    /// Seconds from the kill until throughput is back to
    /// [`RECOVERED_FRACTION`] of the baseline for [`RECOVERED_SECONDS`]
    /// seconds; `None` if it never was in the timeline.
    pub recovery_s: Option<u64>,
    /// Seconds below the threshold after the recovery: a stall later on,
    /// such as one set off by the restarted node, which the recovery time
    /// alone does not show.
    pub relapse_seconds: u64,
    /// Lowest committed tx/s of those seconds.
    pub relapse_min_tps: Option<u64>,
}

/// The dip and recovery after a kill at second `kill_s`, and the seconds
/// that fell below the threshold again after it: `None` when there is no
/// baseline (killed in the first second). `rows` are the seconds of load
/// (the drain after it would count as dips).
pub fn recovery(rows: &[Row], kill_s: u64) -> Option<Recovery> {
    let kill = usize::try_from(kill_s).ok()?.min(rows.len());
    // Skip the first second (warm-up) when there is room.
    let from = kill
        .saturating_sub(BASELINE_SECONDS)
        .max(usize::from(kill > 1));
    let before = &rows[from..kill];
    if before.is_empty() {
        return None;
    }
    let baseline_tps = before.iter().map(|r| r.committed as f64).sum::<f64>() / before.len() as f64;
    let threshold = baseline_tps * RECOVERED_FRACTION;
    let after = &rows[kill..];
    let mut run = 0usize;
    let mut recovered_at = None;
    for (k, r) in after.iter().enumerate() {
        if r.committed as f64 >= threshold {
            run += 1;
            if run == RECOVERED_SECONDS {
                recovered_at = Some(k + 1 - RECOVERED_SECONDS);
                break;
            }
        } else {
            run = 0;
        }
    }
    let until = recovered_at.map_or(after.len(), |k| k.max(1));
    let dip_tps = after
        .iter()
        .take(until)
        .map(|r| r.committed)
        .min()
        .unwrap_or(0);
    let relapses: Vec<u64> = recovered_at
        .map_or(&[][..], |k| &after[k + RECOVERED_SECONDS..])
        .iter()
        .map(|r| r.committed)
        .filter(|&c| (c as f64) < threshold)
        .collect();
    Some(Recovery {
        baseline_tps,
        dip_tps,
        recovery_s: recovered_at.map(|k| k as u64),
        relapse_seconds: relapses.len() as u64,
        relapse_min_tps: relapses.iter().copied().min(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loadgen::metrics::Recorder;

    fn row(second: u64, committed: u64) -> Row {
        Row {
            second,
            submitted: committed,
            committed,
            p50_ms: 0.0,
            p99_ms: 0.0,
        }
    }

    #[test]
    fn csv_has_the_header_and_one_line_per_second() {
        let mut r = Recorder::new();
        r.submitted(0);
        r.committed(0, 10_000, true);
        r.committed(0, 30_000, true);
        r.submitted(2_100_000);
        let rows = rows(r.seconds());
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].committed, 2);
        assert!(rows[0].p50_ms >= 9.9 && rows[0].p50_ms <= 10.1, "{rows:?}");
        assert!(rows[0].p99_ms >= 29.9 && rows[0].p99_ms <= 30.2, "{rows:?}");
        assert_eq!(rows[1], row(1, 0));
        let text = csv(&rows);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[2], "1,0,0,0.000,0.000");
        assert!(lines[3].starts_with("2,1,0,"));
        for l in &lines[1..] {
            assert_eq!(l.split(',').count(), CSV_HEADER.split(',').count());
        }
    }

    #[test]
    fn dip_and_recovery_after_a_kill() {
        // 1000 tx/s, killed at 6, nothing for 2 s, half for 1 s, then back.
        let tps = [
            0, 1000, 1000, 1000, 1000, 1000, 100, 0, 0, 500, 950, 1000, 1000,
        ];
        let rows: Vec<Row> = tps
            .iter()
            .enumerate()
            .map(|(i, &c)| row(i as u64, c))
            .collect();
        let r = recovery(&rows, 6).expect("baseline");
        assert_eq!(r.baseline_tps, 1000.0);
        assert_eq!(r.dip_tps, 0);
        assert_eq!(r.recovery_s, Some(4));
        assert_eq!((r.relapse_seconds, r.relapse_min_tps), (0, None));
        // Recovered, then a stall after the restart: counted apart.
        let mut later = tps.to_vec();
        later.extend([1000, 0, 0, 300, 1000]);
        let rows2: Vec<Row> = later
            .iter()
            .enumerate()
            .map(|(i, &c)| row(i as u64, c))
            .collect();
        let r = recovery(&rows2, 6).expect("baseline");
        assert_eq!((r.dip_tps, r.recovery_s), (0, Some(4)));
        assert_eq!((r.relapse_seconds, r.relapse_min_tps), (3, Some(0)));
        // Never recovers within the timeline.
        let r = recovery(&rows[..11], 6).expect("baseline");
        assert_eq!(r.recovery_s, None);
        assert_eq!(r.dip_tps, 0);
        // No dip at all: recovered at once.
        let flat: Vec<Row> = (0..10).map(|i| row(i, 1000)).collect();
        let r = recovery(&flat, 5).expect("baseline");
        assert_eq!((r.dip_tps, r.recovery_s), (1000, Some(0)));
        assert_eq!(recovery(&flat, 0), None);
    }
}

//! What a run measured, client side: counts per second and commit latency
//! histograms (`hdrhistogram`), overall and per second of the run.
//!
//! Times are µs since the run's start. A transaction's latency runs from
//! the time it was due (open loop) or sent (closed loop) to the first
//! committed-block event that lists it.

use hdrhistogram::Histogram;

/// Largest latency recorded exactly (longer ones are clamped): 10 minutes.
pub const LATENCY_US_MAX: u64 = 600_000_000;
/// Seconds of timeline kept; later events count in the last second.
pub const SECONDS_MAX: usize = 3_600;

fn histogram(sigfig: u8) -> Histogram<u64> {
    // Constant bounds within hdrhistogram's limits (sigfig is 2 or 3).
    Histogram::new_with_bounds(1, LATENCY_US_MAX, sigfig).expect("constant histogram bounds")
}

/// One second of the run.
#[derive(Clone, Debug)]
pub struct Second {
    /// Submissions acknowledged by a node in this second.
    pub submitted: u64,
    /// Transactions whose commit was seen in this second.
    pub committed: u64,
    /// Their latencies, µs.
    pub latency_us: Histogram<u64>,
}

impl Second {
    fn new() -> Second {
        Second {
            submitted: 0,
            committed: 0,
            latency_us: histogram(2),
        }
    }
}

/// Latency percentiles and counts of a whole run.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Transactions acknowledged by a node.
    pub submitted: u64,
    /// Transactions seen committed (valid or not).
    pub committed: u64,
    /// Of those, recorded as invalid by the ledger.
    pub invalid: u64,
    /// Submissions answered "busy" (each retried).
    pub busy: u64,
    /// Submissions refused at admission (not retried).
    pub rejected: u64,
    /// Transport failures (retried on another node).
    pub errors: u64,
    /// Transactions given up: not committed within the commit timeout, or
    /// never acknowledged.
    pub lost: u64,
    /// Commit latency percentiles, ms.
    pub p50_ms: f64,
    /// 95th percentile, ms.
    pub p95_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Largest, ms.
    pub max_ms: f64,
    /// Mean, ms.
    pub mean_ms: f64,
}

/// Collects a run's measurements.
#[derive(Debug)]
pub struct Recorder {
    seconds: Vec<Second>,
    total: Histogram<u64>,
    submitted: u64,
    committed: u64,
    invalid: u64,
    busy: u64,
    rejected: u64,
    errors: u64,
    lost: u64,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

fn second_of(at_us: u64) -> usize {
    ((at_us / 1_000_000) as usize).min(SECONDS_MAX - 1)
}

/// `q` quantile of `h` in ms (0 when empty).
pub fn quantile_ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        return 0.0;
    }
    h.value_at_quantile(q) as f64 / 1_000.0
}

impl Recorder {
    /// An empty recorder.
    pub fn new() -> Recorder {
        Recorder {
            seconds: Vec::new(),
            total: histogram(3),
            submitted: 0,
            committed: 0,
            invalid: 0,
            busy: 0,
            rejected: 0,
            errors: 0,
            lost: 0,
        }
    }

    fn second(&mut self, at_us: u64) -> &mut Second {
        let s = second_of(at_us);
        while self.seconds.len() <= s {
            self.seconds.push(Second::new());
        }
        &mut self.seconds[s]
    }

    /// A node acknowledged a submission at `at_us`.
    pub fn submitted(&mut self, at_us: u64) {
        self.submitted += 1;
        self.second(at_us).submitted += 1;
    }

    /// A transaction sent at `sent_us` was seen committed at `at_us`.
    pub fn committed(&mut self, sent_us: u64, at_us: u64, valid: bool) {
        let latency = at_us.saturating_sub(sent_us).clamp(1, LATENCY_US_MAX);
        self.committed += 1;
        if !valid {
            self.invalid += 1;
        }
        self.total.saturating_record(latency);
        let s = self.second(at_us);
        s.committed += 1;
        s.latency_us.saturating_record(latency);
    }

    /// A submission was answered "busy".
    pub fn busy(&mut self) {
        self.busy += 1;
    }

    /// A submission was refused at admission.
    pub fn rejected(&mut self) {
        self.rejected += 1;
    }

    /// A transport failure.
    pub fn error(&mut self) {
        self.errors += 1;
    }

    /// `n` transactions given up.
    pub fn lost(&mut self, n: u64) {
        self.lost += n;
    }

    /// The seconds so far.
    pub fn seconds(&self) -> &[Second] {
        &self.seconds
    }

    /// Committed transactions so far.
    pub fn committed_count(&self) -> u64 {
        self.committed
    }

    /// Acknowledged submissions so far.
    pub fn submitted_count(&self) -> u64 {
        self.submitted
    }

    /// Committed transactions seen in `[from_s, to_s)`.
    pub fn committed_between(&self, from_s: usize, to_s: usize) -> u64 {
        self.seconds
            .iter()
            .take(to_s)
            .skip(from_s)
            .map(|s| s.committed)
            .sum()
    }

    /// The run's summary.
    pub fn summary(&self) -> Summary {
        Summary {
            submitted: self.submitted,
            committed: self.committed,
            invalid: self.invalid,
            busy: self.busy,
            rejected: self.rejected,
            errors: self.errors,
            lost: self.lost,
            p50_ms: quantile_ms(&self.total, 0.50),
            p95_ms: quantile_ms(&self.total, 0.95),
            p99_ms: quantile_ms(&self.total, 0.99),
            max_ms: if self.total.is_empty() {
                0.0
            } else {
                self.total.max() as f64 / 1_000.0
            },
            mean_ms: if self.total.is_empty() {
                0.0
            } else {
                self.total.mean() / 1_000.0
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut r = Recorder::new();
        // Sent at 0, committed at 1.9 s + k ms: latencies 1901..=2000 ms.
        for k in 1..=100u64 {
            r.committed(0, 1_900_000 + k * 1_000, true);
        }
        let s = r.summary();
        assert_eq!(s.committed, 100);
        // hdrhistogram with 3 significant figures: within 0.1%.
        let close = |a: f64, b: f64| (a - b).abs() <= b * 0.001 + 0.001;
        assert!(close(s.p50_ms, 1_950.0), "p50 {}", s.p50_ms);
        assert!(close(s.p99_ms, 1_999.0), "p99 {}", s.p99_ms);
        assert!(close(s.max_ms, 2_000.0), "max {}", s.max_ms);
        assert!(s.p50_ms <= s.p95_ms && s.p95_ms <= s.p99_ms && s.p99_ms <= s.max_ms);
    }

    #[test]
    fn counts_land_in_their_second() {
        let mut r = Recorder::new();
        r.submitted(10);
        r.submitted(1_500_000);
        r.submitted(1_999_999);
        r.committed(0, 2_000_000, true);
        r.committed(1_000_000, 2_500_000, false);
        assert_eq!(r.seconds().len(), 3);
        assert_eq!(
            r.seconds().iter().map(|s| s.submitted).collect::<Vec<_>>(),
            [1, 2, 0]
        );
        assert_eq!(
            r.seconds().iter().map(|s| s.committed).collect::<Vec<_>>(),
            [0, 0, 2]
        );
        assert_eq!(r.committed_between(0, 2), 0);
        assert_eq!(r.committed_between(2, 3), 2);
        let s = r.summary();
        assert_eq!((s.submitted, s.committed, s.invalid), (3, 2, 1));
        // A latency of 0 is recorded as 1 µs; a huge one is clamped.
        r.committed(5, 5, true);
        r.committed(0, u64::MAX, true);
        assert_eq!(r.seconds().len(), SECONDS_MAX);
        assert!(r.summary().max_ms <= LATENCY_US_MAX as f64 / 1_000.0 * 1.001);
    }

    #[test]
    fn empty_summary_is_zero() {
        let s = Recorder::new().summary();
        assert_eq!(
            (s.p50_ms, s.p99_ms, s.max_ms, s.mean_ms),
            (0.0, 0.0, 0.0, 0.0)
        );
    }
}

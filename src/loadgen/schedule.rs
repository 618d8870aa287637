//! When each pre-signed transaction is sent: an open-loop schedule at a
//! fixed rate (the offered load does not slow down when the cluster does,
//! so queueing shows up as latency), or a closed loop with a fixed number
//! of transactions in flight.

/// Most transactions one run pre-signs (about 400 bytes each in memory).
pub const TXS_MAX: u64 = 1_000_000;
/// Transactions pre-signed per second of a closed-loop run (the loop stops
/// early if the cluster commits faster than this).
pub const CLOSED_LOOP_TXS_PER_S: u64 = 30_000;

/// The offered load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Load {
    /// Open loop: `per_s` transactions per second, on schedule.
    Rate {
        /// Transactions per second.
        per_s: u64,
    },
    /// Closed loop: a new transaction is sent when one commits, keeping
    /// `inflight` uncommitted.
    ClosedLoop {
        /// Transactions in flight.
        inflight: u64,
    },
}

impl Load {
    /// How many transactions a run of `duration_s` seconds pre-signs.
    pub fn budget(&self, duration_s: u64) -> u64 {
        let wanted = match self {
            Load::Rate { per_s } => per_s.saturating_mul(duration_s),
            Load::ClosedLoop { inflight } => CLOSED_LOOP_TXS_PER_S
                .saturating_mul(duration_s)
                .max(*inflight),
        };
        wanted.clamp(1, TXS_MAX)
    }
}

/// The time, in µs after the start, at which transaction `i` is due under
/// an open-loop rate of `per_s` per second (`i = 0` is due at once).
pub fn due_us(i: u64, per_s: u64) -> u64 {
    assert!(per_s > 0, "a rate is positive");
    // u128: i * 1e6 overflows u64 only past 1.8e13 transactions, but the
    // product is cheap to make exact.
    (u128::from(i) * 1_000_000 / u128::from(per_s)) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_schedule_is_evenly_spaced_and_exact_per_second() {
        assert_eq!(due_us(0, 1_000), 0);
        assert_eq!(due_us(1, 1_000), 1_000);
        assert_eq!(due_us(999, 1_000), 999_000);
        // Exactly `per_s` transactions fall in each second.
        for per_s in [1u64, 7, 1_000, 15_000] {
            let in_first_s = (0..2 * per_s)
                .filter(|&i| due_us(i, per_s) < 1_000_000)
                .count();
            assert_eq!(in_first_s as u64, per_s, "rate {per_s}");
        }
        assert!(due_us(u64::MAX, 1) > 0);
    }

    #[test]
    fn budgets_are_bounded() {
        assert_eq!(Load::Rate { per_s: 100 }.budget(10), 1_000);
        assert_eq!(Load::Rate { per_s: 10_000_000 }.budget(600), TXS_MAX);
        assert_eq!(Load::Rate { per_s: 0 }.budget(10), 1);
        assert_eq!(
            Load::ClosedLoop { inflight: 10 }.budget(2),
            2 * CLOSED_LOOP_TXS_PER_S
        );
    }
}

//! The payloads a simulation orders and the validity rule they obey.
//!
//! The consensus crate knows nothing of ledgers, so the rule is pluggable:
//! [`PayloadRules`] makes the payloads clients propose, judges a payload as
//! a replica does before voting (Simplex's [`crate::simplex::Validator`]),
//! builds the invalid payloads Byzantine leaders propose, and re-checks
//! every committed payload (the Validity invariant). The root crate plugs
//! in the ledger's real proposal check over real signed transactions;
//! [`ChecksumRules`], a checksum over opaque bytes, keeps the consensus
//! crate's own tests free of the engine.

use std::fmt;
use std::sync::Arc;

use crate::NodeId;
use crate::sim::rng::SplitMix64;

/// A validity rule for simulated payloads. Implementations must be pure
/// functions of their arguments (plus state fixed before the run): every
/// honest replica has to reach the same verdict, and seeds must replay.
pub trait PayloadRules: Send + Sync + fmt::Debug {
    /// The `seq`-th payload of a run, proposed to node `proposer`. Distinct
    /// `seq` must give distinct bytes (the harness recognizes its liveness
    /// probes by their bytes).
    fn make(&self, proposer: NodeId, seq: u64, rng: &mut SplitMix64) -> Vec<u8>;

    /// Judges `payload` as a child of `parent` (`None` for the genesis or an
    /// empty filler parent). An empty payload is a filler block and valid.
    fn check(&self, parent: Option<&[u8]>, payload: &[u8]) -> Result<(), String>;

    /// A payload `check` refuses as a child of `parent`, as Byzantine node
    /// `proposer` would propose instead of `honest`.
    fn make_invalid(
        &self,
        proposer: NodeId,
        parent: Option<&[u8]>,
        honest: &[u8],
        rng: &mut SplitMix64,
    ) -> Vec<u8>;
}

/// Shared handle on the rules of a run.
pub type SharedRules = Arc<dyn PayloadRules>;

/// Bytes of the checksum [`ChecksumRules`] appends.
const CHECKSUM_BYTES: usize = 8;

/// Opaque payloads carrying an 8-byte keyed checksum: valid iff empty or
/// the checksum matches. Cheap; used when no ledger is plugged in.
#[derive(Clone, Copy, Debug, Default)]
pub struct ChecksumRules;

impl ChecksumRules {
    /// Appends the checksum of `data`.
    pub fn seal(data: &[u8]) -> Vec<u8> {
        let mut out = data.to_vec();
        out.extend_from_slice(&checksum(data));
        out
    }
}

fn checksum(data: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let hash = blake3::derive_key("productivist sim payload checksum v1", data);
    let mut out = [0u8; CHECKSUM_BYTES];
    out.copy_from_slice(&hash[..CHECKSUM_BYTES]);
    out
}

impl PayloadRules for ChecksumRules {
    fn make(&self, proposer: NodeId, seq: u64, rng: &mut SplitMix64) -> Vec<u8> {
        let mut data = format!("payload:{proposer}:{seq}:").into_bytes();
        let padding = rng.below(64) as usize;
        data.extend(std::iter::repeat_n(b'x', padding));
        Self::seal(&data)
    }

    fn check(&self, _parent: Option<&[u8]>, payload: &[u8]) -> Result<(), String> {
        if payload.is_empty() {
            return Ok(());
        }
        let split = payload
            .len()
            .checked_sub(CHECKSUM_BYTES)
            .filter(|s| *s > 0)
            .ok_or_else(|| format!("payload of {} bytes has no checksum", payload.len()))?;
        let (data, sum) = payload.split_at(split);
        if sum == checksum(data) {
            Ok(())
        } else {
            Err("bad checksum".into())
        }
    }

    fn make_invalid(
        &self,
        _proposer: NodeId,
        _parent: Option<&[u8]>,
        _honest: &[u8],
        rng: &mut SplitMix64,
    ) -> Vec<u8> {
        let mut out = format!("invalid:{}", rng.next_u64()).into_bytes();
        let mut sum = checksum(&out);
        sum[0] ^= 1;
        out.extend_from_slice(&sum);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_rules_accept_what_they_make_and_refuse_their_invalid() {
        let rules = ChecksumRules;
        let mut rng = SplitMix64::new(7);
        for seq in 0..50 {
            let good = rules.make(1, seq, &mut rng);
            assert_eq!(rules.check(None, &good), Ok(()));
            let bad = rules.make_invalid(1, None, &good, &mut rng);
            assert!(rules.check(None, &bad).is_err());
        }
        assert_eq!(rules.check(None, &[]), Ok(()));
        assert!(rules.check(None, b"short").is_err());
    }
}

//! Typed read-only calls to the native Productivist applications on a
//! channel's ledger: an object's provenance, a model file's authenticity, a
//! participant's reputation, accreditation and rankings. The CLI
//! (`productivist verify`) and the web explorer both read through here, so
//! they show the same facts.

use crate::embedded::DynStore;
use productivist_contracts::api::*;
use productivist_engine::crypto::{Hash, PublicKey};
use productivist_engine::identity::Identity;
use productivist_engine::ledger::Ledger;
use productivist_engine::store::HistoryEntry;

/// Why an application read failed.
#[derive(Debug, thiserror::Error)]
pub enum AppsError {
    /// The contract refused the query (bad argument, no genesis...).
    #[error("{contract}.{method}: {reason}")]
    Refused {
        /// The contract.
        contract: &'static str,
        /// The method.
        method: &'static str,
        /// Why.
        reason: String,
    },
    /// The output did not decode as the documented type.
    #[error("{contract}.{method} output: {reason}")]
    Decode {
        /// The contract.
        contract: &'static str,
        /// The method.
        method: &'static str,
        /// Why.
        reason: String,
    },
    /// The ledger's store failed.
    #[error("ledger: {0}")]
    Ledger(String),
}

/// The identity of a reader who did not sign in: public-channel queries
/// need no member (the contracts' read methods do not look at the caller).
pub fn anonymous() -> Identity {
    Identity {
        org: String::new(),
        subject: "anonymous".into(),
        roles: Vec::new(),
        public_key: PublicKey([0; 32]),
        cert_id: Hash::ZERO,
    }
}

fn call<A: borsh::BorshSerialize, T: borsh::BorshDeserialize>(
    ledger: &Ledger<DynStore>,
    caller: &Identity,
    contract: &'static str,
    method: &'static str,
    args: &A,
) -> Result<T, AppsError> {
    let bytes = borsh::to_vec(args).map_err(|e| AppsError::Decode {
        contract,
        method,
        reason: e.to_string(),
    })?;
    let out = ledger
        .query(caller, contract, method, &bytes)
        .map_err(|e| AppsError::Refused {
            contract,
            method,
            reason: e.to_string(),
        })?;
    borsh::from_slice(&out).map_err(|e| AppsError::Decode {
        contract,
        method,
        reason: e.to_string(),
    })
}

/// The provenance chain behind `serial` (`certify.verify`), or `None` for
/// an unknown serial.
pub fn provenance(
    ledger: &Ledger<DynStore>,
    caller: &Identity,
    serial: &str,
) -> Result<Option<Provenance>, AppsError> {
    call(
        ledger,
        caller,
        CERTIFY,
        "verify",
        &SerialArgs {
            serial: serial.to_string(),
        },
    )
}

/// Whether a model file (by its blake3 hash) is registered
/// (`model.authenticate`).
pub fn authenticate(
    ledger: &Ledger<DynStore>,
    caller: &Identity,
    file_hash: Hash,
) -> Result<Authenticity, AppsError> {
    call(
        ledger,
        caller,
        MODEL,
        "authenticate",
        &FileHashArgs { file_hash },
    )
}

/// An account's reputation (`reputation.get`).
pub fn reputation(
    ledger: &Ledger<DynStore>,
    caller: &Identity,
    account: &str,
) -> Result<Reputation, AppsError> {
    call(
        ledger,
        caller,
        REPUTATION,
        "get",
        &AccountArgs {
            account: account.to_string(),
        },
    )
}

/// An expert's accreditation (`certify.accreditation`).
pub fn accreditation(
    ledger: &Ledger<DynStore>,
    caller: &Identity,
    account: &str,
) -> Result<Option<AccreditationStatus>, AppsError> {
    call(
        ledger,
        caller,
        CERTIFY,
        "accreditation",
        &AccountArgs {
            account: account.to_string(),
        },
    )
}

/// The best producers, best first (`reputation.rank_producers`), at most
/// `limit` (clamped to [`RANKING_LIMIT_MAX`]).
pub fn rank_producers(
    ledger: &Ledger<DynStore>,
    caller: &Identity,
    limit: u32,
) -> Result<Vec<RankEntry>, AppsError> {
    call(
        ledger,
        caller,
        REPUTATION,
        "rank_producers",
        &RankProducersArgs {
            filter: None,
            limit: limit.clamp(1, RANKING_LIMIT_MAX),
        },
    )
}

/// The best designers, best first (`reputation.rank_designers`).
pub fn rank_designers(
    ledger: &Ledger<DynStore>,
    caller: &Identity,
    limit: u32,
) -> Result<Vec<RankEntry>, AppsError> {
    call(
        ledger,
        caller,
        REPUTATION,
        "rank_designers",
        &RankDesignersArgs {
            limit: limit.clamp(1, RANKING_LIMIT_MAX),
        },
    )
}

/// The latest `limit` writes to an account's reputation profile (key
/// `a/ACCOUNT` of `reputation`, see docs/CONTRACTS.md), newest first: the
/// blocks and transactions that changed it.
pub fn reputation_history(
    ledger: &Ledger<DynStore>,
    account: &str,
    limit: usize,
) -> Result<Vec<HistoryEntry>, AppsError> {
    let key = productivist_contracts::native::keys::key("a", &[account.as_bytes()]);
    ledger
        .history(REPUTATION, &key, limit)
        .map_err(|e| AppsError::Ledger(e.to_string()))
}

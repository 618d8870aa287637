//! Admission checks for one transaction: decode, channel, certificate,
//! signature. Replay is checked by the caller, which knows what is already
//! committed or pending.
//!
//! These checks depend only on the bytes, the channel config, the block time
//! and committed certificates, never on other transactions of the block, so
//! they can run in any order and on any number of threads.

use crate::block::InvalidCode;
use crate::config::ChannelConfig;
use crate::crypto::{CryptoError, Hash, PreparedKey, domain};
use crate::identity::{
    CertCache, Certificate, Identity, IdentityError, check_certificate_prepared,
};
use crate::store::StoreError;
use crate::tx::{SignerRef, Transaction, TxId, decode_tx, tx_id};

/// A transaction that passed admission.
#[derive(Clone, Debug)]
pub struct Admitted {
    /// The decoded transaction.
    pub tx: Transaction,
    /// Its id.
    pub id: TxId,
    /// The signer.
    pub identity: Identity,
}

impl Admitted {
    /// The certificate, when the transaction carried it in full (so the
    /// executor can record it for later by-id references).
    pub fn embedded_cert(&self) -> Option<&Certificate> {
        match &self.tx.value().signer {
            SignerRef::Certificate(c) => Some(c),
            SignerRef::CertId(_) => None,
        }
    }
}

/// Why a transaction was refused at admission.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {reason}")]
pub struct Rejection {
    /// The result code.
    pub code: InvalidCode,
    /// A readable explanation.
    pub reason: String,
}

impl Rejection {
    fn new(code: InvalidCode, reason: impl Into<String>) -> Rejection {
        Rejection {
            code,
            reason: reason.into(),
        }
    }
}

/// Admission failure: a refused transaction, or a store failure while
/// resolving a certificate reference (the node's fault, not the client's).
#[derive(Debug, thiserror::Error)]
pub enum AdmitError {
    /// The transaction is refused.
    #[error(transparent)]
    Rejected(#[from] Rejection),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Maps a certificate refusal to its result code.
pub fn identity_code(e: &IdentityError) -> InvalidCode {
    match e {
        IdentityError::ForeignOrganization(_) => InvalidCode::ForeignCertificate,
        IdentityError::BadCertificateSignature { .. } => InvalidCode::BadCertificateSignature,
        IdentityError::BadKey(_) | IdentityError::Malformed(_) => InvalidCode::BadCertificate,
        IdentityError::Expired { .. } => InvalidCode::CertificateExpired,
        IdentityError::NotYetValid { .. } => InvalidCode::CertificateNotYetValid,
        IdentityError::Revoked { .. } => InvalidCode::CertificateRevoked,
    }
}

/// Runs the admission checks at time `now_ms` (the block time, or the wall
/// clock in a mempool). `resolve` finds certificates referenced by id;
/// `cache` remembers certificates already verified.
pub fn admit(
    bytes: &[u8],
    config: &ChannelConfig,
    now_ms: u64,
    resolve: &dyn Fn(&Hash) -> Result<Option<Certificate>, StoreError>,
    cache: Option<&CertCache>,
) -> Result<Admitted, AdmitError> {
    admit_checked(bytes, config, now_ms, resolve, cache, false)
}

/// [`admit`], skipping only the transaction's signature verification when
/// `signature_verified`: the caller verified these exact bytes itself
/// (same signature, same signer reference, hence the same key). Decoding,
/// the channel, the certificate's organization, validity time and
/// revocation are still checked, at `now_ms`.
pub fn admit_checked(
    bytes: &[u8],
    config: &ChannelConfig,
    now_ms: u64,
    resolve: &dyn Fn(&Hash) -> Result<Option<Certificate>, StoreError>,
    cache: Option<&CertCache>,
    signature_verified: bool,
) -> Result<Admitted, AdmitError> {
    let (admitted, member_key) = admit_unsigned(bytes, config, now_ms, resolve, cache)?;
    if !signature_verified && let Err(e) = member_key.verify(&admitted.id, admitted.tx.signature())
    {
        return Err(signature_rejection(e).into());
    }
    Ok(admitted)
}

/// The refusal of a transaction whose signature does not verify.
pub fn signature_rejection(e: CryptoError) -> Rejection {
    Rejection::new(
        InvalidCode::BadSignature,
        format!("transaction signature: {e}"),
    )
}

/// Every admission check except the signature, which the caller verifies
/// next with the returned key (over [`Admitted::id`]), before any other
/// check: batched verification ([`crate::sigverify::StrictBatch`]) runs
/// the checks in the same order as [`admit_checked`], so a transaction
/// failing several gets the same result either way.
pub fn admit_unsigned(
    bytes: &[u8],
    config: &ChannelConfig,
    now_ms: u64,
    resolve: &dyn Fn(&Hash) -> Result<Option<Certificate>, StoreError>,
    cache: Option<&CertCache>,
) -> Result<(Admitted, PreparedKey), AdmitError> {
    let max = config.limits.max_tx_bytes as usize;
    let tx = decode_tx(bytes, max).map_err(|e| {
        let code = match e {
            crate::codec::CodecError::TooLarge { .. } => InvalidCode::TooLarge,
            _ => InvalidCode::Malformed,
        };
        Rejection::new(code, e.to_string())
    })?;
    let body = tx.value();
    if body.channel != config.channel_id {
        return Err(Rejection::new(
            InvalidCode::WrongChannel,
            format!(
                "transaction is for channel {:?}, this is {:?}",
                body.channel, config.channel_id
            ),
        )
        .into());
    }
    // An embedded certificate is borrowed from the transaction (it stays
    // reachable through `Admitted::embedded_cert`); only one resolved by id
    // is owned here.
    let resolved;
    let cert = match &body.signer {
        SignerRef::Certificate(c) => c,
        SignerRef::CertId(id) => match resolve(id)? {
            Some(c) => {
                resolved = c;
                &resolved
            }
            None => {
                return Err(Rejection::new(
                    InvalidCode::UnknownCertificate,
                    format!("no certificate {id} on this channel; send the full certificate once"),
                )
                .into());
            }
        },
    };
    let (identity, member_key) =
        check_certificate_prepared(cert, &config.orgs, &config.revocations, now_ms, cache)
            .map_err(|e| Rejection::new(identity_code(&e), e.to_string()))?;
    let id = tx_id(&tx);
    // tx_id is exactly the digest that was signed.
    debug_assert_eq!(id, tx.digest(domain::TX));
    // The key is the certificate's, decompressed once per certificate
    // (see `PreparedKey`).
    Ok((Admitted { id, identity, tx }, member_key))
}

//! Hashes, keys and signatures: blake3 and ed25519 (`verify_strict`).

use borsh::{BorshDeserialize, BorshSerialize};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};
use std::fmt;

/// Domain tags keep a signature made for one purpose from being valid for
/// another (a certificate signature can never pass as a transaction one).
pub mod domain {
    /// Transactions.
    pub const TX: &[u8] = b"productivist/v1/tx";
    /// Member certificates.
    pub const CERTIFICATE: &[u8] = b"productivist/v1/certificate";
    /// Endorsements of a channel config (genesis or update).
    pub const CONFIG: &[u8] = b"productivist/v1/config";
    /// Generic endorsements of a payload (contract deploys, governance).
    pub const ENDORSEMENT: &[u8] = b"productivist/v1/endorsement";
}

/// A blake3 hash.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, BorshSerialize, BorshDeserialize,
)]
pub struct Hash(pub [u8; 32]);

impl Hash {
    /// The all-zero hash, used as the previous hash of genesis.
    pub const ZERO: Hash = Hash([0; 32]);

    /// Hashes bytes.
    pub fn of(bytes: &[u8]) -> Hash {
        Hash(*blake3::hash(bytes).as_bytes())
    }

    /// Hashes `domain || bytes`, with the domain length-prefixed so that no
    /// two (domain, bytes) pairs collide.
    pub fn tagged(domain: &[u8], bytes: &[u8]) -> Hash {
        let mut h = blake3::Hasher::new();
        h.update(&(domain.len() as u64).to_le_bytes());
        h.update(domain);
        h.update(bytes);
        Hash(*h.finalize().as_bytes())
    }

    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<Hash> {
        let bytes = unhex(s)?;
        Some(Hash(bytes.try_into().ok()?))
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", &self.to_hex()[..16])
    }
}

/// An ed25519 public key, as its 32 compressed bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Parses 64 hex digits.
    pub fn from_hex(s: &str) -> Option<PublicKey> {
        Some(PublicKey(unhex(s)?.try_into().ok()?))
    }

    /// Checks that the key decompresses and is not of small order.
    ///
    /// Small-order ("weak") keys make signatures that verify for many
    /// messages; they are refused wherever a key enters the system.
    pub fn check_strong(&self) -> Result<VerifyingKey, CryptoError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| CryptoError::InvalidKey)?;
        if key.is_weak() {
            return Err(CryptoError::WeakKey);
        }
        // A mixed-order key (a prime-order point plus a torsion component)
        // makes the cofactored and cofactorless verification equations
        // disagree; honest keys are always torsion-free, so refuse the rest.
        if !key.to_edwards().is_torsion_free() {
            return Err(CryptoError::MixedOrderKey);
        }
        Ok(key)
    }

    /// [`PublicKey::check_strong`], keeping the decompressed key for
    /// verifying many signatures with [`PreparedKey::verify`].
    pub fn prepare(&self) -> Result<PreparedKey, CryptoError> {
        self.check_strong().map(PreparedKey)
    }

    /// Verifies a signature over a 32-byte digest with `verify_strict`, the
    /// acceptance rule everywhere in Productivist. Small-order keys are
    /// refused first (certificates' keys are checked for small and mixed
    /// order when loaded). For a key that [`PublicKey::prepare`] accepts,
    /// the verdict is the same as [`PreparedKey::verify`]'s.
    pub fn verify(&self, digest: &Hash, signature: &SignatureBytes) -> Result<(), CryptoError> {
        let key = VerifyingKey::from_bytes(&self.0).map_err(|_| CryptoError::InvalidKey)?;
        if key.is_weak() {
            return Err(CryptoError::WeakKey);
        }
        // `verify_strict`'s verdict, computed without decompressing R.
        if crate::sigverify::verify_key(self, digest, signature) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }
}

/// A public key decompressed once and found strong (not of small order,
/// torsion-free), so that verifying its signatures does not repeat the
/// decompression, about a tenth of a verification. The acceptance rule is
/// unchanged: [`PreparedKey::verify`] is `verify_strict` with the same
/// point [`PublicKey::verify`] decompresses.
#[derive(Clone, Copy, Debug)]
pub struct PreparedKey(VerifyingKey);

impl PreparedKey {
    /// The compressed key.
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.to_bytes())
    }

    /// Verifies a signature over a 32-byte digest: `verify_strict`'s
    /// verdict, computed without decompressing `R` (see [`crate::sigverify`]).
    pub fn verify(&self, digest: &Hash, signature: &SignatureBytes) -> Result<(), CryptoError> {
        if crate::sigverify::verify_one(self, digest, signature) {
            Ok(())
        } else {
            Err(CryptoError::BadSignature)
        }
    }

    /// The compressed bytes and the point.
    pub(crate) fn parts(&self) -> (&[u8; 32], curve25519_dalek::edwards::EdwardsPoint) {
        (self.0.as_bytes(), self.0.to_edwards())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", &self.to_hex()[..16])
    }
}

/// An ed25519 signature, as its 64 bytes.
#[derive(Clone, Copy, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignatureBytes(pub [u8; 64]);

impl fmt::Debug for SignatureBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig({})", &hex(&self.0)[..16])
    }
}

/// Why a key or a signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The bytes are not a valid curve point.
    #[error("invalid public key")]
    InvalidKey,
    /// The key has small order.
    #[error("weak (small-order) public key")]
    WeakKey,
    /// The key has a small-order (torsion) component.
    #[error("mixed-order public key (torsion component)")]
    MixedOrderKey,
    /// `verify_strict` refused the signature.
    #[error("bad signature")]
    BadSignature,
    /// The operating system gave no randomness to make a key.
    #[error("no randomness available from the operating system")]
    NoRandomness,
}

/// A signing key pair.
#[derive(Clone)]
pub struct KeyPair {
    signing: SigningKey,
}

impl KeyPair {
    /// A key pair from 32 secret bytes.
    pub fn from_secret(secret: [u8; 32]) -> KeyPair {
        KeyPair {
            signing: SigningKey::from_bytes(&secret),
        }
    }

    /// A key pair from the operating system's random source.
    pub fn generate() -> Result<KeyPair, CryptoError> {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|_| CryptoError::NoRandomness)?;
        Ok(KeyPair::from_secret(secret))
    }

    /// A deterministic key pair for tests and simulations (never for
    /// production keys).
    pub fn from_seed(seed: &str) -> KeyPair {
        KeyPair::from_secret(Hash::tagged(b"productivist/test-key", seed.as_bytes()).0)
    }

    /// The secret bytes (to write a key file).
    pub fn secret(&self) -> [u8; 32] {
        self.signing.to_bytes()
    }

    /// The public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.signing.verifying_key().to_bytes())
    }

    /// Signs a digest.
    pub fn sign(&self, digest: &Hash) -> SignatureBytes {
        SignatureBytes(self.signing.sign(&digest.0).to_bytes())
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyPair({:?})", self.public())
    }
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Parses hex (either case). `None` on odd length or a non-hex digit.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s.trim()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_strict() {
        let kp = KeyPair::from_seed("a");
        let d = Hash::of(b"msg");
        let sig = kp.sign(&d);
        assert_eq!(kp.public().verify(&d, &sig), Ok(()));
        assert_eq!(
            kp.public().verify(&Hash::of(b"other"), &sig),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn prepared_key_gives_the_same_verdicts() {
        let kp = KeyPair::from_seed("p");
        let key = kp.public().prepare().unwrap();
        assert_eq!(key.public_key(), kp.public());
        let d = Hash::of(b"msg");
        let sig = kp.sign(&d);
        let mut bad = sig;
        bad.0[40] ^= 1;
        for (digest, sig) in [(d, sig), (Hash::of(b"other"), sig), (d, bad)] {
            assert_eq!(key.verify(&digest, &sig), kp.public().verify(&digest, &sig));
        }
        assert_eq!(key.verify(&d, &sig), Ok(()));
    }

    #[test]
    fn small_order_key_is_weak() {
        // The identity point (y = 1) has order 1.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(
            PublicKey(identity).check_strong().unwrap_err(),
            CryptoError::WeakKey
        );
    }

    #[test]
    fn hex_round_trip() {
        let h = Hash::of(b"x");
        assert_eq!(Hash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(unhex("0g"), None);
        assert_eq!(unhex("abc"), None);
    }

    #[test]
    fn generated_keys_differ() {
        assert_ne!(
            KeyPair::generate().unwrap().public(),
            KeyPair::generate().unwrap().public()
        );
    }
}

/// A value with its exact encoded bytes and a signature over them.
///
/// The bytes are kept as received: hashes and signatures are computed over
/// them, never over a re-encoding of `value`. On the wire it is
/// `(bytes: Vec<u8>, signature: [u8; 64])`; decoding parses `value` from
/// `bytes` strictly (no trailing bytes).
#[derive(Clone, PartialEq, Eq)]
pub struct Signed<T> {
    bytes: Vec<u8>,
    signature: SignatureBytes,
    value: T,
}

impl<T: BorshSerialize + BorshDeserialize> Signed<T> {
    /// Encodes `value` and signs `Hash::tagged(domain, bytes)`.
    pub fn sign(value: T, domain: &[u8], key: &KeyPair) -> Signed<T> {
        let bytes = crate::codec::encode(&value);
        let signature = key.sign(&Hash::tagged(domain, &bytes));
        Signed {
            bytes,
            signature,
            value,
        }
    }

    /// Wraps already-encoded bytes and a signature (not verified here).
    pub fn from_parts(
        what: &'static str,
        bytes: Vec<u8>,
        signature: SignatureBytes,
    ) -> Result<Signed<T>, crate::codec::CodecError> {
        let value = crate::codec::decode(what, &bytes)?;
        Ok(Signed {
            bytes,
            signature,
            value,
        })
    }
}

impl<T> Signed<T> {
    /// The decoded value.
    pub fn value(&self) -> &T {
        &self.value
    }

    /// The exact signed bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The signature.
    pub fn signature(&self) -> &SignatureBytes {
        &self.signature
    }

    /// The digest that was signed: `Hash::tagged(domain, bytes)`.
    pub fn digest(&self, domain: &[u8]) -> Hash {
        Hash::tagged(domain, &self.bytes)
    }

    /// Verifies the signature with `key` under `domain`.
    pub fn verify(&self, domain: &[u8], key: &PublicKey) -> Result<(), CryptoError> {
        key.verify(&self.digest(domain), &self.signature)
    }
}

impl<T: fmt::Debug> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signed")
            .field("value", &self.value)
            .field("signature", &self.signature)
            .finish()
    }
}

impl<T> BorshSerialize for Signed<T> {
    fn serialize<W: std::io::Write>(&self, writer: &mut W) -> std::io::Result<()> {
        self.bytes.serialize(writer)?;
        self.signature.serialize(writer)
    }
}

impl<T: BorshDeserialize> BorshDeserialize for Signed<T> {
    fn deserialize_reader<R: std::io::Read>(reader: &mut R) -> std::io::Result<Self> {
        let bytes = Vec::<u8>::deserialize_reader(reader)?;
        let signature = SignatureBytes::deserialize_reader(reader)?;
        let value = crate::codec::decode::<T>("signed payload", &bytes)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        Ok(Signed {
            bytes,
            signature,
            value,
        })
    }
}

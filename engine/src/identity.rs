//! Membership: organizations, member certificates and their roles.
//!
//! An organization is a name and a root public key. It issues member
//! certificates, signed by its root key, that bind a subject and roles to a
//! member's public key for a validity window. The channel config lists the
//! organizations and the revoked serials; [`check_certificate`] decides
//! whether a certificate is acceptable at a given (block) time.

use crate::crypto::{CryptoError, Hash, KeyPair, PreparedKey, PublicKey, Signed, domain};
use borsh::{BorshDeserialize, BorshSerialize};
use std::fmt;

/// The longest organization or subject name, in bytes.
pub const NAME_MAX_BYTES: usize = 64;
/// The most roles one certificate may carry (there are 9 distinct roles).
pub const ROLES_MAX: usize = 9;

/// What a member may do. Business roles come from the Productivist use case;
/// `Admin`, `Node` and `Client` are the operational roles of a permissioned
/// network.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize,
)]
#[borsh(use_discriminant = true)]
#[repr(u8)]
pub enum Role {
    /// Orders objects.
    Customer = 0,
    /// Publishes 3D models.
    Designer = 1,
    /// Makes objects: fab labs, print shops ("labsters").
    Producer = 2,
    /// An industrial producer.
    Industrial = 3,
    /// Certifies models and objects.
    Expert = 4,
    /// Administers its organization's part of a channel.
    Admin = 5,
    /// Runs a node (orders and validates blocks).
    Node = 6,
    /// A generic application client.
    Client = 7,
    /// Mints and burns the channel's fiat-pegged token.
    Issuer = 8,
}

impl Role {
    /// Every role, in order.
    pub const ALL: [Role; 9] = [
        Role::Customer,
        Role::Designer,
        Role::Producer,
        Role::Industrial,
        Role::Expert,
        Role::Admin,
        Role::Node,
        Role::Client,
        Role::Issuer,
    ];

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Designer => "designer",
            Role::Producer => "producer",
            Role::Industrial => "industrial",
            Role::Expert => "expert",
            Role::Admin => "admin",
            Role::Node => "node",
            Role::Client => "client",
            Role::Issuer => "issuer",
        }
    }

    /// Parses a lower-case name.
    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A member organization of a channel.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Organization {
    /// Unique name within the channel.
    pub name: String,
    /// The key that signs this organization's member certificates.
    pub root_key: PublicKey,
}

/// The signed content of a member certificate.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct CertBody {
    /// The member's name within its organization.
    pub subject: String,
    /// The issuing organization.
    pub org: String,
    /// Roles, sorted and without duplicates.
    pub roles: Vec<Role>,
    /// The member's signing key.
    pub public_key: PublicKey,
    /// Valid from this time (ms since the Unix epoch), inclusive.
    pub not_before_ms: u64,
    /// Valid until this time (ms since the Unix epoch), exclusive.
    pub not_after_ms: u64,
    /// Serial number, unique within the organization; revocations name it.
    pub serial: u64,
}

/// A member certificate: a [`CertBody`] signed by its organization's root key.
pub type Certificate = Signed<CertBody>;

/// The identifier of a certificate: the hash of its full encoding.
pub fn cert_id(cert: &Certificate) -> Hash {
    // Streams exactly the bytes of `Hash::tagged(tag, &borsh(cert))` without
    // building the encoding: this runs once per transaction.
    const TAG: &[u8] = b"productivist/v1/cert-id";
    let mut h = blake3::Hasher::new();
    h.update(&(TAG.len() as u64).to_le_bytes());
    h.update(TAG);
    h.update(&(cert.bytes().len() as u32).to_le_bytes());
    h.update(cert.bytes());
    h.update(&cert.signature().0);
    Hash(*h.finalize().as_bytes())
}

/// A revoked certificate, named by organization and serial.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, BorshSerialize, BorshDeserialize)]
pub struct Revocation {
    /// The issuing organization.
    pub org: String,
    /// The certificate's serial number.
    pub serial: u64,
}

/// A member whose certificate was accepted.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Identity {
    /// Organization name.
    pub org: String,
    /// Subject within the organization.
    pub subject: String,
    /// Roles granted by the certificate.
    pub roles: Vec<Role>,
    /// The member's key.
    pub public_key: PublicKey,
    /// The certificate's id.
    pub cert_id: Hash,
}

impl Identity {
    /// Whether the identity holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// The account name contracts use: `subject@org`.
    pub fn account(&self) -> String {
        format!("{}@{}", self.subject, self.org)
    }
}

/// Why a certificate or identity was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The organization is not a member of this channel.
    #[error("foreign certificate: organization {0:?} is not a member of this channel")]
    ForeignOrganization(String),
    /// The root signature on the certificate does not verify.
    #[error("certificate of {subject}@{org} is not signed by its organization's root key")]
    BadCertificateSignature {
        /// Organization.
        org: String,
        /// Subject.
        subject: String,
    },
    /// The certificate's key is not a valid strong ed25519 key.
    #[error("certificate key refused: {0}")]
    BadKey(CryptoError),
    /// The certificate has expired.
    #[error("certificate of {subject}@{org} expired at {not_after_ms} ms (now {now_ms} ms)")]
    Expired {
        /// Organization.
        org: String,
        /// Subject.
        subject: String,
        /// End of validity.
        not_after_ms: u64,
        /// The time it was checked at.
        now_ms: u64,
    },
    /// The certificate is not valid yet.
    #[error(
        "certificate of {subject}@{org} is not valid before {not_before_ms} ms (now {now_ms} ms)"
    )]
    NotYetValid {
        /// Organization.
        org: String,
        /// Subject.
        subject: String,
        /// Start of validity.
        not_before_ms: u64,
        /// The time it was checked at.
        now_ms: u64,
    },
    /// The certificate's serial is on the channel's revocation list.
    #[error("certificate {org}#{serial} is revoked")]
    Revoked {
        /// Organization.
        org: String,
        /// Serial.
        serial: u64,
    },
    /// The certificate is structurally invalid.
    #[error("malformed certificate: {0}")]
    Malformed(String),
}

/// Checks a name: 1 to 64 bytes of `[A-Za-z0-9._-]`.
pub fn check_name(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > NAME_MAX_BYTES {
        return Err(format!(
            "{what} must be 1 to {NAME_MAX_BYTES} bytes, got {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "{what} {name:?} contains {c:?}; allowed: A-Z a-z 0-9 . _ -"
        ));
    }
    Ok(())
}

/// Checks what a certificate body claims about itself; returns its key,
/// decompressed and found strong.
fn check_body(body: &CertBody) -> Result<PreparedKey, IdentityError> {
    check_name("subject", &body.subject).map_err(IdentityError::Malformed)?;
    check_name("organization", &body.org).map_err(IdentityError::Malformed)?;
    if body.roles.is_empty() || body.roles.len() > ROLES_MAX {
        return Err(IdentityError::Malformed(format!(
            "a certificate holds 1 to {ROLES_MAX} roles, got {}",
            body.roles.len()
        )));
    }
    if body.roles.windows(2).any(|w| w[0] >= w[1]) {
        return Err(IdentityError::Malformed(
            "roles must be sorted and distinct".into(),
        ));
    }
    if body.not_before_ms >= body.not_after_ms {
        return Err(IdentityError::Malformed(
            "validity window is empty (not_before >= not_after)".into(),
        ));
    }
    body.public_key.prepare().map_err(IdentityError::BadKey)
}

/// Issues a certificate signed by `org_root`. Roles are sorted and deduplicated;
/// weak keys and malformed names are refused.
pub fn issue_certificate(
    org_root: &KeyPair,
    mut body: CertBody,
) -> Result<Certificate, IdentityError> {
    body.roles.sort();
    body.roles.dedup();
    check_body(&body)?;
    Ok(Signed::sign(body, domain::CERTIFICATE, org_root))
}

/// Remembers certificates whose root signature and key already verified,
/// with the member's key decompressed, so a member's certificate costs one
/// signature verification and one key decompression per process rather
/// than one per transaction. It memoizes a pure function of the
/// certificate bytes and the root key, so verdicts never depend on it.
pub struct CertCache {
    /// Shards picked by the certificate id, so that admission threads
    /// looking up different members rarely touch the same lock (a shared
    /// read lock still bounces its cache line between cores on every read).
    shards: Vec<std::sync::RwLock<CertShard>>,
    /// Most certificates per shard.
    shard_capacity: usize,
}

/// Certificates of one shard, keyed by (certificate id, root key).
type CertShard = std::collections::HashMap<
    (Hash, PublicKey),
    PreparedKey,
    std::hash::BuildHasherDefault<IdHasher>,
>;

/// Shards of a [`CertCache`]: a power of two, a few times the cores of the
/// machines this runs on.
const CERT_CACHE_SHARDS: usize = 16;

/// Hashes a cache key by the first bytes of its certificate id. The id is a
/// blake3 digest, so they are uniform, and only certificates whose root
/// signature verified are ever inserted: nobody can fill a bucket at will
/// without an organization signing for them.
#[derive(Default)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_usize(&mut self, _length_prefix: usize) {
        // Slices and arrays write their length first: nothing to mix in.
    }
    fn write(&mut self, bytes: &[u8]) {
        // The first write of a key is its certificate id: 32 bytes.
        if self.0 == 0 && bytes.len() >= 8 {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[..8]);
            self.0 = u64::from_le_bytes(b) | 1;
        }
    }
}

fn shard_of(id: &Hash) -> usize {
    usize::from(id.0[8]) % CERT_CACHE_SHARDS
}

impl CertCache {
    /// A cache holding at most about `capacity` certificates; when a shard
    /// is full it starts over (simple, bounded, and correct whatever it
    /// holds).
    pub fn new(capacity: usize) -> CertCache {
        CertCache {
            shards: (0..CERT_CACHE_SHARDS)
                .map(|_| std::sync::RwLock::new(CertShard::default()))
                .collect(),
            shard_capacity: capacity.div_ceil(CERT_CACHE_SHARDS).max(1),
        }
    }

    fn get(&self, key: &(Hash, PublicKey)) -> Option<PreparedKey> {
        self.shards
            .get(shard_of(&key.0))?
            .read()
            .ok()
            .and_then(|s| s.get(key).copied())
    }

    fn insert(&self, key: (Hash, PublicKey), member_key: PreparedKey) {
        let Some(shard) = self.shards.get(shard_of(&key.0)) else {
            return;
        };
        if let Ok(mut s) = shard.write() {
            if s.len() >= self.shard_capacity {
                s.clear();
            }
            s.insert(key, member_key);
        }
    }
}

impl Default for CertCache {
    fn default() -> Self {
        CertCache::new(100_000)
    }
}

impl std::fmt::Debug for CertCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CertCache(capacity {})",
            self.shard_capacity * CERT_CACHE_SHARDS
        )
    }
}

/// Decides whether `cert` is acceptable at `now_ms` for a channel with these
/// organizations and revocations. Returns the member's identity.
pub fn check_certificate(
    cert: &Certificate,
    orgs: &[Organization],
    revocations: &[Revocation],
    now_ms: u64,
) -> Result<Identity, IdentityError> {
    check_certificate_cached(cert, orgs, revocations, now_ms, None)
}

/// [`check_certificate`], skipping the signature and key checks for a
/// certificate `cache` has seen verify under the same root key.
pub fn check_certificate_cached(
    cert: &Certificate,
    orgs: &[Organization],
    revocations: &[Revocation],
    now_ms: u64,
    cache: Option<&CertCache>,
) -> Result<Identity, IdentityError> {
    check_certificate_prepared(cert, orgs, revocations, now_ms, cache).map(|(identity, _)| identity)
}

/// [`check_certificate_cached`], also returning the member's key ready to
/// verify signatures (from `cache` when it holds the certificate).
pub fn check_certificate_prepared(
    cert: &Certificate,
    orgs: &[Organization],
    revocations: &[Revocation],
    now_ms: u64,
    cache: Option<&CertCache>,
) -> Result<(Identity, PreparedKey), IdentityError> {
    let body = cert.value();
    let org = orgs
        .iter()
        .find(|o| o.name == body.org)
        .ok_or_else(|| IdentityError::ForeignOrganization(body.org.clone()))?;
    let id = cert_id(cert);
    let memo = (id, org.root_key);
    let member_key = match cache.and_then(|c| c.get(&memo)) {
        Some(k) => k,
        None => {
            // Signature before anything else the certificate claims: an
            // unsigned certificate says nothing trustworthy about itself.
            cert.verify(domain::CERTIFICATE, &org.root_key)
                .map_err(|_| IdentityError::BadCertificateSignature {
                    org: body.org.clone(),
                    subject: body.subject.clone(),
                })?;
            let k = check_body(body)?;
            if let Some(c) = cache {
                c.insert(memo, k);
            }
            k
        }
    };
    debug_assert_eq!(member_key.public_key(), body.public_key);
    if revocations
        .iter()
        .any(|r| r.org == body.org && r.serial == body.serial)
    {
        return Err(IdentityError::Revoked {
            org: body.org.clone(),
            serial: body.serial,
        });
    }
    if now_ms < body.not_before_ms {
        return Err(IdentityError::NotYetValid {
            org: body.org.clone(),
            subject: body.subject.clone(),
            not_before_ms: body.not_before_ms,
            now_ms,
        });
    }
    if now_ms >= body.not_after_ms {
        return Err(IdentityError::Expired {
            org: body.org.clone(),
            subject: body.subject.clone(),
            not_after_ms: body.not_after_ms,
            now_ms,
        });
    }
    let identity = Identity {
        org: body.org.clone(),
        subject: body.subject.clone(),
        roles: body.roles.clone(),
        public_key: body.public_key,
        cert_id: id,
    };
    Ok((identity, member_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_hashes_a_key_by_its_certificate_id() {
        use std::hash::BuildHasher as _;
        let build = std::hash::BuildHasherDefault::<IdHasher>::default();
        let mut id = [7u8; 32];
        id[..8].copy_from_slice(&0x1234_5678_9abc_def0u64.to_le_bytes());
        let h = build.hash_one((Hash(id), PublicKey([1; 32])));
        assert_eq!(h, 0x1234_5678_9abc_def1);
        // The root key does not move a certificate to another bucket.
        assert_eq!(h, build.hash_one((Hash(id), PublicKey([2; 32]))));
        id[0] ^= 0x10;
        assert_ne!(h, build.hash_one((Hash(id), PublicKey([1; 32]))));
    }

    fn body(key: PublicKey) -> CertBody {
        CertBody {
            subject: "alice".into(),
            org: "fablab".into(),
            roles: vec![Role::Producer, Role::Customer, Role::Producer],
            public_key: key,
            not_before_ms: 1_000,
            not_after_ms: 2_000,
            serial: 7,
        }
    }

    fn setup() -> (KeyPair, Vec<Organization>, Certificate) {
        let root = KeyPair::from_seed("root");
        let member = KeyPair::from_seed("member");
        let cert = issue_certificate(&root, body(member.public())).unwrap();
        let orgs = vec![Organization {
            name: "fablab".into(),
            root_key: root.public(),
        }];
        (root, orgs, cert)
    }

    #[test]
    fn a_valid_certificate_gives_an_identity() {
        let (_, orgs, cert) = setup();
        let id = check_certificate(&cert, &orgs, &[], 1_500).unwrap();
        assert_eq!(id.roles, vec![Role::Customer, Role::Producer]);
        assert_eq!(id.account(), "alice@fablab");
    }

    #[test]
    fn expired_revoked_foreign_and_forged_are_distinct_errors() {
        let (_, orgs, cert) = setup();
        assert!(matches!(
            check_certificate(&cert, &orgs, &[], 2_000),
            Err(IdentityError::Expired { .. })
        ));
        assert!(matches!(
            check_certificate(&cert, &orgs, &[], 999),
            Err(IdentityError::NotYetValid { .. })
        ));
        let revoked = [Revocation {
            org: "fablab".into(),
            serial: 7,
        }];
        assert!(matches!(
            check_certificate(&cert, &orgs, &revoked, 1_500),
            Err(IdentityError::Revoked { .. })
        ));
        let other = vec![Organization {
            name: "printshop".into(),
            root_key: KeyPair::from_seed("x").public(),
        }];
        assert!(matches!(
            check_certificate(&cert, &other, &[], 1_500),
            Err(IdentityError::ForeignOrganization(_))
        ));
        let impostor = vec![Organization {
            name: "fablab".into(),
            root_key: KeyPair::from_seed("impostor").public(),
        }];
        assert!(matches!(
            check_certificate(&cert, &impostor, &[], 1_500),
            Err(IdentityError::BadCertificateSignature { .. })
        ));
    }

    #[test]
    fn small_order_member_key_is_refused_at_issue_and_at_load() {
        let root = KeyPair::from_seed("root");
        let mut weak = [0u8; 32];
        weak[0] = 1; // the identity point
        let err = issue_certificate(&root, body(PublicKey(weak))).unwrap_err();
        assert_eq!(err, IdentityError::BadKey(CryptoError::WeakKey));
        // A certificate forged around issue_certificate is refused on load.
        let mut b = body(PublicKey(weak));
        b.roles = vec![Role::Customer];
        let forged = Signed::sign(b, domain::CERTIFICATE, &root);
        let orgs = vec![Organization {
            name: "fablab".into(),
            root_key: root.public(),
        }];
        assert_eq!(
            check_certificate(&forged, &orgs, &[], 1_500),
            Err(IdentityError::BadKey(CryptoError::WeakKey))
        );
    }

    #[test]
    fn cert_id_is_the_tagged_hash_of_the_encoding() {
        let (_, _, cert) = setup();
        let want = Hash::tagged(b"productivist/v1/cert-id", &crate::codec::encode(&cert));
        assert_eq!(cert_id(&cert), want);
    }

    #[test]
    fn certificate_round_trips_through_borsh() {
        let (_, orgs, cert) = setup();
        let bytes = crate::codec::encode(&cert);
        let back: Certificate = crate::codec::decode("certificate", &bytes).unwrap();
        assert_eq!(back, cert);
        assert!(check_certificate(&back, &orgs, &[], 1_500).is_ok());
    }
}

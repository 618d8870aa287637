//! Policies: "N of these organizations' admins" and role rules.

use crate::crypto::{Hash, SignatureBytes};
use crate::identity::{
    Certificate, IdentityError, Organization, Revocation, Role, check_certificate,
};
use borsh::{BorshDeserialize, BorshSerialize};
use std::collections::BTreeSet;

/// The most endorsements one policy check looks at; more is refused, which
/// bounds the signature work an attacker can ask of a node.
pub const ENDORSEMENTS_MAX: usize = 64;

/// "`threshold` of these organizations' members holding `role`".
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Policy {
    /// How many distinct organizations must endorse.
    pub threshold: u32,
    /// The organizations whose endorsements count.
    pub orgs: Vec<String>,
    /// The role an endorser must hold (usually `Admin`).
    pub role: Role,
}

impl Policy {
    /// A majority of the given organizations' admins.
    pub fn majority_of_admins(orgs: &[String]) -> Policy {
        Policy {
            threshold: (orgs.len() / 2 + 1) as u32,
            orgs: orgs.to_vec(),
            role: Role::Admin,
        }
    }

    /// Every one of the given organizations' admins.
    pub fn all_admins(orgs: &[String]) -> Policy {
        Policy {
            threshold: orgs.len() as u32,
            orgs: orgs.to_vec(),
            role: Role::Admin,
        }
    }
}

/// "The caller holds at least one of these roles" (an empty list admits any
/// member).
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct RoleRule {
    /// Accepted roles.
    pub any_of: Vec<Role>,
}

impl RoleRule {
    /// Whether `roles` satisfies the rule.
    pub fn admits(&self, roles: &[Role]) -> bool {
        self.any_of.is_empty() || roles.iter().any(|r| self.any_of.contains(r))
    }
}

/// A member's signature over a digest (a config, a contract deploy), with the
/// certificate that names the member.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Endorsement {
    /// The endorser's certificate.
    pub cert: Certificate,
    /// Signature over the endorsed digest with the certificate's key.
    pub signature: SignatureBytes,
}

impl Endorsement {
    /// Signs `digest` as the holder of `cert`.
    pub fn sign(cert: Certificate, key: &crate::crypto::KeyPair, digest: &Hash) -> Endorsement {
        Endorsement {
            signature: key.sign(digest),
            cert,
        }
    }
}

/// Why endorsements do not satisfy a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Too many endorsements were attached.
    #[error("too many endorsements: {0} > {ENDORSEMENTS_MAX}")]
    TooMany(usize),
    /// An endorsement's certificate was refused.
    #[error("endorsement {index}: {source}")]
    Certificate {
        /// Position in the list.
        index: usize,
        /// Why.
        source: IdentityError,
    },
    /// An endorsement's signature does not verify.
    #[error("endorsement {index} by {account}: bad signature")]
    BadSignature {
        /// Position in the list.
        index: usize,
        /// Who claimed to sign.
        account: String,
    },
    /// Not enough distinct organizations endorsed.
    #[error("policy needs {needed} of {orgs:?} with role {role}; got {got} ({endorsers:?})")]
    NotSatisfied {
        /// Threshold.
        needed: u32,
        /// Distinct qualifying organizations found.
        got: u32,
        /// The policy's organizations.
        orgs: Vec<String>,
        /// The required role.
        role: Role,
        /// The qualifying organizations found.
        endorsers: Vec<String>,
    },
}

/// Checks endorsements of `digest` against `policy`. Every endorsement must
/// be valid (a bad one is an error, not silently skipped, so a client learns
/// what it got wrong); endorsements by non-qualifying members do not count.
pub fn check_endorsements(
    policy: &Policy,
    digest: &Hash,
    endorsements: &[Endorsement],
    orgs: &[Organization],
    revocations: &[Revocation],
    now_ms: u64,
) -> Result<(), PolicyError> {
    if endorsements.len() > ENDORSEMENTS_MAX {
        return Err(PolicyError::TooMany(endorsements.len()));
    }
    let mut endorsers = BTreeSet::new();
    for (index, e) in endorsements.iter().enumerate() {
        let id = check_certificate(&e.cert, orgs, revocations, now_ms)
            .map_err(|source| PolicyError::Certificate { index, source })?;
        id.public_key
            .verify(digest, &e.signature)
            .map_err(|_| PolicyError::BadSignature {
                index,
                account: id.account(),
            })?;
        if id.has_role(policy.role) && policy.orgs.contains(&id.org) {
            endorsers.insert(id.org);
        }
    }
    let got = endorsers.len() as u32;
    if got < policy.threshold {
        return Err(PolicyError::NotSatisfied {
            needed: policy.threshold,
            got,
            orgs: policy.orgs.clone(),
            role: policy.role,
            endorsers: endorsers.into_iter().collect(),
        });
    }
    Ok(())
}

//! Development networks: organizations, members for every role and a signed
//! genesis, generated in one call. Used by `productivist init`, the demo and
//! tests.

use crate::codec;
use crate::config::{
    BlockLimits, ChannelConfig, ConsensusConfig, ConsensusKind, Consenter, MarketParams, Policies,
    Readers, TokenParams, WasmLimits,
};
use crate::crypto::KeyPair;
use crate::identity::{
    CertBody, Certificate, IdentityError, Organization, Role, issue_certificate,
};
use crate::policy::{Policy, RoleRule};
use crate::system::config_tx;
use crate::tx::{SignerRef, Transaction, TxBody, encode_tx, sign_tx};

/// Dev certificates are valid from the epoch until 2100-01-01.
pub const DEV_NOT_AFTER_MS: u64 = 4_102_444_800_000;

/// A member: its key and its certificate.
#[derive(Clone, Debug)]
pub struct Member {
    /// Subject name.
    pub name: String,
    /// Organization name.
    pub org: String,
    /// Signing key.
    pub key: KeyPair,
    /// Certificate.
    pub cert: Certificate,
}

impl Member {
    /// `subject@org`.
    pub fn account(&self) -> String {
        format!("{}@{}", self.name, self.org)
    }

    /// Signs a call as this member, embedding the certificate.
    pub fn call(
        &self,
        channel: &str,
        contract: &str,
        method: &str,
        args: Vec<u8>,
        nonce: u64,
    ) -> Transaction {
        sign_tx(
            TxBody {
                channel: channel.into(),
                signer: SignerRef::Certificate(self.cert.clone()),
                nonce,
                contract: contract.into(),
                method: method.into(),
                args,
            },
            &self.key,
        )
    }

    /// Like [`Member::call`], returning wire bytes.
    pub fn call_bytes(
        &self,
        channel: &str,
        contract: &str,
        method: &str,
        args: Vec<u8>,
        nonce: u64,
    ) -> Vec<u8> {
        encode_tx(&self.call(channel, contract, method, args, nonce))
    }
}

/// An organization with its root key and members.
#[derive(Clone, Debug)]
pub struct OrgKeys {
    /// Name.
    pub name: String,
    /// Root key.
    pub root: KeyPair,
    /// Members (the first is the admin).
    pub members: Vec<Member>,
}

/// A member to generate: subject and roles.
pub type MemberSpec = (String, Vec<Role>);

/// What to generate.
#[derive(Clone, Debug)]
pub struct DevNetSpec {
    /// Channel id.
    pub channel: String,
    /// Consensus kind.
    pub consensus: ConsensusKind,
    /// Number of consenter nodes.
    pub nodes: usize,
    /// Organizations and their non-admin members: `(org, [(subject, roles)])`.
    pub orgs: Vec<(String, Vec<MemberSpec>)>,
    /// `Some(seed)`: deterministic keys (tests, simulations); `None`: keys
    /// from the OS random source.
    pub seed: Option<String>,
    /// First port for node endpoints on 127.0.0.1.
    pub base_port: u16,
    /// Who may read the channel.
    pub readers: Readers,
}

impl DevNetSpec {
    /// The Productivist story's network: a platform, two producers, a
    /// designer, a certification body and a customer.
    pub fn productivist(seed: Option<&str>) -> DevNetSpec {
        let m = |s: &str, r: &[Role]| (s.to_string(), r.to_vec());
        DevNetSpec {
            channel: "public".into(),
            consensus: ConsensusKind::Raft,
            nodes: 1,
            orgs: vec![
                (
                    "productivist".into(),
                    vec![m("issuer", &[Role::Issuer]), m("platform", &[Role::Client])],
                ),
                ("fablab-paris".into(), vec![m("anna", &[Role::Producer])]),
                (
                    "printshop-lyon".into(),
                    vec![m("ben", &[Role::Producer, Role::Industrial])],
                ),
                ("design-studio".into(), vec![m("dora", &[Role::Designer])]),
                ("certilab".into(), vec![m("eric", &[Role::Expert])]),
                ("customers".into(), vec![m("carla", &[Role::Customer])]),
            ],
            seed: seed.map(str::to_string),
            base_port: 7400,
            readers: Readers::Anyone,
        }
    }
}

/// A generated development network.
#[derive(Clone, Debug)]
pub struct DevNet {
    /// The channel's config.
    pub config: ChannelConfig,
    /// Organizations with keys.
    pub orgs: Vec<OrgKeys>,
    /// Node keys, by node name (`node0`, ...), with the owning org.
    pub nodes: Vec<(String, String, KeyPair)>,
    /// The signed genesis transaction.
    pub genesis_tx: Transaction,
}

fn key(seed: &Option<String>, what: &str) -> Result<KeyPair, IdentityError> {
    match seed {
        Some(s) => Ok(KeyPair::from_seed(&format!("{s}/{what}"))),
        None => KeyPair::generate().map_err(IdentityError::BadKey),
    }
}

/// The config of a development channel among `orgs`: policies "majority of
/// these organizations' admins", default limits, the PVT token issued by
/// the `members` holding the issuer role, a 2% platform fee to a member
/// named `platform` if there is one. Used by [`DevNet::generate`] and by
/// `productivist channel create`.
pub fn development_config(
    channel_id: &str,
    orgs: Vec<Organization>,
    consensus: ConsensusConfig,
    members: &[&Member],
    readers: Readers,
) -> ChannelConfig {
    let names: Vec<String> = orgs.iter().map(|o| o.name.clone()).collect();
    let issuers = members
        .iter()
        .filter(|m| m.cert.value().roles.contains(&Role::Issuer))
        .map(|m| m.account())
        .collect();
    let platform_account = members
        .iter()
        .find(|m| m.name == "platform")
        .map(|m| m.account());
    ChannelConfig {
        channel_id: channel_id.to_string(),
        version: 0,
        orgs,
        revocations: Vec::new(),
        policies: Policies {
            config_update: Policy::majority_of_admins(&names),
            deploy: Policy::majority_of_admins(&names),
            submit: RoleRule { any_of: Vec::new() },
        },
        consensus,
        limits: BlockLimits::default(),
        token: TokenParams {
            unit: "PVT".into(),
            peg: "0.01 EUR".into(),
            issuers,
        },
        market: MarketParams {
            receipt_timeout_ms: 14 * 24 * 3600 * 1000,
            platform_fee_bps: if platform_account.is_some() { 200 } else { 0 },
            platform_account,
        },
        wasm: WasmLimits::default(),
        readers,
    }
}

impl DevNet {
    /// Generates keys, certificates, config and genesis.
    pub fn generate(spec: &DevNetSpec) -> Result<DevNet, IdentityError> {
        let mut orgs = Vec::new();
        let mut serial = 0u64;
        for (org, members) in &spec.orgs {
            let root = key(&spec.seed, &format!("{org}/root"))?;
            let mut out = Vec::new();
            let admin = (String::from("admin"), vec![Role::Admin, Role::Client]);
            for (subject, roles) in std::iter::once(&admin).chain(members.iter()) {
                serial += 1;
                let k = key(&spec.seed, &format!("{org}/{subject}"))?;
                let cert = issue_certificate(
                    &root,
                    CertBody {
                        subject: subject.clone(),
                        org: org.clone(),
                        roles: roles.clone(),
                        public_key: k.public(),
                        not_before_ms: 0,
                        not_after_ms: DEV_NOT_AFTER_MS,
                        serial,
                    },
                )?;
                out.push(Member {
                    name: subject.clone(),
                    org: org.clone(),
                    key: k,
                    cert,
                });
            }
            orgs.push(OrgKeys {
                name: org.clone(),
                root,
                members: out,
            });
        }
        let mut nodes = Vec::new();
        let mut consenters = Vec::new();
        for i in 0..spec.nodes {
            let org = orgs[i % orgs.len()].name.clone();
            let name = format!("node{i}");
            let k = key(&spec.seed, &format!("node/{i}"))?;
            consenters.push(Consenter {
                name: name.clone(),
                org: org.clone(),
                node_key: k.public(),
                endpoint: format!("127.0.0.1:{}", spec.base_port as usize + i),
            });
            nodes.push((name, org, k));
        }
        let members: Vec<&Member> = orgs.iter().flat_map(|o| &o.members).collect();
        let config = development_config(
            &spec.channel,
            orgs.iter()
                .map(|o| Organization {
                    name: o.name.clone(),
                    root_key: o.root.public(),
                })
                .collect(),
            ConsensusConfig {
                kind: spec.consensus,
                consenters,
            },
            &members,
            spec.readers,
        );
        let endorsers: Vec<(Certificate, KeyPair)> = orgs
            .iter()
            .map(|o| (o.members[0].cert.clone(), o.members[0].key.clone()))
            .collect();
        let first = &orgs[0].members[0];
        let genesis_tx = config_tx("genesis", &config, &endorsers, (&first.cert, &first.key), 0);
        Ok(DevNet {
            config,
            orgs,
            nodes,
            genesis_tx,
        })
    }

    /// The member `subject` of `org`.
    pub fn member(&self, org: &str, subject: &str) -> Option<&Member> {
        self.orgs
            .iter()
            .find(|o| o.name == org)?
            .members
            .iter()
            .find(|m| m.name == subject)
    }

    /// The first member named `subject` in any organization.
    pub fn find(&self, subject: &str) -> Option<&Member> {
        self.orgs
            .iter()
            .flat_map(|o| &o.members)
            .find(|m| m.name == subject)
    }

    /// The genesis transaction's wire bytes.
    pub fn genesis_bytes(&self) -> Vec<u8> {
        codec::encode(&self.genesis_tx)
    }

    /// The admins' `(certificate, key)` pairs, for endorsing config updates.
    pub fn admins(&self) -> Vec<(Certificate, KeyPair)> {
        self.orgs
            .iter()
            .map(|o| (o.members[0].cert.clone(), o.members[0].key.clone()))
            .collect()
    }
}

//! Transactions: a signed call of one contract method on one channel.

use crate::codec::{self, CodecError};
use crate::crypto::{Hash, KeyPair, Signed, domain};
use crate::identity::Certificate;
use borsh::{BorshDeserialize, BorshSerialize};

/// A transaction id: `Hash::tagged("productivist/v1/tx", body bytes)`, which is
/// also the digest the signer signs. It covers the body, not the signature,
/// so re-signing the same body cannot make a "new" transaction that slips
/// past replay protection.
pub type TxId = Hash;

/// Who signed: the full certificate, or the id of a certificate that an
/// earlier committed transaction on this channel carried.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum SignerRef {
    /// The certificate itself.
    Certificate(Certificate),
    /// The id of a certificate already on the channel.
    CertId(Hash),
}

/// The signed content of a transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct TxBody {
    /// The channel it is meant for; any other channel refuses it.
    pub channel: String,
    /// The signer's certificate or its id.
    pub signer: SignerRef,
    /// Client-chosen; makes otherwise equal calls distinct.
    pub nonce: u64,
    /// Contract name.
    pub contract: String,
    /// Method name.
    pub method: String,
    /// Arguments, in the contract's own (borsh) encoding.
    pub args: Vec<u8>,
}

/// A signed transaction.
pub type Transaction = Signed<TxBody>;

/// The id of a transaction.
pub fn tx_id(tx: &Transaction) -> TxId {
    tx.digest(domain::TX)
}

/// Builds and signs a transaction.
pub fn sign_tx(body: TxBody, key: &KeyPair) -> Transaction {
    Signed::sign(body, domain::TX, key)
}

/// Decodes a transaction from its wire bytes, strictly, with a size limit.
pub fn decode_tx(bytes: &[u8], max_tx_bytes: usize) -> Result<Transaction, CodecError> {
    if bytes.len() > max_tx_bytes {
        return Err(CodecError::TooLarge {
            what: "transaction",
            len_bytes: bytes.len(),
            limit_bytes: max_tx_bytes,
        });
    }
    codec::decode("transaction", bytes)
}

/// Encodes a transaction to its wire bytes.
pub fn encode_tx(tx: &Transaction) -> Vec<u8> {
    codec::encode(tx)
}

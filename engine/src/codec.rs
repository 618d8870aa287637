//! Canonical encoding: borsh, decoded strictly.
//!
//! Everything that is signed or hashed is borsh. Decoding rejects trailing
//! bytes, so one value has exactly one encoding, and signatures and hashes are
//! always computed over the exact bytes received, never over a re-encoding.

use borsh::{BorshDeserialize, BorshSerialize};

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes are not a valid encoding of the expected type.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// The type that was expected.
        what: &'static str,
        /// The decoder's explanation.
        reason: String,
    },
    /// The value decoded, but bytes were left over.
    #[error("malformed {what}: {extra} trailing bytes")]
    TrailingBytes {
        /// The type that was expected.
        what: &'static str,
        /// How many bytes were left over.
        extra: usize,
    },
    /// The input is larger than the limit for this type.
    #[error("{what} too large: {len_bytes} bytes > limit {limit_bytes}")]
    TooLarge {
        /// The type that was expected.
        what: &'static str,
        /// Length of the input.
        len_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
}

/// Decodes `bytes` as exactly one `T`, rejecting trailing bytes.
pub fn decode<T: BorshDeserialize>(what: &'static str, bytes: &[u8]) -> Result<T, CodecError> {
    let mut rest = bytes;
    let value = T::deserialize(&mut rest).map_err(|e| CodecError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    if !rest.is_empty() {
        return Err(CodecError::TrailingBytes {
            what,
            extra: rest.len(),
        });
    }
    Ok(value)
}

/// Decodes a `T` from the front of `bytes` and returns it with the number of
/// bytes it used, so the caller can hash exactly that prefix.
pub fn decode_prefix<T: BorshDeserialize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<(T, usize), CodecError> {
    let mut rest = bytes;
    let value = T::deserialize(&mut rest).map_err(|e| CodecError::Malformed {
        what,
        reason: e.to_string(),
    })?;
    Ok((value, bytes.len() - rest.len()))
}

/// Encodes a value. Encoding into memory cannot fail for our types.
///
/// The buffer is sized exactly first (a walk of the value that writes
/// nothing): cheaper than growing it by doubling, which copied a
/// transaction result's encoding about five times on the validation path.
pub fn encode<T: BorshSerialize + ?Sized>(value: &T) -> Vec<u8> {
    let len_bytes = borsh::object_length(value).unwrap_or(0);
    let out = encode_with_capacity(value, len_bytes);
    debug_assert_eq!(out.len(), len_bytes);
    out
}

/// [`encode`] into a buffer of `capacity_bytes` reserved up front (for large
/// values of known size, such as blocks: no copying while the buffer grows).
pub fn encode_with_capacity<T: BorshSerialize + ?Sized>(
    value: &T,
    capacity_bytes: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(capacity_bytes);
    // Writing to a Vec<u8> never returns an I/O error.
    value
        .serialize(&mut out)
        .map(|()| out)
        .unwrap_or_else(|e| unreachable!("borsh encoding into memory failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = encode(&(7u32, String::from("x")));
        assert!(decode::<(u32, String)>("pair", &bytes).is_ok());
        bytes.push(0);
        assert_eq!(
            decode::<(u32, String)>("pair", &bytes),
            Err(CodecError::TrailingBytes {
                what: "pair",
                extra: 1
            })
        );
    }

    #[test]
    fn truncated_input_is_malformed() {
        let bytes = encode(&(7u32, String::from("xyz")));
        let err = decode::<(u32, String)>("pair", &bytes[..bytes.len() - 1]).unwrap_err();
        assert!(matches!(err, CodecError::Malformed { .. }));
    }

    #[test]
    fn non_canonical_bool_is_rejected() {
        assert!(decode::<bool>("bool", &[2]).is_err());
    }
}

//! Length-prefixed frames: a 4-byte big-endian length, then the payload.

/// Default largest frame payload: 16 MiB, enough for a full block.
pub const FRAME_BYTES_MAX_DEFAULT: usize = 16 << 20;
/// Bytes of the length prefix.
pub const PREFIX_BYTES: usize = 4;

/// Why a frame was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The announced length exceeds the limit; the stream must be closed.
    #[error("frame of {len_bytes} bytes exceeds the limit of {limit_bytes}")]
    TooLarge {
        /// Announced length.
        len_bytes: usize,
        /// The limit.
        limit_bytes: usize,
    },
}

/// Prefixes `payload` with its length.
pub fn encode(payload: &[u8], limit_bytes: usize) -> Result<Vec<u8>, FrameError> {
    if payload.len() > limit_bytes || payload.len() > u32::MAX as usize {
        return Err(FrameError::TooLarge {
            len_bytes: payload.len(),
            limit_bytes,
        });
    }
    let mut out = Vec::with_capacity(PREFIX_BYTES + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// Reassembles frames from a byte stream delivered in arbitrary pieces.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    limit_bytes: usize,
}

impl FrameDecoder {
    /// A decoder refusing frames above `limit_bytes`.
    pub fn new(limit_bytes: usize) -> FrameDecoder {
        FrameDecoder {
            buf: Vec::new(),
            limit_bytes,
        }
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame, `Ok(None)` if more bytes are needed, or an
    /// error if the peer announced an oversized frame (checked before
    /// buffering it, so the limit bounds memory).
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        if self.buf.len() < PREFIX_BYTES {
            return Ok(None);
        }
        let mut len = [0u8; PREFIX_BYTES];
        len.copy_from_slice(&self.buf[..PREFIX_BYTES]);
        let len = u32::from_be_bytes(len) as usize;
        if len > self.limit_bytes {
            return Err(FrameError::TooLarge {
                len_bytes: len,
                limit_bytes: self.limit_bytes,
            });
        }
        if self.buf.len() < PREFIX_BYTES + len {
            return Ok(None);
        }
        let frame = self.buf[PREFIX_BYTES..PREFIX_BYTES + len].to_vec();
        self.buf.drain(..PREFIX_BYTES + len);
        Ok(Some(frame))
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_arbitrary_splits() {
        let mut stream = Vec::new();
        for p in [&b"a"[..], b"", b"hello world"] {
            stream.extend(encode(p, 64).unwrap());
        }
        for split in 1..stream.len() {
            let mut d = FrameDecoder::new(64);
            let mut got = Vec::new();
            for chunk in stream.chunks(split) {
                d.push(chunk);
                while let Some(f) = d.next_frame().unwrap() {
                    got.push(f);
                }
            }
            assert_eq!(got, vec![b"a".to_vec(), vec![], b"hello world".to_vec()]);
            assert_eq!(d.buffered_bytes(), 0);
        }
    }

    #[test]
    fn oversized_frames_are_refused_before_buffering() {
        let mut d = FrameDecoder::new(8);
        d.push(&1000u32.to_be_bytes());
        assert_eq!(
            d.next_frame(),
            Err(FrameError::TooLarge {
                len_bytes: 1000,
                limit_bytes: 8
            })
        );
        assert!(encode(&[0; 9], 8).is_err());
    }
}

//! Payload coding: bincode 2 for values, an lz4 block when it saves space. The only file that
//! names bincode or lz4, so either can be swapped here alone.
//!
//! Both crates see untrusted bytes only through bounds checked first: bincode runs with
//! `with_limit::<MAX_FRAME>()`, and an lz4 size prefix is checked against [`MAX_FRAME`] and
//! against what the block could possibly expand to before the output is allocated.

use std::borrow::Cow;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MAX_FRAME;
use super::error::Fault;

/// How a frame's payload is stored: the codec byte of the frame body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Codec {
    /// The bincode bytes as they are.
    Bincode = 0,
    /// `[u32 LE uncompressed size][lz4 block of the bincode bytes]`.
    Lz4 = 1,
}

impl Codec {
    pub(super) fn from_byte(byte: u8) -> Option<Codec> {
        match byte {
            0 => Some(Codec::Bincode),
            1 => Some(Codec::Lz4),
            _ => None,
        }
    }
}

/// Below this, lz4 cannot win back its size prefix and block overhead, so it is not tried.
const MIN_PACK: usize = 64;

/// An lz4 block expands at most 255 times (a match-length byte of 255 stands for 255 bytes), so
/// a size prefix claiming more is a lie, whatever [`MAX_FRAME`] allows.
const LZ4_MAX_RATIO: usize = 255;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_FRAME>()
}

/// The bincode bytes of `value`, refused when over [`MAX_FRAME`] since no reader would take them.
pub(super) fn encode<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Fault> {
    let bytes = bincode::serde::encode_to_vec(value, config())
        .map_err(|e| Fault::Codec(format!("bincode cannot encode: {e}")))?;
    if bytes.len() > MAX_FRAME {
        return Err(Fault::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Append the bincode bytes of `value` to `out`: the items of a sequence one at a time.
pub(super) fn encode_into<T: Serialize + ?Sized>(value: &T, out: &mut Vec<u8>) -> Result<(), Fault> {
    bincode::serde::encode_into_writer(value, Append(out), config())
        .map_err(|e| Fault::Codec(format!("bincode cannot encode: {e}")))
}

/// A writer appending to a Vec. Most of what a step writes are one-byte varints: a push each,
/// not the call to memcpy a copy of a length unknown at compile time becomes.
struct Append<'a>(&'a mut Vec<u8>);

impl bincode::enc::write::Writer for Append<'_> {
    #[inline]
    fn write(&mut self, bytes: &[u8]) -> Result<(), bincode::error::EncodeError> {
        match bytes {
            [b] => self.0.push(*b),
            _ => self.0.extend_from_slice(bytes),
        }
        Ok(())
    }
}

/// `raw` as it will be stored: lz4 when that is smaller, size prefix included.
pub(super) fn pack(raw: Vec<u8>) -> (Codec, Vec<u8>) {
    match lz4(&raw) {
        Some(packed) => (Codec::Lz4, packed),
        None => (Codec::Bincode, raw),
    }
}

/// [`pack`] for bytes borrowed from a buffer the caller keeps.
pub(super) fn pack_slice(raw: &[u8]) -> (Codec, Vec<u8>) {
    match lz4(raw) {
        Some(packed) => (Codec::Lz4, packed),
        None => (Codec::Bincode, raw.to_vec()),
    }
}

/// `[u32 LE size][lz4 block]` of `raw`, when smaller than `raw`; compressed in place after
/// the prefix, not copied there.
fn lz4(raw: &[u8]) -> Option<Vec<u8>> {
    // `encode` and the chunk builder cap raw at MAX_FRAME, so its length fits the u32 prefix.
    let size = u32::try_from(raw.len()).ok()?;
    if raw.len() < MIN_PACK {
        return None;
    }
    let mut packed = vec![0; 4 + lz4_flex::block::get_maximum_output_size(raw.len())];
    packed[..4].copy_from_slice(&size.to_le_bytes());
    let len = lz4_flex::block::compress_into(raw, &mut packed[4..]).ok()?;
    if len + 4 >= raw.len() {
        return None;
    }
    packed.truncate(4 + len);
    Some(packed)
}

/// The bincode bytes of a payload stored with `codec`.
pub(super) fn unpack(codec: Codec, payload: &[u8]) -> Result<Cow<'_, [u8]>, Fault> {
    match codec {
        Codec::Bincode => Ok(Cow::Borrowed(payload)),
        Codec::Lz4 => {
            let (size, block) = payload
                .split_first_chunk::<4>()
                .ok_or_else(|| Fault::Codec("lz4 payload shorter than its size prefix".into()))?;
            let size = u32::from_le_bytes(*size) as usize;
            if size > MAX_FRAME {
                return Err(Fault::TooLarge(size as u64));
            }
            if size > block.len().saturating_mul(LZ4_MAX_RATIO) {
                let message = format!("an lz4 block of {} bytes cannot expand to {size}", block.len());
                return Err(Fault::Codec(message));
            }
            let mut out = vec![0; size];
            let got = lz4_flex::block::decompress_into(block, &mut out)
                .map_err(|e| Fault::Codec(format!("lz4: {e}")))?;
            if got != size {
                return Err(Fault::Codec(format!("lz4 block expands to {got} bytes, not the stated {size}")));
            }
            Ok(Cow::Owned(out))
        }
    }
}

/// Decode a value from the start of `bytes`; also says how many bytes it took.
pub(super) fn decode_prefix<T: DeserializeOwned>(bytes: &[u8]) -> Result<(T, usize), Fault> {
    bincode::serde::decode_from_slice(bytes, config()).map_err(|e| Fault::Codec(format!("bincode: {e}")))
}

/// Decode a value that must fill `bytes`: bytes left over mean they were not a `T`.
pub(super) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Fault> {
    let (value, used) = decode_prefix(bytes)?;
    match bytes.len().saturating_sub(used) {
        0 => Ok(value),
        left => Err(Fault::Codec(format!("{left} bytes left over after the value"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lz4_payload(size: u32, block: &[u8]) -> Vec<u8> {
        [&size.to_le_bytes()[..], block].concat()
    }

    #[test]
    fn packs_only_when_smaller() {
        let repetitive = encode(&vec!["same words again".to_string(); 50]).unwrap();
        let (codec, packed) = pack(repetitive.clone());
        assert_eq!(codec, Codec::Lz4);
        assert!(packed.len() < repetitive.len());
        assert_eq!(unpack(codec, &packed).unwrap(), repetitive);

        let tiny = encode(&(1u64, "x")).unwrap();
        assert_eq!(pack(tiny.clone()), (Codec::Bincode, tiny));
    }

    #[test]
    fn refuses_size_claims_before_allocating() {
        let too_big = lz4_payload(MAX_FRAME as u32 + 1, &[0]);
        assert!(matches!(unpack(Codec::Lz4, &too_big), Err(Fault::TooLarge(_))));
        // Within MAX_FRAME, but far more than a 2-byte block can hold.
        let impossible = lz4_payload(1 << 20, &[0xf0, 0]);
        assert!(matches!(unpack(Codec::Lz4, &impossible), Err(Fault::Codec(_))));
        let short = lz4_payload(8, &[0x10, b'a']);
        assert!(matches!(unpack(Codec::Lz4, &short), Err(Fault::Codec(_))));
        assert!(matches!(unpack(Codec::Lz4, &[1, 0]), Err(Fault::Codec(_))));
    }

    #[test]
    fn leftover_bytes_are_an_error() {
        let mut bytes = encode(&7u64).unwrap();
        bytes.push(0);
        assert!(decode::<u64>(&bytes).is_err());
        assert_eq!(decode_prefix::<u64>(&bytes).unwrap(), (7, 1));
    }
}

//! Keys of an events chunk: the range of reg_ids it touches and a Bloom filter of the
//! identifier values it sets, written as a small chunk of its own after it. A search (`catar
//! query`) reads the keys and decodes only the chunks that may hold what it looks for, instead
//! of every chunk of the trace. A value is keyed by its text as a query writes it (an integer
//! in decimal, a text as it is; times are left out) and hashed by a function written down in
//! docs/trace-format.md (two halves of one 64-bit hash, combined Kirsch–Mitzenmacher style),
//! stable across platforms and versions.

use serde::{Deserialize, Serialize};

use super::event::{Event, TraceValue};

/// Filter bits per value written: about 2.4% false positives with [`HASHES`] hashes.
const BITS_PER_KEY: usize = 8;
/// Hash functions of the filter.
const HASHES: u8 = 4;

/// What an events chunk holds, summarised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkKeys {
    /// The smallest and largest reg_id the chunk's steps touch in flow tables (none when they
    /// touch none): accumulator, reference and rules rows have reg_ids of their own.
    pub reg_ids: Option<(u64, u64)>,
    /// The filter's bits, 64 a word.
    pub bloom: Vec<u64>,
    /// Hash functions per key.
    pub hashes: u8,
}

/// The two hashes of the key of `text` in `context`: a 64-bit multiply-rotate hash over the
/// text's 8-byte words (little-endian, the last one zero-padded) seeded with the context and
/// the length, finished with murmur3's 64-bit mixer; its low half and its high half (odd, so
/// that the probes of a key are distinct). Cheap: this runs for every identifier value a full
/// recording writes.
fn key(context: u16, text: &[u8]) -> (u32, u32) {
    const K: u64 = 0x517C_C1B7_2722_0A95;
    let mut h = 0x9E37_79B9_7F4A_7C15 ^ u64::from(context) ^ ((text.len() as u64) << 16);
    let mut words = text.chunks_exact(8);
    for w in &mut words {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(w.try_into().expect("8 bytes"))).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        // The little-endian word of the zero-padded rest, built bytewise: a copy of a length
        // known only at run time is a call to memcpy, costlier than the seven bytes at most.
        let last = rest.iter().rev().fold(0u64, |w, &b| (w << 8) | u64::from(b));
        h = (h.rotate_left(5) ^ last).wrapping_mul(K);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
    h ^= h >> 33;
    h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
    h ^= h >> 33;
    (h as u32, (h >> 32) as u32 | 1)
}

/// The key of a recorded value, if values of its type are keyed.
fn value_key(context: u16, v: &TraceValue) -> Option<(u32, u32)> {
    match v {
        TraceValue::Int(i) => Some(int_key(context, *i)),
        TraceValue::Text(t) => Some(key(context, t.as_bytes())),
        TraceValue::Empty | TraceValue::Time(..) => None,
    }
}

/// The key of an integer: that of its decimal text.
fn int_key(context: u16, i: i64) -> (u32, u32) {
    let mut digits = [0u8; 20];
    key(context, decimal(i, &mut digits))
}

/// `i` in decimal, as `i.to_string()` writes it, without allocating.
fn decimal(i: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut n = i.unsigned_abs();
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

impl ChunkKeys {
    /// The keys of a chunk's events: the range of reg_ids its steps touch in the tables marked
    /// in `flow` (by table id), and every integer or text value they set in a context marked in
    /// `identifiers` (by context id).
    pub fn of(events: &[Event], identifiers: &[bool], flow: &[bool]) -> ChunkKeys {
        let is = |marks: &[bool], i: u16| marks.get(i as usize).copied().unwrap_or(false);
        let mut keys = KeysBuilder::default();
        let changes =
            events.iter().filter_map(|e| if let Event::Step(s) = e { s.changes.as_ref() } else { None });
        for c in changes {
            let touched = c.transitions.iter().map(|t| (t.0, t.1)).chain(c.freed.iter().map(|f| (f.0, f.1)));
            let copies = c.copies.iter().flat_map(|x| [(x.0, x.1), (x.3, x.4)]);
            touched
                .chain(c.runs.iter().map(|r| (r.0, r.1)))
                .chain(copies)
                .filter(|t| is(flow, t.0))
                .for_each(|t| keys.touch(t.1));
            let mut values = c.values.iter();
            for &(_, _, _, n) in &c.runs {
                for (context, v) in values.by_ref().take(n as usize) {
                    if is(identifiers, *context) {
                        keys.keys.extend(value_key(*context, v));
                    }
                }
            }
        }
        keys.take()
    }

    /// False only when the chunk surely does not touch this record.
    pub fn may_touch(&self, reg_id: u64) -> bool {
        self.reg_ids.is_some_and(|(lo, hi)| (lo..=hi).contains(&reg_id))
    }

    /// False only when the chunk surely sets no `context` to a value written `text` (as
    /// [`crate::replay::value_text`] writes values). Times are not keyed: a text that reads
    /// as one is never ruled out.
    pub fn may_set(&self, context: u16, text: &str) -> bool {
        let bits = self.bloom.len() * 64;
        // A filter with no bits or no hashes (damaged, hostile) rules nothing out.
        if bits == 0 || self.hashes == 0 || text.parse::<jiff::Timestamp>().is_ok() {
            return true;
        }
        probes(key(context, text.as_bytes()), self.hashes.min(32), bits)
            .all(|bit| self.bloom[bit / 64] & (1 << (bit % 64)) != 0)
    }
}

/// The keys of a chunk gathered while its events are recorded: the reg_ids touched and the
/// hashed identifier values, made into [`ChunkKeys`] once the chunk is complete.
#[derive(Debug, Default)]
pub(crate) struct KeysBuilder {
    range: Option<(u64, u64)>,
    keys: Vec<(u32, u32)>,
}

impl KeysBuilder {
    /// The chunk touches this record (in a flow table).
    pub fn touch(&mut self, reg_id: u64) {
        self.range = Some(self.range.map_or((reg_id, reg_id), |(lo, hi)| (lo.min(reg_id), hi.max(reg_id))));
    }

    /// The chunk sets an identifier context to this value (times are not keyed).
    pub fn value(&mut self, context: u16, v: &crate::model::Value) {
        use crate::model::Value;
        match v {
            Value::Int(i) => self.keys.push(int_key(context, *i)),
            Value::Text(t) => self.keys.push(key(context, t.as_bytes())),
            Value::Empty | Value::Time(_) => {}
        }
    }

    /// The keys gathered since the last take; the builder starts again empty.
    pub fn take(&mut self) -> ChunkKeys {
        // Sized by the values written, repeats included: repeats set no new bits, so each
        // distinct value gets at least BITS_PER_KEY bits.
        let words = (self.keys.len() * BITS_PER_KEY).div_ceil(64).max(1);
        let mut bloom = vec![0u64; words];
        for k in self.keys.drain(..) {
            for bit in probes(k, HASHES, words * 64) {
                bloom[bit / 64] |= 1 << (bit % 64);
            }
        }
        ChunkKeys { reg_ids: self.range.take(), bloom, hashes: HASHES }
    }
}

/// The bits of a key: `(h1 + i * h2) % bits` for i in 0..k. The sum never wraps (both halves
/// are 32-bit, k is small), so it is walked modulo `bits` with two divisions instead of k: this
/// runs for every identifier value a full recording writes.
fn probes((h1, h2): (u32, u32), k: u8, bits: usize) -> impl Iterator<Item = usize> {
    let bits = bits as u64;
    let (mut bit, step) = (u64::from(h1) % bits, u64::from(h2) % bits);
    (0..k).map(move |_| {
        let at = bit as usize;
        bit += step;
        if bit >= bits {
            bit -= bits;
        }
        at
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{Changes, Step};

    fn step(reg_ids: &[u64], values: Vec<(u16, TraceValue)>) -> Event {
        let runs = vec![(0, reg_ids[0], 1, values.len() as u32)];
        let transitions = reg_ids.iter().map(|&r| (0, r, 0, 1)).collect();
        Event::Step(Step {
            changes: Some(Changes { transitions, runs, values, ..Changes::default() }),
            ..Step::default()
        })
    }

    /// The hash as docs/trace-format.md writes it, word by word from a zero-padded copy.
    fn documented_key(c: u16, t: &[u8]) -> (u32, u32) {
        let mut padded = t.to_vec();
        padded.resize(t.len().div_ceil(8) * 8, 0);
        let mut h = 0x9E37_79B9_7F4A_7C15 ^ u64::from(c) ^ ((t.len() as u64) << 16);
        for w in padded.chunks(8) {
            let w = u64::from_le_bytes(w.try_into().unwrap());
            h = (h.rotate_left(5) ^ w).wrapping_mul(0x517C_C1B7_2722_0A95);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(0xFF51_AFD7_ED55_8CCD);
        h ^= h >> 33;
        h = h.wrapping_mul(0xC4CE_B9FE_1A85_EC53);
        h ^= h >> 33;
        (h as u32, (h >> 32) as u32 | 1)
    }

    #[test]
    fn keys_are_the_documented_hash() {
        // Every length of rest (0 to 7 bytes past whole words), multi-byte UTF-8 included:
        // traces written by earlier versions are searched with these keys.
        for text in [
            "",
            "a",
            "ab",
            "EV000000123",
            "DATA",
            "VOICE",
            "SUBSCR",
            "Zoë Ångström",
            "-9000000000",
            "0123456789abcdef",
        ] {
            for c in [0u16, 7, 65_535] {
                assert_eq!(key(c, text.as_bytes()), documented_key(c, text.as_bytes()), "{c} {text:?}");
            }
        }
    }

    #[test]
    fn probes_are_the_documented_formula() {
        for (h1, h2, bits) in
            [(0u32, 1u32, 64usize), (u32::MAX, u32::MAX, 64), (12_345, 977, 8_000), (7, 3, 1)]
        {
            let formula: Vec<usize> =
                (0..32u64).map(|i| ((u64::from(h1) + i * u64::from(h2)) % bits as u64) as usize).collect();
            assert_eq!(probes((h1, h2), 32, bits).collect::<Vec<_>>(), formula, "{h1} {h2} {bits}");
        }
    }

    #[test]
    fn keys_never_miss_what_a_chunk_holds_and_rule_out_most_of_the_rest() {
        let events: Vec<Event> = (0..500u64)
            .map(|i| {
                step(
                    &[i * 2, i * 2 + 1],
                    vec![
                        (0, TraceValue::Text(format!("EV{i:09}").into())),
                        (1, TraceValue::Int(i as i64 * 7)),
                        (2, TraceValue::Time(1_700_000_000 + i as i64, 250_000_000)),
                        (3, TraceValue::Text("VOICE".into())),
                    ],
                )
            })
            .collect();
        let keys = ChunkKeys::of(&events, &[true, true, true, false], &[true]);
        assert_eq!(ChunkKeys::of(&events, &[true], &[false]).reg_ids, None, "no flow table, no range");
        assert_eq!(keys.reg_ids, Some((0, 999)));
        for i in 0..500u64 {
            assert!(keys.may_touch(i * 2) && keys.may_touch(i * 2 + 1));
            assert!(keys.may_set(0, &format!("EV{i:09}")));
            assert!(keys.may_set(1, &(i * 7).to_string()));
            let t = jiff::Timestamp::new(1_700_000_000 + i as i64, 250_000_000).unwrap();
            assert!(keys.may_set(2, &t.to_string()));
        }
        // Integers are keyed as their decimal text, negative ones too.
        let negative =
            ChunkKeys::of(&[step(&[1], vec![(1, TraceValue::Int(-9_000_000_000))])], &[true, true], &[true]);
        assert!(negative.may_set(1, "-9000000000"));
        assert!((0..200).filter(|i| negative.may_set(1, &i.to_string())).count() < 20);
        assert!(!keys.may_touch(1000), "outside the range");
        let false_hits = (0..10_000).filter(|i| keys.may_set(0, &format!("XX{i:09}"))).count();
        assert!(false_hits < 500, "about 2.4% false positives, got {false_hits} of 10000");
        // Damaged keys rule nothing out.
        let empty = ChunkKeys { reg_ids: Some((0, 10)), bloom: vec![], hashes: 0 };
        assert!(empty.may_touch(5) && empty.may_set(0, "anything"));
    }
}

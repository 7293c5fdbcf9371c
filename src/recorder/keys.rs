//! Keys of an events chunk: the reg_ids it touches and the identifier values it sets, in a
//! Bloom filter written as a small chunk of its own after it. A search (`catar query`) reads
//! the keys and decodes only the chunks that may hold what it looks for, instead of every
//! chunk of the trace. Hashes are CRC32C (Castagnoli) of a tagged byte string, two of them
//! combined (Kirsch–Mitzenmacher): stable across platforms and versions.

use serde::{Deserialize, Serialize};

use super::event::{Event, TraceValue};

/// Filter bits per distinct key: about a 1% false-positive rate with [`HASHES`] hashes.
const BITS_PER_KEY: usize = 10;
/// Hash functions of the filter.
const HASHES: u8 = 7;

/// What an events chunk holds, summarised.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChunkKeys {
    /// The smallest and largest reg_id the chunk's steps touch (none when they touch none).
    pub reg_ids: Option<(u64, u64)>,
    /// The filter's bits, 64 a word.
    pub bloom: Vec<u64>,
    /// Hash functions per key.
    pub hashes: u8,
}

fn hash(bytes: &[u8]) -> (u32, u32) {
    // The second hash is odd, so that the k probes of a key are all distinct modulo a power of two.
    (crc32c::crc32c(bytes), crc32c::crc32c_append(0x9E37_79B9, bytes) | 1)
}

fn reg_key(reg_id: u64) -> (u32, u32) {
    let mut b = [0u8; 9];
    b[1..].copy_from_slice(&reg_id.to_le_bytes());
    hash(&b)
}

fn value_key(context: u16, v: &TraceValue) -> Option<(u32, u32)> {
    let mut b = vec![1u8];
    b.extend_from_slice(&context.to_le_bytes());
    match v {
        TraceValue::Empty => return None,
        TraceValue::Int(i) => {
            b.push(0);
            b.extend_from_slice(&i.to_le_bytes());
        }
        TraceValue::Text(t) => {
            b.push(1);
            b.extend_from_slice(t.as_bytes());
        }
        TraceValue::Time(s, n) => {
            b.push(2);
            b.extend_from_slice(&s.to_le_bytes());
            b.extend_from_slice(&n.to_le_bytes());
        }
    }
    Some(hash(&b))
}

impl ChunkKeys {
    /// The keys of a chunk's events: every reg_id its steps touch, and every value they set
    /// in a context marked in `identifiers` (by context id).
    pub fn of(events: &[Event], identifiers: &[bool]) -> ChunkKeys {
        let mut keys: Vec<(u32, u32)> = Vec::new();
        let mut range: Option<(u64, u64)> = None;
        let mut reg = |r: u64, keys: &mut Vec<(u32, u32)>| {
            range = Some(range.map_or((r, r), |(lo, hi)| (lo.min(r), hi.max(r))));
            keys.push(reg_key(r));
        };
        for e in events {
            let Event::Step(s) = e else { continue };
            let Some(c) = &s.changes else { continue };
            for t in &c.transitions {
                reg(t.1, &mut keys);
            }
            for f in &c.freed {
                reg(f.1, &mut keys);
            }
            let mut at = 0;
            for &(_, reg_id, _, n) in &c.runs {
                reg(reg_id, &mut keys);
                for (context, v) in c.values.get(at..at + n as usize).unwrap_or(&[]) {
                    if identifiers.get(*context as usize).copied().unwrap_or(false)
                        && let Some(k) = value_key(*context, v)
                    {
                        keys.push(k);
                    }
                }
                at += n as usize;
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let words = (keys.len() * BITS_PER_KEY).div_ceil(64).max(1);
        let mut bloom = vec![0u64; words];
        for k in keys {
            for bit in probes(k, HASHES, words * 64) {
                bloom[bit / 64] |= 1 << (bit % 64);
            }
        }
        ChunkKeys { reg_ids: range, bloom, hashes: HASHES }
    }

    fn may_hold(&self, key: (u32, u32)) -> bool {
        let bits = self.bloom.len() * 64;
        // A filter with no bits or no hashes (damaged, hostile) rules nothing out.
        bits == 0
            || self.hashes == 0
            || probes(key, self.hashes.min(32), bits).all(|bit| self.bloom[bit / 64] & (1 << (bit % 64)) != 0)
    }

    /// False only when the chunk surely does not touch this record.
    pub fn may_touch(&self, reg_id: u64) -> bool {
        self.reg_ids.is_some_and(|(lo, hi)| (lo..=hi).contains(&reg_id)) && self.may_hold(reg_key(reg_id))
    }

    /// False only when the chunk surely sets no `context` to a value written `text` (as
    /// [`crate::replay::value_text`] writes values: an integer, a text or an RFC 3339 time).
    pub fn may_set(&self, context: u16, text: &str) -> bool {
        let mut candidates = vec![TraceValue::Text(text.into())];
        if let Ok(i) = text.parse::<i64>() {
            candidates.push(TraceValue::Int(i));
        }
        if let Ok(t) = text.parse::<jiff::Timestamp>() {
            candidates.push(TraceValue::Time(t.as_second(), t.subsec_nanosecond()));
        }
        candidates.iter().filter_map(|v| value_key(context, v)).any(|k| self.may_hold(k))
    }
}

fn probes((h1, h2): (u32, u32), k: u8, bits: usize) -> impl Iterator<Item = usize> {
    (0..u64::from(k))
        .map(move |i| (u64::from(h1).wrapping_add(i.wrapping_mul(u64::from(h2))) % bits as u64) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{Changes, Step};

    fn step(reg_ids: &[u64], values: Vec<(u16, TraceValue)>) -> Event {
        let runs = vec![(0, reg_ids[0], 1, values.len() as u32)];
        let transitions = reg_ids.iter().map(|&r| (0, r, 0, 1)).collect();
        Event::Step(Step {
            changes: Some(Changes { transitions, runs, values, freed: vec![] }),
            ..Step::default()
        })
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
        let keys = ChunkKeys::of(&events, &[true, true, true, false]);
        assert_eq!(keys.reg_ids, Some((0, 999)));
        for i in 0..500u64 {
            assert!(keys.may_touch(i * 2) && keys.may_touch(i * 2 + 1));
            assert!(keys.may_set(0, &format!("EV{i:09}")));
            assert!(keys.may_set(1, &(i * 7).to_string()));
            let t = jiff::Timestamp::new(1_700_000_000 + i as i64, 250_000_000).unwrap();
            assert!(keys.may_set(2, &t.to_string()));
        }
        assert!(!keys.may_touch(1000), "outside the range");
        let false_hits = (0..10_000).filter(|i| keys.may_set(0, &format!("XX{i:09}"))).count();
        assert!(false_hits < 300, "about 1% false positives, got {false_hits} of 10000");
        // Damaged keys rule nothing out.
        let empty = ChunkKeys { reg_ids: Some((0, 10)), bloom: vec![], hashes: 0 };
        assert!(empty.may_touch(5) && empty.may_set(0, "anything"));
    }
}

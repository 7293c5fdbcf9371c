//! The reg_ids of a step's changes as the trace writes them (events version 11): each one as
//! its difference from the reg_id before it in the same list. A step's records are mostly
//! consecutive lines of the input, so a difference takes one byte where a reg_id past 65,535
//! takes five, and the rows of a list repeat byte for byte, which lz4 then packs away (a full
//! trace 35% smaller, `README.md`).
//!
//! `#[serde(with = "deltas")]` on a `Vec` of rows, and [`wire`] for a writer that encodes rows
//! straight from a step report. Differences wrap: any bytes decode to some reg_ids, never a
//! panic.

use serde::de::{DeserializeOwned, SeqAccess, Visitor};
use serde::{Deserializer, Serialize, Serializer};

/// A row of a changes list whose reg_ids are written as differences.
pub(crate) trait Row: Copy {
    /// The row as written.
    type Wire: Serialize + DeserializeOwned;
    /// The row as written after the row whose reg_id was `last` (then its own).
    fn to_wire(self, last: &mut u64) -> Self::Wire;
    /// The row read after the row whose reg_id was `last` (then its own).
    fn from_wire(w: Self::Wire, last: &mut u64) -> Self;
}

fn diff(reg_id: u64, last: &mut u64) -> i64 {
    let d = reg_id.wrapping_sub(*last) as i64;
    *last = reg_id;
    d
}

fn undiff(d: i64, last: &mut u64) -> u64 {
    *last = last.wrapping_add(d as u64);
    *last
}

/// A transition (table, reg_id, from, to).
impl Row for (u16, u64, u16, u16) {
    type Wire = (u16, i64, u16, u16);
    fn to_wire(self, last: &mut u64) -> Self::Wire {
        (self.0, diff(self.1, last), self.2, self.3)
    }
    fn from_wire(w: Self::Wire, last: &mut u64) -> Self {
        (w.0, undiff(w.1, last), w.2, w.3)
    }
}

/// A run of values (table, reg_id, cabinet, count).
impl Row for (u16, u64, u16, u32) {
    type Wire = (u16, i64, u16, u32);
    fn to_wire(self, last: &mut u64) -> Self::Wire {
        (self.0, diff(self.1, last), self.2, self.3)
    }
    fn from_wire(w: Self::Wire, last: &mut u64) -> Self {
        (w.0, undiff(w.1, last), w.2, w.3)
    }
}

/// Freed slots (table, reg_id, contexts).
impl Row for (u16, u64, u128) {
    type Wire = (u16, i64, u128);
    fn to_wire(self, last: &mut u64) -> Self::Wire {
        (self.0, diff(self.1, last), self.2)
    }
    fn from_wire(w: Self::Wire, last: &mut u64) -> Self {
        (w.0, undiff(w.1, last), w.2)
    }
}

/// A copy (table, reg_id, cabinet, from table, from reg_id, contexts): the record copied from
/// is written against the row's own reg_id (a de-escalate copies a record's own values: 0).
impl Row for (u16, u64, u16, u16, u64, u128) {
    type Wire = (u16, i64, u16, u16, i64, u128);
    fn to_wire(self, last: &mut u64) -> Self::Wire {
        let mut own = self.1;
        (self.0, diff(self.1, last), self.2, self.3, diff(self.4, &mut own), self.5)
    }
    fn from_wire(w: Self::Wire, last: &mut u64) -> Self {
        let reg_id = undiff(w.1, last);
        let mut own = reg_id;
        (w.0, reg_id, w.2, w.3, undiff(w.4, &mut own), w.5)
    }
}

/// `rows` as written, in order.
pub(crate) fn wire<T: Row>(rows: impl ExactSizeIterator<Item = T>) -> impl ExactSizeIterator<Item = T::Wire> {
    let mut last = 0;
    rows.map(move |r| r.to_wire(&mut last))
}

/// Write `rows` (serde's `with`).
pub(crate) fn serialize<T: Row, S: Serializer>(rows: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(wire(rows.iter().copied()))
}

/// Read rows (serde's `with`).
pub(crate) fn deserialize<'de, T: Row, D: Deserializer<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    struct Rows<T>(std::marker::PhantomData<T>);
    impl<'de, T: Row> Visitor<'de> for Rows<T> {
        type Value = Vec<T>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a sequence of rows")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            // The stated length is the file's word: reserve no more than a chunk's worth.
            let mut rows = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
            let mut last = 0;
            while let Some(w) = seq.next_element::<T::Wire>()? {
                rows.push(T::from_wire(w, &mut last));
            }
            Ok(rows)
        }
    }
    d.deserialize_seq(Rows(std::marker::PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Lists {
        #[serde(with = "super")]
        transitions: Vec<(u16, u64, u16, u16)>,
        #[serde(with = "super")]
        copies: Vec<(u16, u64, u16, u16, u64, u128)>,
    }

    #[test]
    fn reg_ids_read_back_whatever_their_order_and_size() {
        let lists = Lists {
            transitions: vec![
                (1, 70_000, 2, 3),
                (1, 70_001, 2, 3),
                (1, 5, 2, 3),
                (2, u64::MAX, 0, 1),
                (1, 0, 0, 0),
            ],
            copies: vec![(1, 9, 2, 0, 9, 1 << 100), (1, 8, 2, 0, u64::MAX, 1), (1, u64::MAX, 2, 0, 0, 3)],
        };
        let config = bincode::config::standard();
        let bytes = bincode::serde::encode_to_vec(&lists, config).unwrap();
        let (read, used): (Lists, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!((read, used), (lists, bytes.len()));
    }

    #[test]
    fn consecutive_reg_ids_take_a_byte_each() {
        let rows: Vec<(u16, u64, u16, u16)> = (100_000..100_100).map(|r| (1, r, 2, 3)).collect();
        let config = bincode::config::standard();
        let plain = bincode::serde::encode_to_vec(&rows, config).unwrap();
        let wired: Vec<_> = wire(rows.iter().copied()).collect();
        let deltas = bincode::serde::encode_to_vec(&wired, config).unwrap();
        // The first row's difference is the reg_id itself; each after it is 1: 4 bytes a row.
        assert_eq!(plain.len() - deltas.len(), 99 * 4);
    }
}

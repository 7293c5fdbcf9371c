use super::{CabinetId, ContextId, Value};

static EMPTY: Value = Value::Empty;

/// The positions of the set bits of `mask`, lowest first.
pub fn bits(mut mask: u128) -> impl Iterator<Item = u16> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as u16;
            mask &= mask - 1;
            i
        })
    })
}

/// A record's header (SPEC §1).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Header {
    /// The record's state; `DISARMED` means logically deleted.
    pub cabinet: CabinetId,
    /// Registration id: unique per record for its whole life, links it across nodes.
    pub reg_id: u64,
    /// Hash of the context values the last arm selected: the join key of collisions.
    pub linkey: u64,
    /// A `reg_id` this record points at (0: none).
    pub link_to: u64,
    /// Pseudo-clock time (Unix seconds) at which it was registered.
    pub reg_time: i64,
    /// Numeric hashed header for stream processing: the hash of its routing key.
    pub trackey: u64,
    /// When set, the record takes part in no collision.
    pub skip: bool,
}

/// A record: header plus slots, one per context of the schema (absent slots are empty).
#[derive(Debug, Default)]
pub struct Record {
    /// The header.
    pub header: Header,
    // Grown on demand so that records holding few contexts stay small.
    slots: Vec<Value>,
    // Bit i set when context i holds a value: what a report says moves with the record.
    held: u128,
    // Set when a node sent it to the next stage, cleared by any change of its contexts: a
    // recording then lists its values once, where the stage before set them.
    sent: bool,
    // How many slots hold a heap-allocated (shared) text: a record with none holds plain data
    // only, and copies as bytes.
    shared: u8,
}

/// Equal when the headers and the contexts held are (however many empty slots each keeps).
impl PartialEq for Record {
    fn eq(&self, other: &Self) -> bool {
        self.header == other.header
            && self.held == other.held
            && bits(self.held).all(|i| self.slots[i as usize] == other.slots[i as usize])
    }
}

impl Eq for Record {}

impl Clone for Record {
    fn clone(&self) -> Self {
        Record {
            header: self.header.clone(),
            slots: self.slots.clone(),
            held: self.held,
            sent: self.sent,
            shared: self.shared,
        }
    }

    /// Into the slots already allocated, copying only the slots that hold a value (a record
    /// holds a few of its schema's contexts): the supervisor copies every tick's records so.
    fn clone_from(&mut self, source: &Self) {
        self.header.clone_from(&source.header);
        let n = source.slots.len();
        self.slots.truncate(n);
        self.slots.resize_with(n, || Value::Empty);
        // Past the last slot either record holds, both are empty (and `source` holds none
        // past its `n` slots).
        let used = ((u128::BITS - (self.held | source.held).leading_zeros()) as usize).min(n);
        if self.shared == 0 && source.shared == 0 {
            // SAFETY: neither record holds a heap-allocated text (`set` counts them in
            // `shared`), so each of their first `used` values is Empty, an Int, a Time or
            // an inline or static SmolStr: plain data owning nothing. A byte copy of such a
            // value is a valid clone of it, and the values it overwrites need no drop. Both
            // slot vectors hold `n >= used` values.
            debug_assert!(self.slots.iter().chain(&source.slots).all(|v| !v.is_shared()));
            unsafe { std::ptr::copy_nonoverlapping(source.slots.as_ptr(), self.slots.as_mut_ptr(), used) }
        } else {
            for (to, from) in self.slots.iter_mut().zip(&source.slots).take(used) {
                match (&mut *to, from) {
                    (Value::Empty, Value::Empty) => {}
                    (to, Value::Int(v)) => *to = Value::Int(*v),
                    (to, Value::Time(t)) => *to = Value::Time(*t),
                    (to, from) => to.clone_from(from),
                }
            }
        }
        self.shared = source.shared;
        self.held = source.held;
        self.sent = source.sent;
    }
}

impl Record {
    /// A new record with no contexts, in no cabinet yet.
    pub fn new(reg_id: u64) -> Self {
        Record {
            header: Header { reg_id, ..Header::default() },
            slots: Vec::new(),
            held: 0,
            sent: false,
            shared: 0,
        }
    }

    /// A new record with all `slots` contexts present (and empty), so that filling it never
    /// grows it.
    pub fn with_capacity(reg_id: u64, slots: usize) -> Self {
        let mut values = Vec::with_capacity(slots);
        values.resize_with(slots, || Value::Empty);
        Record {
            header: Header { reg_id, ..Header::default() },
            slots: values,
            held: 0,
            sent: false,
            shared: 0,
        }
    }

    /// The value of a context (empty when the record has none).
    #[inline]
    pub fn get(&self, context: ContextId) -> &Value {
        self.slots.get(context.slot()).unwrap_or(&EMPTY)
    }

    /// Set a context, returning the previous value. Inside a table, change records through the
    /// operators instead, so that the change is reported.
    #[inline]
    pub fn set(&mut self, context: ContextId, value: Value) -> Value {
        let slot = context.slot();
        self.sent = false;
        if slot >= self.slots.len() {
            if value.is_empty() {
                return Value::Empty;
            }
            self.slots.resize_with(slot + 1, || Value::Empty);
        }
        let bit = 1u128 << slot;
        if value.is_empty() {
            self.held &= !bit
        } else {
            self.held |= bit
        }
        self.shared += u8::from(value.is_shared());
        let old = std::mem::replace(&mut self.slots[slot], value);
        self.shared -= u8::from(old.is_shared());
        old
    }

    /// The contexts holding a value, as a bit set (bit i = context i).
    #[inline]
    pub fn held(&self) -> u128 {
        self.held
    }

    /// Drop every context at once (the slots are freed).
    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.held = 0;
        self.sent = false;
        self.shared = 0;
    }

    /// The record goes to the next stage with the contexts it holds now.
    pub(crate) fn mark_sent(&mut self) {
        self.sent = true;
    }

    /// True when its contexts are those it was sent to this stage with.
    pub(crate) fn as_sent(&self) -> bool {
        self.sent
    }

    /// The non-empty contexts with their values, in slot order.
    pub fn contexts(&self) -> impl Iterator<Item = (ContextId, &Value)> {
        bits(self.held).map(|i| (ContextId(i), &self.slots[i as usize]))
    }

    /// True when the record is in a live cabinet (not disarmed).
    pub fn is_live(&self) -> bool {
        self.header.cabinet.is_live()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_grow_on_demand_and_absent_contexts_are_empty() {
        let mut r = Record::new(7);
        assert_eq!(r.get(ContextId(5)), &Value::Empty);
        assert_eq!(r.set(ContextId(3), Value::Int(1)), Value::Empty);
        assert_eq!(r.get(ContextId(3)), &Value::Int(1));
        assert_eq!(r.contexts().collect::<Vec<_>>(), vec![(ContextId(3), &Value::Int(1))]);
        assert_eq!(r.set(ContextId(9), Value::Empty), Value::Empty);
        assert_eq!(r.contexts().count(), 1);
    }

    #[test]
    fn a_record_copies_as_bytes_once_its_long_texts_are_replaced() {
        let long = Value::text("2026-01-20T07:34:59.25+03:00");
        let mut from = Record::new(1);
        from.set(ContextId(2), long.clone());
        from.set(ContextId(4), Value::text("short"));
        let mut copy = Record::new(2);
        copy.clone_from(&from);
        assert_eq!((copy.shared, &copy), (1, &from));
        // As REG's `type` turns a START_TIME text into a time: none is shared any more, and
        // the byte copy (its debug assertion checks that) gives an equal record.
        from.set(ContextId(2), Value::Int(3));
        assert_eq!(from.shared, 0);
        copy.set(ContextId(2), Value::Empty);
        copy.clone_from(&from);
        assert_eq!((copy.shared, &copy), (0, &from));
        assert_eq!(long.as_text().map(str::len), Some(28), "the long text outlives the copies");
    }

    #[test]
    fn clone_from_into_any_record_gives_an_equal_one() {
        let record = |id: u64, set: &[(u16, Value)]| {
            let mut r = Record::new(id);
            for (c, v) in set {
                r.set(ContextId(*c), v.clone());
            }
            r
        };
        let long = Value::text("a text longer than twenty-three bytes, shared");
        let sources = [
            record(1, &[(0, Value::Int(1)), (70, long.clone())]),
            record(2, &[(3, Value::text("x"))]),
            record(3, &[]),
            record(4, &[(1, long.clone()), (2, Value::Int(5)), (127, Value::text("last"))]),
        ];
        for into in &sources {
            for from in &sources {
                let mut target = into.clone();
                target.clone_from(from);
                assert_eq!(&target, from, "{into:?} <- {from:?}");
            }
        }
    }
}

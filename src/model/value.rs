use jiff::Timestamp;
use smol_str::SmolStr;
use std::fmt;

/// The value of one context in one record. `Empty` means the context has no value there.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Value {
    /// No value: the context is absent from the record.
    #[default]
    Empty,
    /// An integer (money in cents, counts, durations).
    Int(i64),
    /// Text; short strings live inline and long ones are shared, so copying a value
    /// between records never allocates.
    Text(SmolStr),
    /// An instant (event times), compared as instants whatever offset it was written with.
    Time(Timestamp),
}

// The payloads `is_shared` calls plain data must stay so (checked when compiling).
const _: fn() = || {
    fn plain<T: Copy>() {}
    plain::<i64>();
    plain::<Timestamp>();
};

impl Value {
    /// Text value from anything string-like.
    pub fn text(s: impl AsRef<str>) -> Self {
        Value::Text(SmolStr::new(s))
    }

    /// True when the value is a text on the heap (shared by its copies, not plain data).
    #[inline]
    pub fn is_shared(&self) -> bool {
        // Exhaustive on purpose: `Record::clone_from` copies every value this calls unshared
        // as bytes, so a new variant owning memory must answer true here.
        match self {
            Value::Text(t) => t.is_heap_allocated(),
            Value::Empty | Value::Int(_) | Value::Time(_) => false,
        }
    }

    /// True when the context holds no value.
    pub fn is_empty(&self) -> bool {
        matches!(self, Value::Empty)
    }

    /// The integer, if this is one.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    /// The instant, if this is one.
    pub fn as_time(&self) -> Option<Timestamp> {
        match self {
            Value::Time(t) => Some(*t),
            _ => None,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Empty => Ok(()),
            Value::Int(v) => write!(f, "{v}"),
            Value::Text(s) => f.write_str(s),
            Value::Time(t) => write!(f, "{t}"),
        }
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::text(s)
    }
}

impl From<Timestamp> for Value {
    fn from(t: Timestamp) -> Self {
        Value::Time(t)
    }
}

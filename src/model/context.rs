/// Index of a context in its [`Schema`](super::Schema); also the record slot that holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContextId(pub u16);

impl ContextId {
    /// The slot position of this context in a record.
    pub fn slot(self) -> usize {
        self.0 as usize
    }
}

/// Light contexts have few distinct values (SERVICE), heavy ones many (START_TIME).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weight {
    /// Few distinct values; worth grouping by.
    Light,
    /// Many distinct values (identifiers, timestamps).
    Heavy,
}

/// A named attribute of records.
#[derive(Clone, Debug)]
pub struct ContextDef {
    /// Its id (slot position).
    pub id: ContextId,
    /// Its name, as the pipeline's author wrote it (EVENT_ID, AMOUNT …).
    pub name: String,
    /// Light or heavy.
    pub weight: Weight,
}

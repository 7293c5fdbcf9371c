use super::ContextId;

/// Index of a cabinet in its [`Schema`](super::Schema). `CabinetId::DISARMED` (0) is the
/// cabinet of logically deleted records, invisible to every operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct CabinetId(pub u16);

impl CabinetId {
    /// Cabinet 0: a disarmed (logically deleted) record, or no record at all.
    pub const DISARMED: CabinetId = CabinetId(0);

    /// True for every cabinet but the disarmed one.
    pub fn is_live(self) -> bool {
        self.0 != 0
    }

    /// Position of the cabinet in per-cabinet arrays.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What sort of cabinet this is (SPEC §1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CabinetKind {
    /// A plain state, optionally inheriting the contexts of a root cabinet.
    Regular,
    /// Other cabinets inherit its contexts.
    Root,
    /// A named list of cabinets, matched as one.
    Spectrum(Vec<CabinetId>),
    /// A list of cabinets that share a context.
    Context {
        /// The shared context.
        context: ContextId,
        /// The cabinets sharing it.
        cabinets: Vec<CabinetId>,
    },
}

/// A named state with its metadata: the contexts that are active in it.
#[derive(Clone, Debug)]
pub struct CabinetDef {
    /// Its id.
    pub id: CabinetId,
    /// Its name (RAW, CONFIRMED, WIFE …).
    pub name: String,
    /// Regular, root, spectrum or context cabinet.
    pub kind: CabinetKind,
    /// The root cabinet it inherits contexts from, if any.
    pub base: Option<CabinetId>,
    /// The contexts active in this cabinet, the inherited ones included, sorted.
    pub contexts: Vec<ContextId>,
}

impl CabinetDef {
    /// True when `context` is part of this cabinet's metadata.
    pub fn is_active(&self, context: ContextId) -> bool {
        self.contexts.binary_search(&context).is_ok()
    }
}

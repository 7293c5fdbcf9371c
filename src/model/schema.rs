use std::collections::HashMap;

use super::{CabinetDef, CabinetId, CabinetKind, ContextDef, ContextId, Weight};

/// Contexts a schema can define.
pub const MAX_CONTEXTS: usize = 128;

/// A mistake in a pipeline's schema definition.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SchemaError {
    /// Two contexts or two cabinets share a name.
    #[error("schema: {kind} name {name:?} is defined twice")]
    Duplicate {
        /// "context" or "cabinet".
        kind: &'static str,
        /// The repeated name.
        name: String,
    },
    /// More contexts or cabinets than ids can hold.
    #[error("schema: too many {0}")]
    TooMany(&'static str),
}

/// The catalog of a pipeline's contexts and cabinets. Cabinet 0 is the disarmed cabinet.
#[derive(Clone, Debug)]
pub struct Schema {
    contexts: Vec<ContextDef>,
    cabinets: Vec<CabinetDef>,
    context_names: HashMap<String, ContextId>,
    cabinet_names: HashMap<String, CabinetId>,
}

impl Schema {
    /// Start defining a schema.
    pub fn builder() -> SchemaBuilder {
        SchemaBuilder::default()
    }

    /// All contexts, in id order.
    pub fn contexts(&self) -> &[ContextDef] {
        &self.contexts
    }

    /// All cabinets, in id order; index 0 is the disarmed cabinet.
    pub fn cabinets(&self) -> &[CabinetDef] {
        &self.cabinets
    }

    /// The definition of one context.
    pub fn context(&self, id: ContextId) -> &ContextDef {
        &self.contexts[id.slot()]
    }

    /// The definition of one cabinet.
    pub fn cabinet(&self, id: CabinetId) -> &CabinetDef {
        &self.cabinets[id.index()]
    }

    /// A context by name.
    pub fn context_id(&self, name: &str) -> Option<ContextId> {
        self.context_names.get(name).copied()
    }

    /// A cabinet by name.
    pub fn cabinet_id(&self, name: &str) -> Option<CabinetId> {
        self.cabinet_names.get(name).copied()
    }

    /// Number of slots a record of this schema has.
    pub fn slot_count(&self) -> usize {
        self.contexts.len()
    }

    /// The cabinets a spectrum or context cabinet stands for; a plain cabinet stands for itself.
    pub fn members(&self, id: CabinetId) -> Vec<CabinetId> {
        match &self.cabinet(id).kind {
            CabinetKind::Spectrum(list) => list.clone(),
            CabinetKind::Context { cabinets, .. } => cabinets.clone(),
            CabinetKind::Regular | CabinetKind::Root => vec![id],
        }
    }
}

/// Builds a [`Schema`] one context and cabinet at a time.
#[derive(Debug, Default)]
pub struct SchemaBuilder {
    contexts: Vec<ContextDef>,
    cabinets: Vec<CabinetDef>,
    error: Option<SchemaError>,
}

impl SchemaBuilder {
    /// Define a context; its id is its slot in every record.
    pub fn context(&mut self, name: &str, weight: Weight) -> ContextId {
        if self.contexts.iter().any(|c| c.name == name) {
            self.fail(SchemaError::Duplicate { kind: "context", name: name.into() });
        }
        // Reports carry a record's contexts as a 128-bit mask.
        if self.contexts.len() >= MAX_CONTEXTS {
            self.fail(SchemaError::TooMany("contexts (128 at most)"));
            return ContextId(0);
        }
        let id = ContextId(self.contexts.len() as u16);
        self.contexts.push(ContextDef { id, name: name.into(), weight });
        id
    }

    /// Define a root cabinet: cabinets based on it inherit `contexts`.
    pub fn root(&mut self, name: &str, contexts: &[ContextId]) -> CabinetId {
        self.push(name, CabinetKind::Root, None, contexts.to_vec())
    }

    /// Define a regular cabinet with the contexts of `base` (if any) plus `extra`.
    pub fn cabinet(&mut self, name: &str, base: Option<CabinetId>, extra: &[ContextId]) -> CabinetId {
        let mut contexts = extra.to_vec();
        if let Some(b) = base {
            contexts.extend(self.def(b).map(|d| d.contexts.clone()).unwrap_or_default());
        }
        self.push(name, CabinetKind::Regular, base, contexts)
    }

    /// Define a spectrum: a named list of cabinets matched as one.
    pub fn spectrum(&mut self, name: &str, members: &[CabinetId]) -> CabinetId {
        let contexts = self.union_of(members);
        self.push(name, CabinetKind::Spectrum(members.to_vec()), None, contexts)
    }

    /// Define a context cabinet: the cabinets that share `context`.
    pub fn context_cabinet(&mut self, name: &str, context: ContextId, members: &[CabinetId]) -> CabinetId {
        let kind = CabinetKind::Context { context, cabinets: members.to_vec() };
        self.push(name, kind, None, vec![context])
    }

    /// Finish; fails on a repeated name.
    pub fn build(mut self) -> Result<Schema, SchemaError> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        let disarmed = CabinetDef {
            id: CabinetId::DISARMED,
            name: "DISARMED".into(),
            kind: CabinetKind::Regular,
            base: None,
            contexts: Vec::new(),
        };
        let mut cabinets = vec![disarmed];
        cabinets.append(&mut self.cabinets);
        let context_names = self.contexts.iter().map(|c| (c.name.clone(), c.id)).collect();
        let cabinet_names = cabinets.iter().map(|c| (c.name.clone(), c.id)).collect();
        Ok(Schema { contexts: self.contexts, cabinets, context_names, cabinet_names })
    }

    fn def(&self, id: CabinetId) -> Option<&CabinetDef> {
        self.cabinets.get(id.index().checked_sub(1)?)
    }

    fn union_of(&self, members: &[CabinetId]) -> Vec<ContextId> {
        members.iter().filter_map(|m| self.def(*m)).flat_map(|d| d.contexts.iter().copied()).collect()
    }

    fn push(
        &mut self,
        name: &str,
        kind: CabinetKind,
        base: Option<CabinetId>,
        mut contexts: Vec<ContextId>,
    ) -> CabinetId {
        if name == "DISARMED" || self.cabinets.iter().any(|c| c.name == name) {
            self.fail(SchemaError::Duplicate { kind: "cabinet", name: name.into() });
        }
        // Id 0 is the disarmed cabinet, so defined cabinets start at 1.
        let Ok(raw) = u16::try_from(self.cabinets.len() + 1) else {
            self.fail(SchemaError::TooMany("cabinets"));
            return CabinetId::DISARMED;
        };
        contexts.sort();
        contexts.dedup();
        let id = CabinetId(raw);
        self.cabinets.push(CabinetDef { id, name: name.into(), kind, base, contexts });
        id
    }

    fn fail(&mut self, e: SchemaError) {
        self.error.get_or_insert(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cabinets_inherit_their_root_contexts_and_names_resolve() {
        let mut b = Schema::builder();
        let id = b.context("ID", Weight::Heavy);
        let age = b.context("AGE", Weight::Light);
        let root = b.root("PERSON", &[id]);
        let active = b.cabinet("ACTIVE", Some(root), &[age]);
        let s = b.build().unwrap();
        assert_eq!(s.cabinet(active).contexts, vec![id, age]);
        assert_eq!(s.cabinet_id("ACTIVE"), Some(active));
        assert_eq!(s.cabinet_id("DISARMED"), Some(CabinetId::DISARMED));
        assert!(s.cabinet(active).is_active(id));
        assert!(!s.cabinet(root).is_active(age));
    }

    #[test]
    fn a_repeated_name_is_an_error() {
        let mut b = Schema::builder();
        b.context("X", Weight::Light);
        b.context("X", Weight::Light);
        assert_eq!(b.build().unwrap_err(), SchemaError::Duplicate { kind: "context", name: "X".into() });
    }

    #[test]
    fn spectrum_members_are_listed() {
        let mut b = Schema::builder();
        let a = b.cabinet("A", None, &[]);
        let c = b.cabinet("C", None, &[]);
        let sp = b.spectrum("AC", &[a, c]);
        let s = b.build().unwrap();
        assert_eq!(s.members(sp), vec![a, c]);
        assert_eq!(s.members(a), vec![a]);
    }
}

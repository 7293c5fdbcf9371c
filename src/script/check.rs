//! A script checked against the pipeline it will drive, before anything runs: its node names,
//! forms and conditions, and the words only a replay has (or only a live run).

use super::{Script, ScriptError, Word};
use crate::recorder::PipelineDesc;
use crate::tracer::{CompiledForm, FormError, Inquiry, stage_name};

impl Script {
    /// Check every word against `desc`, for a replay or a live run that starts with `forms`
    /// forms (from `--form`, numbered 1 on): an error names the line.
    pub fn check(&self, desc: &PipelineDesc, replay: bool, forms: usize) -> Result<(), ScriptError> {
        // The numbers the session will give: each new form the next, none ever reused.
        let mut live: Vec<u32> = (1..=forms as u32).collect();
        let mut next = forms as u32 + 1;
        for (line, word) in &self.words {
            let error = |message| ScriptError::Line { origin: self.origin.clone(), line: *line, message };
            check_word(word, desc, replay).map_err(error)?;
            match word {
                Word::Form(_) | Word::FormFile { .. } => {
                    live.push(next);
                    next += 1;
                }
                Word::Ignore { form, .. } | Word::Delete { form } if !live.contains(form) => {
                    return Err(error(no_form(*form, &live)));
                }
                Word::Delete { form } => live.retain(|f| f != form),
                _ => {}
            }
        }
        Ok(())
    }
}

/// Why form `id` is not there to name.
fn no_form(id: u32, live: &[u32]) -> String {
    match live {
        [] => format!("no form {id}: there is none (watch, break, stop-when or form make one)"),
        _ => {
            let ids: Vec<String> = live.iter().map(u32::to_string).collect();
            format!("no form {id} (the forms then: {})", ids.join(", "))
        }
    }
}

fn check_word(word: &Word, desc: &PipelineDesc, replay: bool) -> Result<(), String> {
    let node = |n: &Option<String>| n.as_deref().map_or(Ok(()), |n| known_node(desc, n));
    match word {
        Word::Form(form) => CompiledForm::compile(form, 1, desc, "").map(drop).map_err(|e| match e {
            // The script's line names the form.
            FormError::Field { field, message, .. } => format!("field `{field}`: {message}"),
            e => e.to_string(),
        })?,
        Word::FormFile { form, path } => {
            CompiledForm::compile(form, 1, desc, path).map(drop).map_err(|e| e.to_string())?
        }
        Word::Continue { node: Some(n) } if n.eq_ignore_ascii_case("all") => {}
        Word::Continue { node: n } => node(n)?,
        // `step abc` reads `abc` as a node: say what a count would have been too.
        Word::Step { node: Some(n), .. } | Word::Back { node: Some(n), .. }
            if known_node(desc, n).is_err() =>
        {
            return Err(format!(
                "`{n}` is neither a node ({}) nor a count (a positive integer)",
                desc.nodes.join(", ")
            ));
        }
        Word::Step { .. } | Word::Back { .. } => {}
        Word::Resume { node: n } if !replay => node(n)?,
        Word::Resume { .. } => {
            return Err("a replay has nothing to resume: `continue`, `goto` or `back` move it".into());
        }
        Word::Inquire { node, filter, limit, offset, .. } => {
            known_node(desc, node)?;
            // As the session will state it: the filter and the page size.
            Inquiry::new(desc, None, filter.as_deref(), *offset, *limit)?;
        }
        _ => {}
    }
    let replay_only = match word {
        Word::Back { .. } => Some("back"),
        Word::Goto { .. } | Word::GotoTime { .. } => Some("goto"),
        Word::ReverseContinue => Some("reverse-continue"),
        _ => None,
    };
    match replay_only {
        Some(w) if !replay => Err(format!(
            "`{w}` needs a replay: a live run only goes forward (record it with --trace FILE --level \
             full, then `catar replay FILE --script ...`)"
        )),
        _ => Ok(()),
    }
}

/// A node or stage of the pipeline (which of a stage's nodes is meant is decided when the
/// word runs).
fn known_node(desc: &PipelineDesc, name: &str) -> Result<(), String> {
    let named = |n: &String| n.eq_ignore_ascii_case(name) || stage_name(n).eq_ignore_ascii_case(name);
    if desc.nodes.iter().any(named) {
        Ok(())
    } else {
        Err(format!("no node `{name}` (nodes: {})", desc.nodes.join(", ")))
    }
}

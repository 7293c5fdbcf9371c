//! The script words of SPEC §9, one command a line, `#` comments: a line becomes a [`Word`].
//! Conditions after `where` / `stop-when` are handed whole to the condition parser.

use std::path::PathBuf;

use crate::session::{Command, FormInfo};
use crate::tracer::{StopPolicy, TraceForm};

/// One line of a script (or of the TUI's command line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Word {
    /// `watch cabinet|context …`, `break`, `tbreak`, `stop-when`, `catch failure`: a form to add.
    Form(TraceForm),
    /// `form FILE`: a form to add, read from the file (its errors name the file).
    FormFile {
        /// The form.
        form: TraceForm,
        /// The file, as written.
        path: String,
    },
    /// `ignore FORM N`: let the form's next N hits pass.
    Ignore {
        /// The form's number.
        form: u32,
        /// Hits to let pass.
        count: u64,
    },
    /// `delete FORM`.
    Delete {
        /// The form's number.
        form: u32,
    },
    /// `continue [NODE|all]`: the current node (the last one stopped) by default.
    Continue {
        /// The node, `all`, or the current one.
        node: Option<String>,
    },
    /// `step [N] [NODE]`.
    Step {
        /// Statements to run.
        count: u64,
        /// The node, or the current one.
        node: Option<String>,
    },
    /// `inquire NODE [REACTOR] [where EXPR] [limit N] [offset M]`.
    Inquire {
        /// The node.
        node: String,
        /// One table.
        reactor: Option<String>,
        /// The condition.
        filter: Option<String>,
        /// Rows per page.
        limit: Option<usize>,
        /// Rows to skip.
        offset: usize,
    },
    /// `resume [NODE]`.
    Resume {
        /// The node, or the current one.
        node: Option<String>,
    },
    /// `history NAME=VALUE`: a record's life, read back from the run's full trace.
    History {
        /// NAME=VALUE (reg_id, EVENT_ID, IMSI …).
        id: String,
    },
    /// `back [N] [NODE]` (replay): undo N statements of the node.
    Back {
        /// Statements to undo.
        count: u64,
        /// The node, or the current one.
        node: Option<String>,
    },
    /// `goto STEP` (replay): before the first step numbered STEP or more.
    Goto {
        /// The global step number.
        step: u64,
    },
    /// `goto time T` (replay): after the first step that brings a node's pseudo-time to T
    /// (RFC 3339) or later.
    GotoTime {
        /// The pseudo-time.
        time: jiff::Timestamp,
    },
    /// `reverse-continue` (replay): back to the previous stop of the forms.
    ReverseContinue,
    /// `when` (replay): where the replay stands.
    When,
    /// `halt`.
    Halt,
    /// `nodes`: every node's state.
    Nodes,
    /// `forms`: the forms in force.
    Forms,
}

impl Word {
    /// The session command the word asks for: `current` is the node meant when the word names
    /// none (but a replay's `continue` without one goes to the next stop of any node); `None`
    /// for `forms`, which a client answers itself.
    pub fn command(
        &self,
        current: Option<&str>,
        forms: &[FormInfo],
        replay: bool,
    ) -> Result<Option<Command>, String> {
        let node = |node: &Option<String>, word: &str| {
            node.clone()
                .or_else(|| current.map(String::from))
                .ok_or_else(|| format!("`{word}` needs a node: none has stopped yet"))
        };
        Ok(Some(match self {
            Word::Form(form) | Word::FormFile { form, .. } => Command::AddForm { form: form.clone() },
            Word::Ignore { form, count } => {
                if !forms.iter().any(|f| f.id == *form) {
                    return Err(format!("no form {form}"));
                }
                // Not a replaced form: that would count its hits from 0 again.
                Command::Ignore { id: *form, count: *count }
            }
            Word::Delete { form } => Command::DeleteForm { id: *form },
            Word::Continue { node: Some(n) } if n.eq_ignore_ascii_case("all") => {
                Command::Continue { node: None }
            }
            Word::Continue { node: None } if replay => Command::Continue { node: None },
            Word::Continue { node: n } => {
                Command::Continue { node: n.clone().or_else(|| current.map(String::from)) }
            }
            Word::Step { count, node: n } => Command::Step { node: node(n, "step")?, count: *count },
            Word::Inquire { node, reactor, filter, limit, offset } => Command::Inquire {
                node: node.clone(),
                reactor: reactor.clone(),
                filter: filter.clone(),
                offset: *offset,
                limit: *limit,
            },
            Word::Resume { node: n } => Command::Resume { node: node(n, "resume")? },
            Word::Back { count, node: n } => Command::Back { node: Some(node(n, "back")?), count: *count },
            Word::Goto { step } => Command::Goto { step: *step },
            Word::GotoTime { time } => Command::GotoTime { time: *time },
            Word::ReverseContinue => Command::ReverseContinue,
            Word::When => Command::When,
            Word::Halt => Command::Halt,
            Word::History { id } => Command::History { id: id.clone() },
            Word::Nodes => Command::Snapshot,
            Word::Forms => Command::Forms,
        }))
    }
}

/// A line that is not a command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WordError(pub String);

/// `CONDITION [on NODE]`, as the other forms' words end: a last `on NODE` outside quoted text
/// names the nodes (the condition language has no `on`).
fn condition_on(rest: &str) -> (&str, Option<String>) {
    let rest = rest.trim();
    let (before, node) = last_word(rest);
    let (condition, on) = last_word(before);
    if on.eq_ignore_ascii_case("on") && !node.contains('\'') && condition.matches('\'').count() % 2 == 0 {
        return (condition, Some(node.to_string()));
    }
    (rest, None)
}

/// `line` without its comment: from a `#` that starts a word outside a quoted text (`'a#b'`
/// and `file#2.toml` keep theirs).
fn uncommented(line: &str) -> &str {
    let mut quoted = false;
    let mut after_space = true;
    for (i, c) in line.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '#' if !quoted && after_space => return &line[..i],
            _ => {}
        }
        after_space = c.is_whitespace();
    }
    line
}

/// The text before the last word (trimmed), and the last word.
fn last_word(text: &str) -> (&str, &str) {
    let cut = text.char_indices().rfind(|(_, c)| c.is_whitespace()).map_or(0, |(i, c)| i + c.len_utf8());
    (text[..cut].trim_end(), &text[cut..])
}

/// Parse one line; `None` for a blank line or a comment.
pub fn parse_line(line: &str) -> Result<Option<Word>, WordError> {
    // A file saved with a byte order mark starts with one.
    let line = uncommented(line.trim_start_matches('\u{feff}')).trim();
    if line.is_empty() {
        return Ok(None);
    }
    let (head, rest) = split_word(line);
    let words: Vec<&str> = rest.split_whitespace().collect();
    let err = |m: String| Err(WordError(m));
    let word = match head.to_ascii_lowercase().as_str() {
        "watch" => watch(&words)?,
        "break" | "tbreak" => {
            let (statement, node) = match words.as_slice() {
                [s] => (*s, None),
                [s, on, n] if on.eq_ignore_ascii_case("on") => (*s, Some(n.to_string())),
                _ => return err(format!("usage: {head} STATEMENT [on NODE]")),
            };
            Word::Form(TraceForm {
                statement: Some(statement.into()),
                nodes: node,
                once: head.eq_ignore_ascii_case("tbreak"),
                ..TraceForm::default()
            })
        }
        "catch" => {
            let node = match words.as_slice() {
                [f] if f.eq_ignore_ascii_case("failure") => None,
                [f, on, n] if f.eq_ignore_ascii_case("failure") && on.eq_ignore_ascii_case("on") => {
                    Some(n.to_string())
                }
                _ => return err("usage: catch failure [on NODE]".into()),
            };
            Word::Form(TraceForm { stop: Some(StopPolicy::Failure), nodes: node, ..TraceForm::default() })
        }
        "stop-when" => {
            let (condition, node) = condition_on(rest);
            if condition.is_empty() {
                return err(
                    "usage: stop-when CONDITION [on NODE] (like AMOUNT > 500 AND SERVICE = 'VOICE' on RATE)"
                        .into(),
                );
            }
            Word::Form(TraceForm { when: Some(condition.into()), nodes: node, ..TraceForm::default() })
        }
        "form" => match words.as_slice() {
            [_] => Word::FormFile {
                form: TraceForm::load(&PathBuf::from(rest)).map_err(|e| WordError(e.to_string()))?,
                path: rest.to_string(),
            },
            _ => return err("usage: form FILE".into()),
        },
        "ignore" => match words.as_slice() {
            [f, n] => Word::Ignore { form: number(f, "form")?, count: number(n, "count")? },
            _ => return err("usage: ignore FORM COUNT".into()),
        },
        "delete" => match words.as_slice() {
            [f] => Word::Delete { form: number(f, "form")? },
            _ => return err("usage: delete FORM".into()),
        },
        "continue" | "c" => match words.as_slice() {
            [] => Word::Continue { node: None },
            [n] => Word::Continue { node: Some(n.to_string()) },
            _ => return err("usage: continue [NODE|all]".into()),
        },
        "step" | "s" => match words.as_slice() {
            [] => Word::Step { count: 1, node: None },
            [n] if is_integer(n) => Word::Step { count: count(n)?, node: None },
            [node] => Word::Step { count: 1, node: Some(node.to_string()) },
            [n, node] => Word::Step { count: count(n)?, node: Some(node.to_string()) },
            _ => return err("usage: step [N] [NODE]".into()),
        },
        "inquire" | "i" => inquire(rest)?,
        "resume" => match words.as_slice() {
            [] => Word::Resume { node: None },
            [n] => Word::Resume { node: Some(n.to_string()) },
            _ => return err("usage: resume [NODE]".into()),
        },
        "history" => match words.as_slice() {
            [id] if id.contains('=') => Word::History { id: id.to_string() },
            _ => return err("usage: history NAME=VALUE (reg_id=44, EVENT_ID=EV000000042, IMSI=…)".into()),
        },
        "back" => match words.as_slice() {
            [] => Word::Back { count: 1, node: None },
            [n] if is_integer(n) => Word::Back { count: count(n)?, node: None },
            [node] => Word::Back { count: 1, node: Some(node.to_string()) },
            [n, node] => Word::Back { count: count(n)?, node: Some(node.to_string()) },
            _ => return err("usage: back [N] [NODE]".into()),
        },
        "goto" => match words.as_slice() {
            [t, time] if t.eq_ignore_ascii_case("time") => Word::GotoTime {
                time: time.parse().map_err(|e| {
                    // The parser's reason helps with a date it read (`2026-02-30`), not with a word.
                    let why = if time.starts_with(|c: char| c.is_ascii_digit()) {
                        format!(": {e}")
                    } else {
                        String::new()
                    };
                    WordError(format!(
                        "goto time: `{time}` is not an RFC 3339 time like 2026-03-01T12:00:00Z{why}"
                    ))
                })?,
            },
            // The ends by name: the first step, or past the last (the replay lands at its end).
            [n] if n.eq_ignore_ascii_case("start") => Word::Goto { step: 0 },
            [n] if n.eq_ignore_ascii_case("end") => Word::Goto { step: u64::MAX },
            [n] => Word::Goto {
                step: number(n, "step").map_err(|e| {
                    WordError(format!(
                        "{}: usage: goto STEP | goto start | goto end | goto time RFC3339",
                        e.0
                    ))
                })?,
            },
            _ => return err("usage: goto STEP | goto start | goto end | goto time RFC3339".into()),
        },
        "halt" | "nodes" | "info" | "forms" | "reverse-continue" | "rc" | "when" if !words.is_empty() => {
            return err(format!("usage: {head} (it takes no arguments)"));
        }
        "halt" => Word::Halt,
        "nodes" | "info" => Word::Nodes,
        "forms" => Word::Forms,
        "reverse-continue" | "rc" => Word::ReverseContinue,
        "when" => Word::When,
        _ => {
            return err(format!(
                "unknown command `{head}` (words: watch, break, tbreak, stop-when, catch, form, ignore, delete, continue, step, inquire, resume, history, halt, nodes, forms, when; in a replay also back, goto, reverse-continue)"
            ));
        }
    };
    Ok(Some(word))
}

/// The first word and the rest of the line, trimmed.
fn split_word(s: &str) -> (&str, &str) {
    let s = s.trim();
    match s.find(char::is_whitespace) {
        Some(i) => (&s[..i], s[i..].trim()),
        None => (s, ""),
    }
}

fn number<T: std::str::FromStr>(s: &str, what: &str) -> Result<T, WordError> {
    s.parse().map_err(|_| WordError(format!("`{s}` is not a whole number ({what})")))
}

/// How many steps: one at least (`step 0` would move anyway, as gdb's does not).
fn count(s: &str) -> Result<u64, WordError> {
    match s.parse() {
        Ok(0) => Err(WordError("a count of 0 moves nothing: give 1 or more".into())),
        Ok(n) => Ok(n),
        Err(_) => Err(WordError(format!("`{s}` is not a count: a count is a positive integer"))),
    }
}

/// An integer of any sign or size: a count, right or wrong, never a node (`step -1`).
fn is_integer(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// `watch cabinet NAME [on NODE] [arrival|departure|mass]`,
/// `watch context NAME [in CABINET] [on NODE] [arrival|departure]`.
fn watch(words: &[&str]) -> Result<Word, WordError> {
    let usage = || {
        WordError(
            "usage: watch cabinet NAME [on NODE] [arrival|departure|mass] | watch context NAME [in CABINET] [on NODE] [arrival|departure]"
                .into(),
        )
    };
    let [kind, name, options @ ..] = words else { return Err(usage()) };
    let mut form = TraceForm::default();
    match kind.to_ascii_lowercase().as_str() {
        "cabinet" => form.cabinets.push(name.to_string()),
        "context" => form.contexts.push(name.to_string()),
        _ => return Err(usage()),
    }
    let mut rest = options;
    while let Some((w, tail)) = rest.split_first() {
        match (w.to_ascii_lowercase().as_str(), tail) {
            ("on", [node, more @ ..]) => {
                form.nodes = Some(node.to_string());
                rest = more;
            }
            ("in", [cabinet, more @ ..]) if !form.contexts.is_empty() => {
                form.cabinets.push(cabinet.to_string());
                rest = more;
            }
            ("arrival", more) => (form.stop, rest) = (Some(StopPolicy::Arrival), more),
            ("departure", more) => (form.stop, rest) = (Some(StopPolicy::Departure), more),
            ("mass", more) if form.contexts.is_empty() => (form.stop, rest) = (Some(StopPolicy::Mass), more),
            _ => return Err(usage()),
        }
    }
    Ok(Word::Form(form))
}

/// `inquire NODE [REACTOR] [where EXPR] [limit N] [offset M]`.
fn inquire(rest: &str) -> Result<Word, WordError> {
    let usage = || WordError("usage: inquire NODE [REACTOR] [where CONDITION] [limit N] [offset M]".into());
    let (node, rest) = split_word(rest);
    if node.is_empty() {
        return Err(usage());
    }
    // Paging words come last: peel them off the end so the condition keeps its own text (a
    // `limit` inside a quoted text is the condition's).
    let mut text = rest;
    let (mut limit, mut offset) = (None, 0);
    loop {
        let (before, v) = last_word(text);
        let (head, k) = last_word(before);
        if v.contains('\'') || head.matches('\'').count() % 2 != 0 {
            break;
        }
        match k.to_ascii_lowercase().as_str() {
            "limit" if limit.is_none() => limit = Some(number(v, "limit")?),
            "offset" => offset = number(v, "offset")?,
            _ => break,
        }
        text = head;
    }
    let (first, more) = split_word(text);
    let (reactor, filter) = if first.is_empty() {
        (None, None)
    } else if first.eq_ignore_ascii_case("where") {
        (None, Some(more.to_string()))
    } else {
        match split_word(more) {
            ("", _) => (Some(first.to_string()), None),
            (w, condition) if w.eq_ignore_ascii_case("where") => {
                (Some(first.to_string()), Some(condition.to_string()))
            }
            _ => return Err(usage()),
        }
    };
    if filter.as_deref() == Some("") {
        return Err(WordError("`where` needs a condition".into()));
    }
    Ok(Word::Inquire { node: node.into(), reactor, filter, limit, offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(s: &str) -> Word {
        parse_line(s).unwrap().unwrap()
    }

    #[test]
    fn every_word_parses() {
        assert_eq!(word("history EVENT_ID=EV1"), Word::History { id: "EVENT_ID=EV1".into() });
        assert!(parse_line("history EV1").is_err());
        let Word::Form(f) = word("watch cabinet WIFE on RATE/0 departure") else { panic!() };
        assert_eq!(
            (f.cabinets, f.nodes, f.stop),
            (vec!["WIFE".into()], Some("RATE/0".into()), Some(StopPolicy::Departure))
        );
        let Word::Form(f) = word("watch context WIFE_NAME in PERSISTENT") else { panic!() };
        assert_eq!((f.contexts, f.cabinets), (vec!["WIFE_NAME".into()], vec!["PERSISTENT".into()]));
        let Word::Form(f) = word("tbreak rate-voice on RATE") else { panic!() };
        assert!(f.once && f.statement.as_deref() == Some("rate-voice"));
        let Word::Form(f) = word("stop-when AMOUNT > 500 AND SERVICE = 'VOICE'") else { panic!() };
        assert_eq!(f.when.as_deref(), Some("AMOUNT > 500 AND SERVICE = 'VOICE'"));
        assert_eq!(f.nodes, None);
        let Word::Form(f) = word("stop-when AMOUNT > 500 AND SERVICE = 'VOICE'  ON  RATE/1") else {
            panic!()
        };
        assert_eq!(
            (f.when.as_deref(), f.nodes.as_deref()),
            (Some("AMOUNT > 500 AND SERVICE = 'VOICE'"), Some("RATE/1"))
        );
        // An `on` inside quoted text is the condition's.
        let Word::Form(f) = word("stop-when NOTE = 'hold on RATE'") else { panic!() };
        assert_eq!((f.when.as_deref(), f.nodes), (Some("NOTE = 'hold on RATE'"), None));
        let Word::Form(f) = word("stop-when NOTE = 'hold on' on DIS") else { panic!() };
        assert_eq!((f.when.as_deref(), f.nodes.as_deref()), (Some("NOTE = 'hold on'"), Some("DIS")));
        assert!(parse_line("stop-when on RATE").is_err());
        let Word::Form(f) = word("stop-when A = 1\u{a0}on\u{2003}RATE") else { panic!() };
        assert_eq!((f.when.as_deref(), f.nodes.as_deref()), (Some("A = 1"), Some("RATE")));
        assert_eq!(word("step"), Word::Step { count: 1, node: None });
        assert_eq!(word("step 3 RATE/1"), Word::Step { count: 3, node: Some("RATE/1".into()) });
        assert_eq!(word("continue all"), Word::Continue { node: Some("all".into()) });
        assert_eq!(word("ignore 2 10"), Word::Ignore { form: 2, count: 10 });
        assert_eq!(
            word("inquire RATE/0 driving where AMOUNT > 5 and SERVICE = 'SMS' limit 3 offset 6"),
            Word::Inquire {
                node: "RATE/0".into(),
                reactor: Some("driving".into()),
                filter: Some("AMOUNT > 5 and SERVICE = 'SMS'".into()),
                limit: Some(3),
                offset: 6,
            }
        );
        assert_eq!(
            word("inquire RATE where CABINET = 'WIFE'"),
            Word::Inquire {
                node: "RATE".into(),
                reactor: None,
                filter: Some("CABINET = 'WIFE'".into()),
                limit: None,
                offset: 0
            }
        );
        assert_eq!(parse_line("  # a comment").unwrap(), None);
        // Paging words inside a quoted text are the condition's, its spacing kept.
        assert_eq!(
            word("inquire RATE where WIFE_NAME = 'a  limit 2' offset 4 # the second page"),
            Word::Inquire {
                node: "RATE".into(),
                reactor: None,
                filter: Some("WIFE_NAME = 'a  limit 2'".into()),
                limit: None,
                offset: 4
            }
        );
        assert_eq!(
            word("inquire RATE where NOTE = 'x # y' limit 2"),
            Word::Inquire {
                node: "RATE".into(),
                reactor: None,
                filter: Some("NOTE = 'x # y'".into()),
                limit: Some(2),
                offset: 0
            }
        );
        assert_eq!(word("\u{feff}step 2  # comment"), Word::Step { count: 2, node: None });
        assert!(parse_line("halt#inside a word").is_err(), "a `#` inside a word is the word's");
        assert_eq!(word("halt"), Word::Halt);
        assert_eq!(
            word("catch failure on RATE"),
            Word::Form(TraceForm {
                stop: Some(StopPolicy::Failure),
                nodes: Some("RATE".into()),
                ..TraceForm::default()
            })
        );
    }

    #[test]
    fn wrong_lines_say_what_is_expected() {
        let err = |s: &str| parse_line(s).unwrap_err().0;
        assert!(err("watch").starts_with("usage: watch"));
        assert!(err("frobnicate").contains("unknown command `frobnicate`"));
        assert!(err("back x y").contains("not a count"));
        assert!(err("goto time yesterday").ends_with("is not an RFC 3339 time like 2026-03-01T12:00:00Z"));
        assert!(err("goto time 2026-02-30T00:00:00Z").contains("like 2026-03-01T12:00:00Z: "));
        assert!(err("goto").starts_with("usage: goto"));
        assert_eq!(parse_line("goto start").unwrap(), Some(Word::Goto { step: 0 }));
        assert_eq!(parse_line("goto END").unwrap(), Some(Word::Goto { step: u64::MAX }));
        assert!(err("when now").starts_with("usage: when"));
        assert!(err("step x y").contains("not a count"));
        assert!(err("step 0").contains("a count of 0"));
        // A negative or oversized count is a wrong count, not a node's name.
        for line in ["step -1", "back -3 RATE/0", "step 99999999999999999999", "back -1"] {
            assert!(err(line).contains("is not a count: a count is a positive integer"), "{line}");
        }
        assert_eq!(word("step +2"), Word::Step { count: 2, node: None });
        assert!(err("back 0 RATE/0").contains("a count of 0"));
        assert!(err("inquire").starts_with("usage: inquire"));
        assert!(err("inquire RATE/0 where").contains("needs a condition"));
        assert!(err("form /nonexistent/form.toml").contains("cannot read trace form"));
        assert!(err("halt now").starts_with("usage: halt"));
        assert!(err("catch fire").starts_with("usage: catch failure"));
    }
}

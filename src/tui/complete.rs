//! Completion on the command line: the first word among the script words, later ones among
//! the names the session knows (nodes, stages, cabinets, contexts, statements, tables) and the
//! words that go between them.

use super::state::App;

/// The script words a line starts with.
const WORDS: &[&str] = &[
    "watch",
    "break",
    "tbreak",
    "stop-when",
    "catch",
    "form",
    "ignore",
    "delete",
    "continue",
    "step",
    "inquire",
    "halt",
    "nodes",
    "forms",
    "history",
    "when",
    // The command line's own: the keys' `q` and `?`.
    "quit",
    "help",
];

/// The words only a replay takes.
const REPLAY_WORDS: &[&str] = &["back", "goto", "reverse-continue"];

/// The words only a live run takes.
const LIVE_WORDS: &[&str] = &["resume"];

/// Words that go between names.
const LINKS: &[&str] = &[
    "cabinet",
    "context",
    "on",
    "in",
    "where",
    "limit",
    "offset",
    "all",
    "arrival",
    "departure",
    "mass",
    "failure",
];

/// Every name a word after the first can be.
fn names(app: &App) -> Vec<String> {
    let p = &app.program;
    let mut out: Vec<String> = LINKS.iter().map(|w| w.to_string()).collect();
    out.extend(p.nodes.iter().cloned());
    for s in &p.stages {
        out.push(s.name.clone());
        out.extend(s.statements.iter().map(|st| st.name.clone()));
        out.extend(s.tables.iter().map(|(t, _)| t.clone()));
    }
    out.extend(p.cabinets.iter().map(|c| c.name.clone()));
    out.extend(p.contexts.iter().map(|c| c.name.clone()));
    let mut seen = std::collections::HashSet::new();
    out.retain(|n| seen.insert(n.clone()));
    out
}

/// The names that fit where a word stands, from the words before it (`break` takes a
/// statement, `on` a node, `in` a cabinet …); every name when nothing narrows it.
fn pool(before: &[&str], app: &App) -> Vec<String> {
    let p = &app.program;
    let nodes = || p.nodes.iter().cloned().chain(p.stages.iter().map(|s| s.name.clone())).collect::<Vec<_>>();
    let cabinets = || p.cabinets.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let contexts = || p.contexts.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    let words = |w: &[&str]| w.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let first = before.first().map(|w| w.to_ascii_lowercase()).unwrap_or_default();
    let last = before.last().map(|w| w.to_ascii_lowercase()).unwrap_or_default();
    match (first.as_str(), before.len(), last.as_str()) {
        (_, _, "on") => nodes(),
        (_, _, "in") | ("watch", 2, "cabinet") => cabinets(),
        ("watch", 2, "context") => contexts(),
        ("watch", 1, _) => words(&["cabinet", "context"]),
        // After the name, the watch's options: a context's `in`, a cabinet's `mass`.
        ("watch", _, _) if before[1].eq_ignore_ascii_case("context") => {
            words(&["in", "on", "arrival", "departure"])
        }
        ("watch", _, _) => words(&["on", "arrival", "departure", "mass"]),
        ("break" | "tbreak", 2, _) => words(&["on"]),
        ("catch", 1, _) => words(&["failure"]),
        ("catch", 2, _) => words(&["on"]),
        ("break" | "tbreak", 1, _) => {
            p.stages.iter().flat_map(|s| s.statements.iter().map(|st| st.name.clone())).collect()
        }
        ("step" | "continue" | "resume" | "back" | "inquire", 1, _) => nodes(),
        // `step N NODE`, `back N NODE`.
        ("step" | "back", 2, n) if n.parse::<u64>().is_ok() => nodes(),
        // Nothing more follows a motion's node.
        ("step" | "continue" | "resume" | "back", _, _) => Vec::new(),
        ("goto", 1, _) => words(&["start", "end", "time"]),
        // `delete FORM`, `ignore FORM N`: the forms' numbers.
        ("delete" | "ignore", 1, _) => app.forms.iter().map(|f| f.id.to_string()).collect(),
        ("delete" | "ignore", _, _) => Vec::new(),
        ("inquire", 2, _) => {
            let tables = p.stages.iter().flat_map(|s| s.tables.iter().map(|(t, _)| t.clone()));
            tables.chain(cabinets()).chain(words(&["where"])).collect()
        }
        // A condition names contexts.
        ("stop-when", _, _) | (_, _, "where" | "and" | "or" | "not") => {
            contexts().into_iter().chain(words(&["CABINET", "REG_ID", "AND", "OR", "NOT"])).collect()
        }
        ("history", 1, _) => contexts().into_iter().chain(words(&["reg_id"])).collect(),
        _ => names(app),
    }
}

/// Complete the line's last word: the line with it completed as far as it is unambiguous, and
/// the candidates when there are several.
pub fn complete(line: &str, app: &App) -> (String, Vec<String>) {
    let start = line.rfind(' ').map_or(0, |i| i + 1);
    let (head, word) = line.split_at(start);
    let before: Vec<&str> = head.split_whitespace().collect();
    let own = if app.replay { REPLAY_WORDS } else { LIVE_WORDS };
    let mut pool: Vec<String> = match start {
        0 => WORDS.iter().chain(own).map(|w| w.to_string()).collect(),
        _ => pool(&before, app),
    };
    let mut seen = std::collections::HashSet::new();
    pool.retain(|n| seen.insert(n.clone()));
    let lower = word.to_lowercase();
    let mut hits: Vec<String> = pool.into_iter().filter(|n| n.to_lowercase().starts_with(&lower)).collect();
    hits.sort();
    match hits.as_slice() {
        [] => (line.to_string(), Vec::new()),
        [one] => (format!("{head}{one} "), Vec::new()),
        many => {
            let mut prefix = many[0].clone();
            for h in &many[1..] {
                let common =
                    prefix.chars().zip(h.chars()).take_while(|(a, b)| a.eq_ignore_ascii_case(b)).count();
                prefix = prefix.chars().take(common).collect();
            }
            // Keep what was typed when the shared prefix is no longer than it.
            let text = if prefix.len() > word.len() { format!("{head}{prefix}") } else { line.to_string() };
            (text, hits)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recorder::{CabinetDesc, ContextDesc, PipelineDesc, StageDesc, StatementDesc};

    fn app() -> App {
        let mut app = App::new("test", false);
        let cabinet = |n: &str| CabinetDesc {
            name: n.into(),
            kind: "regular".into(),
            base: None,
            members: vec![],
            contexts: vec![],
        };
        app.program = PipelineDesc {
            contexts: vec![ContextDesc { name: "WIFE_NAME".into(), heavy: false }],
            cabinets: vec![cabinet("WIFE"), cabinet("RATED")],
            stages: vec![StageDesc {
                name: "RATE".into(),
                segments: 2,
                statements: vec![StatementDesc {
                    name: "rate-family".into(),
                    op: "arm".into(),
                    text: String::new(),
                }],
                tables: vec![],
            }],
            nodes: vec!["RATE/0".into(), "RATE/1".into()],
        };
        app
    }

    #[test]
    fn words_then_names_complete() {
        let app = app();
        assert_eq!(complete("inq", &app), ("inquire ".to_string(), vec![]));
        // Only the names that fit there: a cabinet after `watch cabinet`, a statement after
        // `break`, a node after `on`.
        assert_eq!(complete("watch cabinet WI", &app).0, "watch cabinet WIFE ");
        assert_eq!(complete("watch context WI", &app).0, "watch context WIFE_NAME ");
        assert_eq!(complete("break ra", &app).0, "break rate-family ");
        assert_eq!(
            complete("break rate-family on RATE/", &app).1,
            vec!["RATE/0".to_string(), "RATE/1".to_string()]
        );
        assert_eq!(complete("stop-when WI", &app).0, "stop-when WIFE_NAME ");
        let (text, options) = complete("inquire RATE/", &app);
        assert_eq!(text, "inquire RATE/");
        assert_eq!(options, vec!["RATE/0".to_string(), "RATE/1".to_string()]);
        assert_eq!(complete("break rate-f", &app).0, "break rate-family ");
        assert_eq!(complete("nothing-like-it", &app), ("nothing-like-it".to_string(), vec![]));
        // A count then a node; after the node nothing (it offered every name there).
        assert_eq!(complete("step 3 RATE/", &app).1, vec!["RATE/0".to_string(), "RATE/1".to_string()]);
        assert_eq!(complete("step 3 RATE/0 W", &app), ("step 3 RATE/0 W".to_string(), vec![]));
        // A replay's words in a replay, a live run's in a live run.
        assert_eq!(complete("go", &app).0, "go");
        assert_eq!(complete("res", &app).0, "resume ");
        let mut replay = app;
        replay.replay = true;
        assert_eq!(complete("go", &replay).0, "goto ");
        assert_eq!(complete("goto s", &replay).0, "goto start ");
        assert_eq!(complete("res", &replay).0, "res");
        // After a watch's name, its options: a context's `in` then a cabinet, then `on`.
        let context = complete("watch context WIFE_NAME ", &replay).1;
        assert_eq!(context, ["arrival", "departure", "in", "on"].map(String::from));
        assert_eq!(complete("watch context WIFE_NAME in W", &replay).0, "watch context WIFE_NAME in WIFE ");
        assert_eq!(
            complete("watch context WIFE_NAME in WIFE o", &replay).0,
            "watch context WIFE_NAME in WIFE on "
        );
        assert_eq!(complete("watch cabinet WIFE m", &replay).0, "watch cabinet WIFE mass ");
        assert_eq!(complete("break rate-family o", &replay).0, "break rate-family on ");
        assert_eq!(complete("catch f", &replay).0, "catch failure ");
        // `delete` and `ignore` take a form's number (every name was offered).
        let form = |id: u32| crate::session::FormInfo {
            id,
            label: String::new(),
            hits: 0,
            form: crate::tracer::TraceForm::default(),
        };
        replay.forms = vec![form(1), form(12)];
        assert_eq!(complete("delete ", &replay).1, ["1", "12"].map(String::from));
        assert_eq!(complete("ignore 1", &replay).1, ["1", "12"].map(String::from));
        assert_eq!(complete("ignore 12 ", &replay), ("ignore 12 ".to_string(), vec![]));
    }
}

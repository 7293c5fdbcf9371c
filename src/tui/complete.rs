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
    "resume",
    "halt",
    "nodes",
    "forms",
    "history",
    // A replay's own.
    "back",
    "goto",
    "reverse-continue",
    "when",
];

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

/// Complete the line's last word: the line with it completed as far as it is unambiguous, and
/// the candidates when there are several.
pub fn complete(line: &str, app: &App) -> (String, Vec<String>) {
    let start = line.rfind(' ').map_or(0, |i| i + 1);
    let (head, word) = line.split_at(start);
    let pool: Vec<String> =
        if start == 0 { WORDS.iter().map(|w| w.to_string()).collect() } else { names(app) };
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
        assert_eq!(complete("watch cabinet WI", &app).0, "watch cabinet WIFE");
        let (text, options) = complete("inquire RATE/", &app);
        assert_eq!(text, "inquire RATE/");
        assert_eq!(options, vec!["RATE/0".to_string(), "RATE/1".to_string()]);
        assert_eq!(complete("break rate-f", &app).0, "break rate-family ");
        assert_eq!(complete("nothing-like-it", &app), ("nothing-like-it".to_string(), vec![]));
    }
}

//! Conditions over a record's contexts in SQL `WHERE` syntax (`AMOUNT > 500 AND SERVICE =
//! 'VOICE'`): parsed by sqlparser, resolved against the pipeline's names once, evaluated here
//! with SQL's three-valued logic (an empty context is NULL).

use std::cmp::Ordering;
use std::fmt;
use std::sync::Arc;

use jiff::Timestamp;
use sqlparser::ast::{BinaryOperator, Expr, UnaryOperator, Value as SqlValue};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;
use sqlparser::tokenizer::Token;

use crate::model::{ContextId, Record, Value};
use crate::recorder::PipelineDesc;

/// Nesting deeper than this is refused (hostile input must not exhaust the stack).
const MAX_DEPTH: usize = 64;

/// A condition that cannot be used, with why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("condition `{text}`: {message}")]
pub struct ConditionError {
    /// The condition as written.
    pub text: String,
    /// What is wrong.
    pub message: String,
}

/// A parsed, resolved condition.
#[derive(Clone, Debug)]
pub struct Condition {
    text: String,
    root: Cond,
    cabinets: Arc<[String]>,
    contexts: Arc<[String]>,
}

#[derive(Clone, Debug)]
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Compare(Operand, BinaryOperator, Operand),
    IsNull(Operand, bool),
    In(Operand, Vec<Operand>, bool),
    Between(Operand, Operand, Operand, bool),
    Like(Operand, Operand, bool, bool),
}

#[derive(Clone, Debug)]
enum Operand {
    Context(ContextId),
    Cabinet,
    RegId,
    Int(i64),
    Float(f64),
    Text(String),
    Null,
}

/// A value as a condition sees it.
#[derive(Clone, Debug, PartialEq)]
enum Scalar<'a> {
    Null,
    Int(i64),
    Float(f64),
    Text(&'a str),
    Time(Timestamp),
}

impl Condition {
    /// Parse `text` and resolve its names against the pipeline: contexts by name (any case),
    /// plus `CABINET` (the record's cabinet name) and `REG_ID`.
    pub fn parse(text: &str, desc: &PipelineDesc) -> Result<Condition, ConditionError> {
        let error = |message: String| ConditionError { text: text.into(), message };
        let mut parser = Parser::new(&GenericDialect {})
            .with_recursion_limit(MAX_DEPTH)
            .try_with_sql(text)
            .map_err(|e| error(e.to_string()))?;
        let expr = parser.parse_expr().map_err(|e| error(e.to_string()))?;
        let next = parser.peek_token();
        if next.token != Token::EOF {
            return Err(error(format!("unexpected `{}` after the condition", next.token)));
        }
        let names = Names { desc };
        let root = names.condition(&expr).map_err(error)?;
        let cabinets = desc.cabinets.iter().map(|c| c.name.clone()).collect();
        let contexts = desc.contexts.iter().map(|c| c.name.clone()).collect();
        Ok(Condition { text: text.into(), root, cabinets, contexts })
    }

    /// The condition as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// True when the record satisfies it (NULL counts as not satisfied, as in SQL).
    pub fn matches(&self, record: &Record) -> bool {
        self.eval(&self.root, record, &mut None) == Some(true)
    }

    /// As [`Condition::matches`], but a context compared with a value of a type it can never
    /// compare with (`AMOUNT > 'abc'` where AMOUNT holds integers) is an error naming both,
    /// not a row that silently does not match.
    pub fn try_matches(&self, record: &Record) -> Result<bool, ConditionError> {
        let mut mismatch = None;
        let found = self.eval(&self.root, record, &mut mismatch) == Some(true);
        match mismatch {
            None => Ok(found),
            Some(message) => Err(ConditionError { text: self.text.clone(), message }),
        }
    }

    /// SQL's three-valued truth; `mismatch` gets the first comparison that is unknown because
    /// of the types compared, not the values.
    fn eval(&self, c: &Cond, r: &Record, mismatch: &mut Option<String>) -> Option<bool> {
        let mut cmp = |a: &Operand, b: &Operand| {
            let (x, y) = (self.value(a, r), self.value(b, r));
            let ord = compare(&x, &y);
            if ord.is_none() && mismatch.is_none() {
                *mismatch = self.mismatch(a, &x, b).or_else(|| self.mismatch(b, &y, a));
            }
            ord
        };
        match c {
            Cond::And(a, b) => match (self.eval(a, r, mismatch), self.eval(b, r, mismatch)) {
                (Some(false), _) | (_, Some(false)) => Some(false),
                (Some(true), Some(true)) => Some(true),
                _ => None,
            },
            Cond::Or(a, b) => match (self.eval(a, r, mismatch), self.eval(b, r, mismatch)) {
                (Some(true), _) | (_, Some(true)) => Some(true),
                (Some(false), Some(false)) => Some(false),
                _ => None,
            },
            Cond::Not(a) => self.eval(a, r, mismatch).map(|v| !v),
            Cond::Compare(a, op, b) => {
                let ord = cmp(a, b)?;
                Some(match op {
                    BinaryOperator::Eq => ord == Ordering::Equal,
                    BinaryOperator::NotEq => ord != Ordering::Equal,
                    BinaryOperator::Lt => ord == Ordering::Less,
                    BinaryOperator::LtEq => ord != Ordering::Greater,
                    BinaryOperator::Gt => ord == Ordering::Greater,
                    _ => ord != Ordering::Less,
                })
            }
            Cond::IsNull(a, negated) => Some((self.value(a, r) == Scalar::Null) != *negated),
            Cond::In(a, list, negated) => {
                let mut unknown = false;
                for item in list {
                    match cmp(a, item) {
                        Some(Ordering::Equal) => return Some(!negated),
                        None => unknown = true,
                        _ => {}
                    }
                }
                if unknown { None } else { Some(*negated) }
            }
            Cond::Between(a, low, high, negated) => {
                let (lo, hi) = (cmp(a, low), cmp(a, high));
                Some((lo? != Ordering::Less && hi? != Ordering::Greater) != *negated)
            }
            Cond::Like(a, pattern, case_blind, negated) => {
                let (v, p) = (self.value(a, r), self.value(pattern, r));
                let (Some(v), Some(p)) = (as_text(&v), as_text(&p)) else { return None };
                let found =
                    if *case_blind { like(&v.to_lowercase(), &p.to_lowercase()) } else { like(&v, &p) };
                Some(found != *negated)
            }
        }
    }

    fn value<'a>(&'a self, o: &'a Operand, r: &'a Record) -> Scalar<'a> {
        match o {
            Operand::Context(id) => match r.get(*id) {
                Value::Empty => Scalar::Null,
                Value::Int(i) => Scalar::Int(*i),
                Value::Text(t) => Scalar::Text(t),
                Value::Time(t) => Scalar::Time(*t),
            },
            Operand::Cabinet => {
                self.cabinets.get(r.header.cabinet.index()).map_or(Scalar::Null, |n| Scalar::Text(n))
            }
            Operand::RegId => Scalar::Int(r.header.reg_id as i64),
            Operand::Int(i) => Scalar::Int(*i),
            Operand::Float(f) => Scalar::Float(*f),
            Operand::Text(t) => Scalar::Text(t),
            Operand::Null => Scalar::Null,
        }
    }

    /// Why `field`, holding `value`, never compares with `literal`; none when it may. A text
    /// context compares with a number while its text reads as that number exactly (`IMSI =
    /// 425010000000001`); text that does not (`SERVICE <> 5`, `PARTY = 972521234567` where
    /// PARTY holds '+972521234567') is a mismatch, not SQL's silent unknown.
    fn mismatch(&self, field: &Operand, value: &Scalar<'_>, literal: &Operand) -> Option<String> {
        let name = match field {
            Operand::Context(id) => self.contexts.get(id.slot())?.as_str(),
            Operand::RegId => "REG_ID",
            _ => return None,
        };
        let number = match literal {
            Operand::Int(i) => Some(i.to_string()),
            Operand::Float(f) => Some(f.to_string()),
            _ => None,
        };
        let (holds, like, literal) = match (value, literal) {
            (Scalar::Int(_), Operand::Text(t)) if read_int(t).is_none() => (
                "integers".to_string(),
                "a number, like 500".to_string(),
                format!("'{t}' is text that does not read as one"),
            ),
            (Scalar::Time(_), Operand::Text(t)) if parse_time(t).is_none() => {
                ("times".into(), TIME_EXAMPLE.into(), format!("'{t}' is text that does not read as one"))
            }
            (Scalar::Time(_), _) if number.is_some() => {
                ("times".into(), TIME_EXAMPLE.into(), format!("{} is a number", number?))
            }
            (Scalar::Text(v), _) if number.is_some() && read_int(v).is_none() => {
                (format!("text ('{v}')"), format!("text, like '{v}'"), format!("{} is a number", number?))
            }
            _ => return None,
        };
        Some(format!("{name} holds {holds} and {literal}: they never compare (write {like})"))
    }
}

const TIME_EXAMPLE: &str = "an RFC 3339 time, like '2026-03-01T12:00:00Z'";

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn as_text(s: &Scalar<'_>) -> Option<String> {
    match s {
        Scalar::Null => None,
        Scalar::Int(i) => Some(i.to_string()),
        Scalar::Float(f) => Some(f.to_string()),
        Scalar::Text(t) => Some(t.to_string()),
        Scalar::Time(t) => Some(t.to_string()),
    }
}

/// SQL's comparison: numbers with numbers, text with text, times with times or with text that
/// reads as a time; NULL or a mismatch compares as unknown.
fn compare(a: &Scalar<'_>, b: &Scalar<'_>) -> Option<Ordering> {
    use Scalar::*;
    match (a, b) {
        (Int(x), Int(y)) => Some(x.cmp(y)),
        (Int(x), Float(y)) => (*x as f64).partial_cmp(y),
        (Float(x), Int(y)) => x.partial_cmp(&(*y as f64)),
        (Float(x), Float(y)) => x.partial_cmp(y),
        (Text(x), Text(y)) => Some(x.cmp(y)),
        (Time(x), Time(y)) => Some(x.cmp(y)),
        (Time(x), Text(y)) => parse_time(y).map(|y| x.cmp(&y)),
        (Text(x), Time(y)) => parse_time(x).map(|x| x.cmp(y)),
        (Int(x), Text(y)) => read_int(y).map(|y| x.cmp(&y)),
        (Text(x), Int(y)) => read_int(x).map(|x| x.cmp(y)),
        _ => None,
    }
}

/// The integer a text spells exactly (`425010000000001`; not `+9725…`, `007` or ` 5`).
fn read_int(s: &str) -> Option<i64> {
    s.parse::<i64>().ok().filter(|n| n.to_string() == s)
}

/// An RFC 3339 instant, or a civil date-time or date taken as UTC.
fn parse_time(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok().or_else(|| {
        let dt = s.parse::<jiff::civil::DateTime>().ok()?;
        dt.to_zoned(jiff::tz::TimeZone::UTC).ok().map(|z| z.timestamp())
    })
}

/// SQL LIKE: `%` any run of characters, `_` one character.
fn like(value: &str, pattern: &str) -> bool {
    let v: Vec<char> = value.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // Dynamic programming over (pattern prefix, value prefix): linear memory, no recursion.
    let mut row = vec![false; v.len() + 1];
    row[0] = true;
    for &pc in &p {
        let mut next = vec![false; v.len() + 1];
        if pc == '%' {
            let mut any = false;
            for i in 0..=v.len() {
                any |= row[i];
                next[i] = any;
            }
        } else {
            for i in 0..v.len() {
                next[i + 1] = row[i] && (pc == '_' || pc == v[i]);
            }
        }
        row = next;
    }
    row[v.len()]
}

struct Names<'a> {
    desc: &'a PipelineDesc,
}

impl Names<'_> {
    fn condition(&self, e: &Expr) -> Result<Cond, String> {
        Ok(match e {
            Expr::Nested(inner) => self.condition(inner)?,
            Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
                Cond::And(Box::new(self.condition(left)?), Box::new(self.condition(right)?))
            }
            Expr::BinaryOp { left, op: BinaryOperator::Or, right } => {
                Cond::Or(Box::new(self.condition(left)?), Box::new(self.condition(right)?))
            }
            Expr::UnaryOp { op: UnaryOperator::Not, expr } => Cond::Not(Box::new(self.condition(expr)?)),
            Expr::BinaryOp { left, op, right } => match op {
                BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq => {
                    Cond::Compare(self.operand(left)?, op.clone(), self.operand(right)?)
                }
                other => return Err(format!("`{other}` is not supported (use = <> < <= > >= AND OR NOT)")),
            },
            Expr::IsNull(a) => Cond::IsNull(self.operand(a)?, false),
            Expr::IsNotNull(a) => Cond::IsNull(self.operand(a)?, true),
            Expr::InList { expr, list, negated } => Cond::In(
                self.operand(expr)?,
                list.iter().map(|x| self.operand(x)).collect::<Result<_, _>>()?,
                *negated,
            ),
            Expr::Between { expr, negated, low, high } => {
                Cond::Between(self.operand(expr)?, self.operand(low)?, self.operand(high)?, *negated)
            }
            Expr::Like { negated, any: false, expr, pattern, escape_char: None } => {
                Cond::Like(self.operand(expr)?, self.operand(pattern)?, false, *negated)
            }
            Expr::ILike { negated, any: false, expr, pattern, escape_char: None } => {
                Cond::Like(self.operand(expr)?, self.operand(pattern)?, true, *negated)
            }
            other => return Err(format!("`{other}` is not a condition (compare a context with a value)")),
        })
    }

    fn operand(&self, e: &Expr) -> Result<Operand, String> {
        Ok(match e {
            Expr::Nested(inner) => self.operand(inner)?,
            Expr::Identifier(id) => {
                let name = &id.value;
                if let Some(i) = self.desc.contexts.iter().position(|c| c.name.eq_ignore_ascii_case(name)) {
                    Operand::Context(ContextId(i as u16))
                } else if name.eq_ignore_ascii_case("CABINET") {
                    Operand::Cabinet
                } else if name.eq_ignore_ascii_case("REG_ID") {
                    Operand::RegId
                } else if id.quote_style == Some('"') {
                    // `SERVICE = "VOICE"`, as the spec writes it: a string, not a column.
                    Operand::Text(name.clone())
                } else {
                    return Err(format!(
                        "unknown context `{name}` (known: {}, CABINET, REG_ID)",
                        self.known()
                    ));
                }
            }
            Expr::Value(v) => literal(&v.value)?,
            Expr::UnaryOp { op: UnaryOperator::Minus, expr } => match self.operand(expr)? {
                Operand::Int(i) => Operand::Int(-i),
                Operand::Float(f) => Operand::Float(-f),
                _ => return Err(format!("`{e}`: only a number can be negated")),
            },
            other => return Err(format!("`{other}` is not a context or a value")),
        })
    }

    fn known(&self) -> String {
        self.desc.contexts.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(", ")
    }
}

fn literal(v: &SqlValue) -> Result<Operand, String> {
    Ok(match v {
        SqlValue::Number(n, _) => match n.parse::<i64>() {
            Ok(i) => Operand::Int(i),
            Err(_) => Operand::Float(n.parse::<f64>().map_err(|_| format!("`{n}` is not a number"))?),
        },
        SqlValue::SingleQuotedString(s) | SqlValue::DoubleQuotedString(s) => Operand::Text(s.clone()),
        SqlValue::Null => Operand::Null,
        other => return Err(format!("`{other}` is not a value a context can hold")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CabinetId, Record};
    use crate::recorder::{CabinetDesc, ContextDesc};

    fn desc() -> PipelineDesc {
        let ctx = |n: &str| ContextDesc { name: n.into(), heavy: false };
        let cab = |n: &str| CabinetDesc {
            name: n.into(),
            kind: "regular".into(),
            base: None,
            members: vec![],
            contexts: vec![],
        };
        PipelineDesc {
            contexts: vec![ctx("AMOUNT"), ctx("SERVICE"), ctx("START_TIME")],
            cabinets: vec![cab("DISARMED"), cab("RATED")],
            stages: vec![],
            nodes: vec![],
        }
    }

    fn record(amount: Option<i64>, service: &str) -> Record {
        let mut r = Record::new(7);
        r.header.cabinet = CabinetId(1);
        if let Some(a) = amount {
            r.set(ContextId(0), Value::Int(a));
        }
        r.set(ContextId(1), Value::text(service));
        r.set(ContextId(2), Value::Time("2026-03-01T10:00:00Z".parse().unwrap()));
        r
    }

    fn check(cond: &str, r: &Record) -> bool {
        Condition::parse(cond, &desc()).unwrap().matches(r)
    }

    #[test]
    fn the_spec_example_matches_what_it_says() {
        let c = "AMOUNT > 500 AND SERVICE = 'VOICE'";
        assert!(check(c, &record(Some(501), "VOICE")));
        assert!(!check(c, &record(Some(500), "VOICE")));
        assert!(!check(c, &record(Some(900), "SMS")));
        // The spec's own spelling, with a double-quoted string.
        assert!(check("amount > 500 and service = \"VOICE\"", &record(Some(501), "VOICE")));
    }

    #[test]
    fn empty_contexts_are_null() {
        let r = record(None, "VOICE");
        assert!(!check("AMOUNT > 0", &r));
        assert!(!check("NOT AMOUNT > 0", &r));
        assert!(check("AMOUNT IS NULL", &r));
        assert!(check("AMOUNT > 0 OR SERVICE = 'VOICE'", &r));
    }

    #[test]
    fn in_between_like_cabinet_reg_id_and_times() {
        let r = record(Some(42), "DATA");
        assert!(check("SERVICE IN ('SMS', 'DATA')", &r));
        assert!(check("SERVICE NOT IN ('SMS')", &r));
        assert!(check("AMOUNT BETWEEN 40 AND 42.5", &r));
        assert!(check("SERVICE LIKE 'D_T%'", &r));
        assert!(check("SERVICE ILIKE 'da%'", &r));
        assert!(!check("SERVICE LIKE 'A%'", &r));
        assert!(check("CABINET = 'RATED' AND REG_ID = 7", &r));
        assert!(check("START_TIME >= '2026-03-01T00:00:00Z'", &r));
        assert!(check("START_TIME < '2026-03-02'", &r));
        assert!(check("AMOUNT > -1", &r));
    }

    #[test]
    fn bad_conditions_say_what_is_wrong() {
        let err = |c: &str| Condition::parse(c, &desc()).unwrap_err().message;
        assert!(err("AMOUNTT > 5").contains("unknown context `AMOUNTT`"));
        assert!(err("AMOUNT >").contains("Expected"), "{}", err("AMOUNT >"));
        assert!(err("AMOUNT + 1").contains("not supported"));
        assert!(err("AMOUNT > 5 garbage").contains("unexpected"));
        assert!(err("AMOUNT").contains("not a condition"));
        let deep = format!("{}AMOUNT > 1{}", "(".repeat(500), ")".repeat(500));
        assert!(Condition::parse(&deep, &desc()).is_err());
    }

    #[test]
    fn a_context_compared_with_a_value_it_never_compares_with_is_an_error() {
        let r = record(Some(42), "DATA");
        let err = |c: &str| Condition::parse(c, &desc()).unwrap().try_matches(&r).unwrap_err().message;
        assert_eq!(
            err("AMOUNT > 'abc'"),
            "AMOUNT holds integers and 'abc' is text that does not read as one: they never compare \
             (write a number, like 500)"
        );
        assert!(err("'abc' < AMOUNT").starts_with("AMOUNT holds integers and 'abc'"));
        assert!(
            err("START_TIME > 'yesterday'").starts_with("START_TIME holds times and 'yesterday' is text")
        );
        assert!(err("START_TIME > 5").starts_with("START_TIME holds times and 5 is a number"));
        assert!(err("REG_ID = 'seven'").starts_with("REG_ID holds integers"));
        assert!(err("AMOUNT IN (1, 'abc')").contains("'abc'"));
        assert!(err("AMOUNT BETWEEN 1 AND 'z'").contains("'z'"));
        // Wherever it stands: OR would have matched on SERVICE alone.
        assert!(err("AMOUNT > 'abc' OR SERVICE = 'DATA'").contains("AMOUNT holds integers"));
        let ok = |c: &str| Condition::parse(c, &desc()).unwrap().try_matches(&r);
        // Comparisons SQL can decide stay valid: text that reads as the context's type.
        assert_eq!(ok("AMOUNT = '42'"), Ok(true));
        assert_eq!(ok("START_TIME < '2026-03-02'"), Ok(true));
        assert_eq!(ok("AMOUNT > 41.5"), Ok(true));
        assert_eq!(ok("SERVICE LIKE 'D%'"), Ok(true));
        // A text context with a number: its text decides (an IMSI is digits), read exactly.
        assert_eq!(
            err("SERVICE <> 5"),
            "SERVICE holds text ('DATA') and 5 is a number: they never compare (write text, like 'DATA')"
        );
        let digits = |text: &str, c: &str| {
            Condition::parse(c, &desc()).unwrap().try_matches(&record(Some(1), text)).map_err(|e| e.message)
        };
        assert_eq!(digits("425010000000001", "SERVICE = 425010000000001"), Ok(true));
        assert_eq!(digits("425010000000001", "SERVICE > 5"), Ok(true));
        for spelled in ["+972521234567", "0972521234567", " 972521234567"] {
            let e = digits(spelled, "SERVICE = 972521234567").unwrap_err();
            assert!(e.contains(&format!("write text, like '{spelled}'")), "{e}");
        }
        assert!(digits("7", "AMOUNT = '+1'").unwrap_err().contains("'+1' is text that does not read as one"));
        // An empty context is NULL: nothing to tell its type by.
        assert_eq!(
            Condition::parse("AMOUNT > 'abc'", &desc()).unwrap().try_matches(&record(None, "X")),
            Ok(false)
        );
        // `matches` (a stop-when's flip-flop) keeps SQL's unknown.
        assert!(check("AMOUNT > 'abc' OR SERVICE = 'DATA'", &r));
    }

    #[test]
    fn like_handles_runs_and_single_characters() {
        assert!(like("abc", "a%"));
        assert!(like("abc", "%c"));
        assert!(like("abc", "a_c"));
        assert!(like("", "%"));
        assert!(!like("abc", "a_"));
        assert!(like("a%c", "a%%c"));
    }
}

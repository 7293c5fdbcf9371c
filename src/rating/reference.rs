//! The reference data of a rating run: subscribers, family members, tariffs and tiers, read
//! whole and checked before anything runs, then shared read-only by every node.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use super::input::{Csv, FAMILY, InputError, SUBSCRIBERS, TARIFFS, TIERS};
use super::schema::Rating;
use crate::model::{ContextId, Record, Table, TableId, TableKind, Value};
use crate::ops::{StepReport, charge, linkey_of};

/// Offer types a subscriber can have.
pub const OFFER_TYPES: [&str; 4] = ["FLAT", "FAMILY", "VPN", "RANGED"];
/// Services a CDR can have.
pub const SERVICES: [&str; 3] = ["VOICE", "SMS", "DATA"];

/// One tier of a service: `low <= U < high` (no high: no upper bound).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tier {
    /// TIER_LEVEL as written.
    pub level: String,
    /// TIER_LOW.
    pub low: i64,
    /// TIER_HIGH, if any.
    pub high: Option<i64>,
}

/// The reference tables, indexed by the linkeys RATE and REG arm.
#[derive(Debug)]
pub struct Reference {
    /// By IMSI.
    pub subscribers: Arc<Table>,
    /// By VPN_NAME + SUBSCRIBER (members of a VPN by phone number).
    pub vpn_members: Arc<Table>,
    /// By FAMILY + PARTY, with the member's NAME as WIFE_NAME.
    pub family: Arc<Table>,
    /// By OFFER_TYPE + SERVICE.
    pub tariffs: Arc<Table>,
    /// By SERVICE + TIER_LEVEL.
    pub tiers: Arc<Table>,
    /// Tiers of each service, sorted by TIER_LOW.
    pub tier_bounds: Arc<BTreeMap<String, Vec<Tier>>>,
    /// SUBSCRIBER and opening BALANCE of every subscriber, in file order.
    pub balances: Vec<(String, i64)>,
}

/// The TIERS table and the tier bounds per service.
type TierTables = (Arc<Table>, BTreeMap<String, Vec<Tier>>);

struct Builder<'a> {
    rating: &'a Rating,
    report: StepReport,
}

impl Builder<'_> {
    /// A reference table of rows with the given contexts, armed on `key`.
    fn table(
        &mut self,
        id: u16,
        name: &str,
        key: &[ContextId],
        rows: Vec<Vec<(ContextId, Value)>>,
    ) -> Arc<Table> {
        let mut t = Table::new(TableId(id), name, TableKind::Reference, self.rating.schema.cabinets().len());
        let records = rows.into_iter().enumerate().map(|(i, values)| {
            let mut r = Record::new(i as u64 + 1);
            for (c, v) in values {
                r.set(c, v);
            }
            r.header.linkey = linkey_of(key.iter().map(|&c| r.get(c)));
            r
        });
        charge(&mut t, self.rating.cab.reference, records, &mut self.report);
        self.report.clear();
        Arc::new(t)
    }
}

fn int(path: &Path, line: u64, field: &str, s: &str) -> Result<i64, InputError> {
    s.parse::<i64>().map_err(|_| InputError::Field {
        path: path.into(),
        line,
        field: field.into(),
        message: format!("{s:?} is not an integer"),
    })
}

fn one_of(path: &Path, line: u64, field: &str, s: &str, allowed: &[&str]) -> Result<(), InputError> {
    if allowed.contains(&s) {
        return Ok(());
    }
    let message = format!("{s:?} is not one of {}", allowed.join(" "));
    Err(InputError::Field { path: path.into(), line, field: field.into(), message })
}

fn text(s: &str) -> Value {
    if s.is_empty() { Value::Empty } else { Value::text(s) }
}

impl Reference {
    /// Read and check the four reference files of `dir`.
    pub fn load(dir: &Path, rating: &Rating) -> Result<Reference, InputError> {
        let c = rating.ctx;
        let mut b = Builder { rating, report: StepReport::default() };

        let (path, rows) = Csv::open(
            dir,
            SUBSCRIBERS,
            &["IMSI", "SUBSCRIBER", "OFFER_TYPE", "FAMILY", "VPN_NAME", "BALANCE"],
        )?
        .rows()?;
        let (mut imsis, mut numbers, mut offers) = (HashSet::new(), HashSet::new(), HashSet::new());
        let mut subs = Vec::new();
        let mut balances = Vec::new();
        for (line, f) in &rows {
            let field = |name: &str, message: String| InputError::Field {
                path: path.clone(),
                line: *line,
                field: name.into(),
                message,
            };
            if f[0].is_empty() || !imsis.insert(f[0].clone()) {
                return Err(field("IMSI", format!("{:?} is empty or repeated", f[0])));
            }
            if f[1].is_empty() || !numbers.insert(f[1].clone()) {
                return Err(field("SUBSCRIBER", format!("{:?} is empty or repeated", f[1])));
            }
            one_of(&path, *line, "OFFER_TYPE", &f[2], &OFFER_TYPES)?;
            offers.insert(f[2].clone());
            let balance = int(&path, *line, "BALANCE", &f[5])?;
            balances.push((f[1].clone(), balance));
            subs.push(vec![
                (c.imsi, text(&f[0])),
                (c.subscriber, text(&f[1])),
                (c.offer_type, text(&f[2])),
                (c.family, text(&f[3])),
                (c.vpn_name, text(&f[4])),
                (c.balance, Value::Int(balance)),
            ]);
        }
        let vpn = subs
            .iter()
            .filter(|s| !s[4].1.is_empty())
            .map(|s| vec![s[4].clone(), s[1].clone(), s[0].clone()])
            .collect();
        let subscribers = b.table(1001, "SUBSCRIBERS", &[c.imsi], subs);
        let vpn_members = b.table(1002, "VPN_MEMBERS", &[c.vpn_name, c.subscriber], vpn);

        let (_, rows) = Csv::open(dir, FAMILY, &["FAMILY", "PARTY", "NAME"])?.rows()?;
        let members = rows
            .iter()
            .map(|(_, f)| vec![(c.family, text(&f[0])), (c.party, text(&f[1])), (c.wife_name, text(&f[2]))])
            .collect();
        let family = b.table(1003, "FAMILY_MEMBERS", &[c.family, c.party], members);

        let tariffs = Self::tariffs(dir, &mut b, &offers)?;
        let (tiers, tier_bounds) = Self::tiers(dir, &mut b, offers.contains("RANGED"))?;
        Ok(Reference {
            subscribers,
            vpn_members,
            family,
            tariffs,
            tiers,
            tier_bounds: Arc::new(tier_bounds),
            balances,
        })
    }

    fn tariffs(dir: &Path, b: &mut Builder<'_>, offers: &HashSet<String>) -> Result<Arc<Table>, InputError> {
        let c = b.rating.ctx;
        let (path, rows) = Csv::open(dir, TARIFFS, &["OFFER_TYPE", "SERVICE", "UNIT_RATE"])?.rows()?;
        let mut have = HashSet::new();
        let mut out = Vec::new();
        for (line, f) in &rows {
            one_of(&path, *line, "OFFER_TYPE", &f[0], &OFFER_TYPES)?;
            one_of(&path, *line, "SERVICE", &f[1], &SERVICES)?;
            let rate = non_negative(&path, *line, "UNIT_RATE", &f[2])?;
            if !have.insert((f[0].clone(), f[1].clone())) {
                let message = format!("OFFER_TYPE {} and SERVICE {} already have a rate", f[0], f[1]);
                return Err(InputError::Field { path, line: *line, field: "SERVICE".into(), message });
            }
            out.push(vec![
                (c.offer_type, text(&f[0])),
                (c.service, text(&f[1])),
                (c.unit_rate, Value::Int(rate)),
            ]);
        }
        let mut used: Vec<&String> = offers.iter().filter(|o| *o != "RANGED").collect();
        used.sort();
        for offer in used {
            for service in SERVICES {
                if !have.contains(&(offer.clone(), service.to_string())) {
                    let message = format!("no UNIT_RATE for OFFER_TYPE {offer} and SERVICE {service}");
                    return Err(InputError::Content { path, message });
                }
            }
        }
        Ok(b.table(1004, "TARIFFS", &[c.offer_type, c.service], out))
    }

    fn tiers(dir: &Path, b: &mut Builder<'_>, ranged: bool) -> Result<TierTables, InputError> {
        let c = b.rating.ctx;
        let (path, rows) =
            Csv::open(dir, TIERS, &["SERVICE", "TIER_LEVEL", "TIER_LOW", "TIER_HIGH", "TIER_RATE"])?
                .rows()?;
        let mut bounds: BTreeMap<String, Vec<Tier>> = BTreeMap::new();
        let mut out = Vec::new();
        for (line, f) in &rows {
            one_of(&path, *line, "SERVICE", &f[0], &SERVICES)?;
            let low = non_negative(&path, *line, "TIER_LOW", &f[2])?;
            let high = if f[3].is_empty() { None } else { Some(int(&path, *line, "TIER_HIGH", &f[3])?) };
            let rate = non_negative(&path, *line, "TIER_RATE", &f[4])?;
            if high.is_some_and(|h| h <= low) {
                let message = format!("TIER_HIGH {} is not above TIER_LOW {low}", f[3]);
                return Err(InputError::Field { path, line: *line, field: "TIER_HIGH".into(), message });
            }
            let tiers = bounds.entry(f[0].clone()).or_default();
            if tiers.iter().any(|t| t.level == f[1]) {
                let message = format!("SERVICE {} already has a tier {}", f[0], f[1]);
                return Err(InputError::Field { path, line: *line, field: "TIER_LEVEL".into(), message });
            }
            tiers.push(Tier { level: f[1].clone(), low, high });
            let high_value = high.map_or(Value::Empty, Value::Int);
            out.push(vec![
                (c.service, text(&f[0])),
                (c.tier_level, text(&f[1])),
                (c.tier_low, Value::Int(low)),
                (c.tier_high, high_value),
                (c.tier_rate, Value::Int(rate)),
            ]);
        }
        for tiers in bounds.values_mut() {
            tiers.sort_by_key(|t| t.low);
        }
        if ranged {
            for service in SERVICES {
                check_cover(&path, service, bounds.get(service).map_or(&[][..], |v| v))?;
            }
        }
        Ok((b.table(1005, "TIERS", &[c.service, c.tier_level], out), bounds))
    }
}

fn non_negative(path: &Path, line: u64, field: &str, s: &str) -> Result<i64, InputError> {
    let v = int(path, line, field, s)?;
    if v < 0 {
        return Err(InputError::Field {
            path: path.into(),
            line,
            field: field.into(),
            message: format!("{v} is negative"),
        });
    }
    Ok(v)
}

/// The tiers of one service must cover `[0, ∞)` exactly once.
fn check_cover(path: &Path, service: &str, tiers: &[Tier]) -> Result<(), InputError> {
    let gap = |message: String| Err(InputError::Content { path: path.into(), message });
    let mut expect = Some(0);
    for t in tiers {
        match expect {
            Some(e) if e == t.low => expect = t.high,
            Some(e) => {
                return gap(format!("the tiers of {service} do not cover {e}..{} exactly once", t.low));
            }
            None => {
                return gap(format!("the tiers of {service} continue after an unbounded tier"));
            }
        }
    }
    match expect {
        None if !tiers.is_empty() => Ok(()),
        _ => gap(format!(
            "the tiers of {service} must run from 0 to an unbounded last tier (RANGED subscribers use it)"
        )),
    }
}

/// The tier of `u` units among tiers sorted by TIER_LOW.
pub fn tier_of(tiers: &[Tier], u: i64) -> Option<&Tier> {
    tiers.iter().find(|t| t.low <= u && t.high.is_none_or(|h| u < h))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn tier(level: &str, low: i64, high: Option<i64>) -> Tier {
        Tier { level: level.into(), low, high }
    }

    #[test]
    fn tiers_must_cover_from_zero_to_unbounded() {
        let p = PathBuf::from("tiers.csv");
        assert!(check_cover(&p, "VOICE", &[tier("1", 0, Some(10)), tier("2", 10, None)]).is_ok());
        assert!(check_cover(&p, "VOICE", &[tier("1", 0, Some(10)), tier("2", 11, None)]).is_err());
        assert!(check_cover(&p, "VOICE", &[tier("1", 0, Some(10))]).is_err());
        assert!(check_cover(&p, "VOICE", &[]).is_err());
        assert!(check_cover(&p, "VOICE", &[tier("1", 1, None)]).is_err());
    }

    #[test]
    fn a_boundary_belongs_to_the_upper_tier() {
        let t = [tier("1", 0, Some(10)), tier("2", 10, None)];
        assert_eq!(tier_of(&t, 9).unwrap().level, "1");
        assert_eq!(tier_of(&t, 10).unwrap().level, "2");
        assert_eq!(tier_of(&t, i64::MAX).unwrap().level, "2");
    }
}

//! `catar gen`: a deterministic input directory for the rating pipeline, with every offer type,
//! international, family and VPN parties, MT calls, and anomalies (duplicates, unknown IMSIs,
//! bad rows) at a chosen rate.

use std::fs::File;
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use jiff::tz::{Offset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::input::{CDR_COLUMNS, CDRS, FAMILY, SUBSCRIBERS, TARIFFS, TIERS};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// The directory to write (created if needed).
    pub out: PathBuf,
    /// Data rows of cdrs.csv.
    pub cdrs: usize,
    /// Rows of subscribers.csv.
    pub subscribers: usize,
    /// Same seed, same bytes.
    pub seed: u64,
    /// Share of anomalous CDR rows (duplicates, unknown IMSIs, bad rows), 0..=1.
    pub bad_rate: f64,
    /// Share of poison rows (see [`POISON`]), 0..=1.
    pub poison_rate: f64,
}

/// The EVENT_ID prefix of a poison row: a valid CDR on which RATE fails every time (a stand-in
/// for a rule that crashes on some record), to show the supervisor at work.
pub const POISON: &str = "POISON";

/// Writing the files failed.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}: {source}", path.display())]
pub struct GenError {
    /// The file or directory.
    pub path: PathBuf,
    /// Why.
    pub source: io::Error,
}

struct Subscriber {
    imsi: String,
    number: String,
    offer: &'static str,
    family: String,
    vpn: String,
}

const NAMES: [&str; 8] =
    ["Noa", "Zoë", "José", "נועה", "Ангелина", "Chloé, Jr.", "Seán \"Jack\" O'Neil", "美咲"];
const VPNS: [&str; 3] = ["ACME", "GLOBEX", "INITECH"];

fn writer(dir: &Path, name: &str) -> Result<csv::Writer<BufWriter<File>>, GenError> {
    let path = dir.join(name);
    let file = File::create(&path).map_err(|source| GenError { path, source })?;
    Ok(csv::WriterBuilder::new().flexible(true).from_writer(BufWriter::new(file)))
}

fn io_err(dir: &Path, name: &str) -> impl Fn(csv::Error) -> GenError {
    let path = dir.join(name);
    move |e| GenError { path: path.clone(), source: e.into() }
}

/// Write the five input files. Returns the number of CDR rows written.
pub fn generate(opts: &GenOptions) -> Result<usize, GenError> {
    let dir = &opts.out;
    if dir.exists() && !dir.is_dir() {
        // create_dir_all would only say "File exists".
        let source = io::Error::new(
            io::ErrorKind::NotADirectory,
            "a file, not a directory (--out names the directory the input files go to)",
        );
        return Err(GenError { path: dir.clone(), source });
    }
    std::fs::create_dir_all(dir).map_err(|source| GenError { path: dir.clone(), source })?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let subs = subscribers(&mut rng, opts.subscribers.max(1));

    let mut w = writer(dir, SUBSCRIBERS)?;
    let e = io_err(dir, SUBSCRIBERS);
    w.write_record(["IMSI", "SUBSCRIBER", "OFFER_TYPE", "FAMILY", "VPN_NAME", "BALANCE"]).map_err(&e)?;
    for s in &subs {
        let balance = rng.random_range(10_000..100_000).to_string();
        w.write_record([&s.imsi, &s.number, s.offer, &s.family, &s.vpn, &balance]).map_err(&e)?;
    }
    w.flush().map_err(|source| GenError { path: dir.join(SUBSCRIBERS), source })?;

    let members = family(&mut rng, &subs);
    let mut w = writer(dir, FAMILY)?;
    let e = io_err(dir, FAMILY);
    w.write_record(["FAMILY", "PARTY", "NAME"]).map_err(&e)?;
    for (fam, party, name) in &members {
        w.write_record([fam, party, name]).map_err(&e)?;
    }
    w.flush().map_err(|source| GenError { path: dir.join(FAMILY), source })?;

    let mut w = writer(dir, TARIFFS)?;
    let e = io_err(dir, TARIFFS);
    w.write_record(["OFFER_TYPE", "SERVICE", "UNIT_RATE"]).map_err(&e)?;
    for (offer, rates) in [("FLAT", [10, 5, 2]), ("FAMILY", [8, 4, 2]), ("VPN", [12, 6, 3])] {
        for (service, rate) in ["VOICE", "SMS", "DATA"].iter().zip(rates) {
            w.write_record([offer, service, &rate.to_string()]).map_err(&e)?;
        }
    }
    w.flush().map_err(|source| GenError { path: dir.join(TARIFFS), source })?;

    let mut w = writer(dir, TIERS)?;
    let e = io_err(dir, TIERS);
    w.write_record(["SERVICE", "TIER_LEVEL", "TIER_LOW", "TIER_HIGH", "TIER_RATE"]).map_err(&e)?;
    let tiers = [
        ("VOICE", "1", "0", "100", "10"),
        ("VOICE", "2", "100", "500", "7"),
        ("VOICE", "3", "500", "", "5"),
        ("SMS", "1", "0", "50", "5"),
        ("SMS", "2", "50", "", "3"),
        ("DATA", "1", "0", "1000", "2"),
        ("DATA", "2", "1000", "", "1"),
    ];
    for (s, l, lo, hi, r) in tiers {
        w.write_record([s, l, lo, hi, r]).map_err(&e)?;
    }
    w.flush().map_err(|source| GenError { path: dir.join(TIERS), source })?;

    cdrs(opts, &mut rng, &subs, &members)?;
    Ok(opts.cdrs)
}

fn subscribers(rng: &mut ChaCha8Rng, n: usize) -> Vec<Subscriber> {
    let families = (n / 8).max(1);
    (0..n)
        .map(|i| {
            // The first four cover every offer type; the rest are drawn.
            let offer = match if i < 4 { i } else { rng.random_range(0..10) } {
                0 | 4..=6 => "FLAT",
                1 | 7 => "FAMILY",
                2 | 8 => "VPN",
                _ => "RANGED",
            };
            let family = if offer == "FAMILY" {
                format!("FAM{:04}", rng.random_range(0..families))
            } else {
                String::new()
            };
            let vpn = if offer == "VPN" {
                VPNS[rng.random_range(0..VPNS.len())].to_string()
            } else {
                String::new()
            };
            Subscriber {
                imsi: format!("42501{:010}", i),
                number: format!("+97254{:07}", i),
                offer,
                family,
                vpn,
            }
        })
        .collect()
}

fn phone(rng: &mut ChaCha8Rng, international: bool) -> String {
    if international {
        let prefix = ["+44", "+1", "+33", "+49"][rng.random_range(0..4)];
        format!("{prefix}{:09}", rng.random_range(0..1_000_000_000u64))
    } else {
        format!("+97252{:07}", rng.random_range(0..10_000_000u64))
    }
}

fn family(rng: &mut ChaCha8Rng, subs: &[Subscriber]) -> Vec<(String, String, String)> {
    let mut names: Vec<&String> = subs.iter().filter(|s| !s.family.is_empty()).map(|s| &s.family).collect();
    names.sort();
    names.dedup();
    let mut out = Vec::new();
    for fam in names {
        for _ in 0..rng.random_range(1..=3) {
            let party = match rng.random_range(0..4) {
                0 => subs[rng.random_range(0..subs.len())].number.clone(),
                1 => phone(rng, true),
                _ => phone(rng, false),
            };
            out.push((fam.clone(), party, NAMES[rng.random_range(0..NAMES.len())].to_string()));
        }
    }
    out
}

/// An instant written with an offset other than `Z` now and then (the same instant).
fn time_text(rng: &mut ChaCha8Rng, t: Timestamp) -> String {
    match rng.random_range(0..10) {
        0 => {
            let tz = TimeZone::fixed(Offset::constant(3));
            t.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
        }
        1 => {
            let tz = TimeZone::fixed(Offset::constant(-5));
            t.to_zoned(tz).strftime("%Y-%m-%dT%H:%M:%S%.f%:z").to_string()
        }
        _ => t.to_string(),
    }
}

fn cdrs(
    opts: &GenOptions,
    rng: &mut ChaCha8Rng,
    subs: &[Subscriber],
    members: &[(String, String, String)],
) -> Result<(), GenError> {
    let mut w = writer(&opts.out, CDRS)?;
    let e = io_err(&opts.out, CDRS);
    w.write_record(CDR_COLUMNS).map_err(&e)?;
    let start: Timestamp = "2026-01-20T00:00:00Z".parse().expect("a valid instant");
    // Sixty days from mid-January: every run spans at least two calendar months.
    let span = 60 * 24 * 3600;
    let mut previous: Option<Vec<String>> = None;
    for i in 0..opts.cdrs {
        let t = start + SignedDuration::from_secs((i as i64 * span) / opts.cdrs.max(1) as i64);
        if let Some(prev) = previous.as_ref().filter(|_| rng.random_bool(opts.bad_rate.clamp(0.0, 1.0) / 4.0))
        {
            w.write_record(prev).map_err(&e)?; // a re-sent event: a duplicate
            continue;
        }
        let mut row = good_row(rng, i, t, subs, members);
        if rng.random_bool(opts.bad_rate.clamp(0.0, 1.0) * 3.0 / 4.0) {
            spoil(rng, &mut row);
        } else if opts.poison_rate > 0.0 && rng.random_bool(opts.poison_rate.min(1.0)) {
            // Drawn only when asked for: a seed writes the same rows as before otherwise.
            row[0] = format!("{POISON}{i:09}");
        }
        w.write_record(&row).map_err(&e)?;
        previous = Some(row);
    }
    w.flush().map_err(|source| GenError { path: opts.out.join(CDRS), source })
}

fn good_row(
    rng: &mut ChaCha8Rng,
    i: usize,
    t: Timestamp,
    subs: &[Subscriber],
    members: &[(String, String, String)],
) -> Vec<String> {
    let s = &subs[rng.random_range(0..subs.len())];
    let service = ["VOICE", "VOICE", "VOICE", "SMS", "SMS", "DATA"][rng.random_range(0..6)];
    let action = if rng.random_bool(0.2) { "MT" } else { "MO" };
    let duration: i64 = match service {
        "VOICE" => rng.random_range(1..1200),
        "SMS" => 1,
        _ => rng.random_range(1..50_000),
    };
    let party = if service == "DATA" {
        String::new()
    } else if !s.family.is_empty() && rng.random_bool(0.4) {
        let own: Vec<&(String, String, String)> = members.iter().filter(|m| m.0 == s.family).collect();
        if own.is_empty() { phone(rng, false) } else { own[rng.random_range(0..own.len())].1.clone() }
    } else if !s.vpn.is_empty() && rng.random_bool(0.4) {
        let peers: Vec<&Subscriber> = subs.iter().filter(|p| p.vpn == s.vpn).collect();
        peers[rng.random_range(0..peers.len())].number.clone()
    } else {
        let international = rng.random_bool(0.15);
        phone(rng, international)
    };
    let seconds = if service == "VOICE" { duration } else { rng.random_range(0..5) };
    // Now and then a start with fractional seconds.
    let t = if rng.random_bool(0.1) { t + SignedDuration::from_millis(250) } else { t };
    vec![
        format!("EV{i:09}"),
        format!("S{:08}", rng.random_range(0..100_000_000u64)),
        format!("35{:013}", rng.random_range(0..10_000_000_000_000u64)),
        s.imsi.clone(),
        service.to_string(),
        action.to_string(),
        time_text(rng, t),
        time_text(rng, t + SignedDuration::from_secs(seconds)),
        party,
        duration.to_string(),
    ]
}

/// Make a row anomalous in one of the ways REG must catch.
fn spoil(rng: &mut ChaCha8Rng, row: &mut Vec<String>) {
    match rng.random_range(0..8) {
        0 => row[3] = format!("42599{:010}", rng.random_range(0..1_000_000u64)), // unknown IMSI
        1 => {
            row.pop(); // wrong field count
        }
        2 => row[9] = "12x".into(),                             // bad integer
        3 => row[6] = "2026-02-30T10:00:00Z".into(),            // no such day
        4 => row[4] = "FAX".into(),                             // unknown service
        5 => row[5] = "XX".into(),                              // unknown action
        6 => row.swap(6, 7),                                    // may end before it starts
        _ => row[9] = format!("-{}", rng.random_range(1..100)), // negative duration
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_bytes_and_another_seed_differs() {
        let (a, b, c) =
            (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let opts = |out: &Path, seed| GenOptions {
            out: out.into(),
            cdrs: 300,
            subscribers: 20,
            seed,
            bad_rate: 0.1,
            poison_rate: 0.0,
        };
        generate(&opts(a.path(), 5)).unwrap();
        generate(&opts(b.path(), 5)).unwrap();
        generate(&opts(c.path(), 6)).unwrap();
        let read = |d: &Path| std::fs::read(d.join(CDRS)).unwrap();
        assert_eq!(read(a.path()), read(b.path()));
        assert_ne!(read(a.path()), read(c.path()));
    }

    #[test]
    fn written_times_parse_back_to_the_same_instant() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let t: Timestamp = "2026-02-28T23:30:00Z".parse().unwrap();
        for _ in 0..50 {
            let back: Timestamp = time_text(&mut rng, t).parse().unwrap();
            assert_eq!(back, t);
            let frac = t + SignedDuration::from_millis(250);
            assert_eq!(time_text(&mut rng, frac).parse::<Timestamp>().unwrap(), frac);
        }
    }
}

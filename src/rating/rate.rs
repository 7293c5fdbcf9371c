//! RATE: computes UNITS and AMOUNT of each confirmed CDR (SPEC §8 rules 1-6), through the
//! transient WIFE cabinet for family calls, to RATED (or QUARANTINE when the amount overflows).

use std::sync::Arc;

use super::generate::POISON;
use super::reference::{Reference, tier_of};
use super::schema::{Contexts, ERROR_OVERFLOW, Rating};
use crate::engine::{OpKind, Stage};
use crate::model::{ReactorKind, Record, TableKind, Value};
use crate::ops::{self, Accumulate, ArmMode, Collision};

const DOMESTIC: &str = "DOMESTIC";
const INTERNATIONAL: &str = "INTERNATIONAL";

fn text(x: &Record, c: crate::model::ContextId) -> &str {
    x.get(c).as_text().unwrap_or("")
}

fn int(x: &Record, c: crate::model::ContextId) -> i64 {
    x.get(c).as_int().unwrap_or(0)
}

/// UNITS: VOICE per started minute, SMS one, DATA per started 1024 kB.
fn units(service: &str, duration: i64) -> i64 {
    let per = |n: i64| duration / n + i64::from(duration % n != 0);
    match service {
        "VOICE" => per(60),
        "DATA" => per(1024),
        _ => 1,
    }
}

/// The UTC calendar month of an instant, as `YYYY-MM`.
fn month_of(t: jiff::Timestamp) -> smol_str::SmolStr {
    let d = jiff::tz::Offset::UTC.to_datetime(t).date();
    // Every record gets one: digits by hand beat the formatting machinery fourfold.
    let (y, m) = (d.year().clamp(0, 9999) as u16, d.month() as u16);
    let digit = |v: u16| b'0' + (v % 10) as u8;
    let out = [digit(y / 1000), digit(y / 100), digit(y / 10), digit(y), b'-', digit(m / 10), digit(m)];
    smol_str::SmolStr::new(std::str::from_utf8(&out).expect("ASCII digits"))
}

/// AMOUNT by rules 1-6, or the error that sends the record to QUARANTINE.
fn amount(c: &Contexts, wife: crate::model::CabinetId, x: &Record) -> Result<i64, &'static str> {
    if text(x, c.action) == "MT" {
        return Ok(0);
    }
    let rate = if text(x, c.offer_type) == "RANGED" { x.get(c.tier_rate) } else { x.get(c.unit_rate) };
    let rate = rate.as_int().ok_or("no rate")?;
    let factor = if text(x, c.party_position) == INTERNATIONAL { 3 } else { 1 };
    let base = int(x, c.units).checked_mul(rate).and_then(|b| b.checked_mul(factor)).ok_or(ERROR_OVERFLOW)?;
    Ok(if x.header.cabinet == wife {
        0
    } else if !x.get(c.vpn_peer).is_empty() {
        base / 2
    } else {
        base
    })
}

/// The RATE stage, routed by IMSI so that a subscriber's CDRs are rated in input order.
pub fn stage(r: &Arc<Rating>, refs: &Reference, domestic_prefix: &str) -> Stage {
    let (c, k) = (r.ctx, r.cab);
    let mut s = Stage::builder("RATE", &r.schema, c.imsi);
    let conf = s.reactor("CONFIRMED", ReactorKind::Driving);
    let usage = s.table("TIER_USAGE", TableKind::Accumulator);
    let quarantine = s.sink("quarantine");
    let out = s.output("RATED");
    let (tariffs, tiers, family, vpn) =
        (refs.tariffs.clone(), refs.tiers.clone(), refs.family.clone(), refs.vpn_members.clone());
    let bounds = refs.tier_bounds.clone();
    let prefix: Arc<str> = domestic_prefix.into();
    let rating = move |x: &Record| x.header.cabinet == k.confirmed || x.header.cabinet == k.wife;
    let is = move |x: &Record, ctx, v: &str| text(x, ctx) == v;
    let mo = move |x: &Record| is(x, c.action, "MO");
    let (domestic, international) = (Value::text(DOMESTIC), Value::text(INTERNATIONAL));

    s.statement("charge", OpKind::Charge, "charge CONFIRMED <- from REG, routed by IMSI", move |ws, rep| {
        let batch = ws.take_inbox();
        ops::charge(ws.table_mut(conf), k.confirmed, batch, rep);
        Ok(())
    });
    s.statement(
        "units",
        OpKind::Transform,
        "transform UNITS, DURATION_TO_CHARGE (functional transformation)",
        move |ws, rep| {
            let t = ws.table_mut(conf);
            ops::transform(
                t,
                c.units,
                rating,
                |x| Value::Int(units(text(x, c.service), int(x, c.duration))),
                rep,
            );
            let voice = move |x: &Record| rating(x) && is(x, c.service, "VOICE");
            ops::transform(
                t,
                c.duration_to_charge,
                voice,
                |x| Value::Int(int(x, c.units).saturating_mul(60)),
                rep,
            );
            Ok(())
        },
    );
    s.statement(
        "month",
        OpKind::Transform,
        "transform MONTH <- START_TIME (reduction to the UTC month)",
        move |ws, rep| {
            let t = ws.table_mut(conf);
            let month =
                |x: &Record| x.get(c.start_time).as_time().map_or(Value::Empty, |t| Value::Text(month_of(t)));
            ops::transform(t, c.month, rating, month, rep);
            let latest = ws.table(conf).live().filter_map(|x| x.get(c.start_time).as_time()).max();
            if let Some(t) = latest {
                ws.clock.observe(t);
            }
            Ok(())
        },
    );
    s.statement(
        "party-position",
        OpKind::Transform,
        "state filter PARTY -> PARTY_POSITION DOMESTIC | INTERNATIONAL",
        move |ws, rep| {
            let calls = move |x: &Record| rating(x) && !is(x, c.service, "DATA");
            let position = |x: &Record| {
                if text(x, c.party).starts_with(&*prefix) { domestic.clone() } else { international.clone() }
            };
            ops::transform(ws.table_mut(conf), c.party_position, calls, position, rep);
            Ok(())
        },
    );
    s.statement("arm-tariff", OpKind::Arm, "arm linkey = OFFER_TYPE + SERVICE", move |ws, rep| {
        ops::arm(ws.table_mut(conf), &[c.offer_type, c.service], ArmMode::Absolute, rating, rep);
        Ok(())
    });
    let schema = r.schema.clone();
    s.statement("tariff", OpKind::Collision, "collision TARIFFS -> UNIT_RATE", move |ws, rep| {
        let spec = Collision {
            on: &[(c.offer_type, c.offer_type), (c.service, c.service)],
            fill: &[(c.unit_rate, c.unit_rate)],
            hit: None,
            miss: None,
        };
        ops::collision(&schema, ws.table_mut(conf), &tariffs, &spec, rating, |_, _| true, rep);
        Ok(())
    });
    let ranged_mo = move |x: &Record| rating(x) && mo(x) && is(x, c.offer_type, "RANGED");
    s.statement(
        "arm-usage",
        OpKind::Arm,
        "arm linkey = IMSI; relative arm + SERVICE + MONTH (RANGED, MO)",
        move |ws, rep| {
            let t = ws.table_mut(conf);
            ops::arm(t, &[c.imsi], ArmMode::Absolute, ranged_mo, rep);
            ops::arm(t, &[c.service, c.month], ArmMode::Relative, ranged_mo, rep);
            Ok(())
        },
    );
    s.statement(
        "tier-usage",
        OpKind::Collision,
        "collision TIER_USAGE accumulator -> TIERS = units already charged this month; += UNITS",
        move |ws, rep| {
            let spec = Accumulate {
                key: &[c.imsi, c.service, c.month],
                total: c.tiers,
                cabinet: k.usage,
                init: None,
                add: c.units,
                subtract: false,
                out: c.tiers,
                out_after: false,
                // Units saturate (docs/rating.md): a tier bound far past any real usage.
                checked: false,
            };
            let (t, acc) = ws.pair_mut(conf, usage);
            ops::collision_accumulate(t, acc, &spec, ranged_mo, rep);
            Ok(())
        },
    );
    s.statement(
        "tier-level",
        OpKind::Transform,
        "transform TIER_LEVEL <- the tier of TIERS in tiers.csv",
        move |ws, rep| {
            let level = |x: &Record| {
                let tiers = bounds.get(text(x, c.service)).map_or(&[][..], |v| v);
                tier_of(tiers, int(x, c.tiers)).map_or(Value::Empty, |t| Value::text(t.level.as_str()))
            };
            ops::transform(ws.table_mut(conf), c.tier_level, ranged_mo, level, rep);
            Ok(())
        },
    );
    s.statement("arm-tier", OpKind::Arm, "arm linkey = SERVICE + TIER_LEVEL", move |ws, rep| {
        ops::arm(ws.table_mut(conf), &[c.service, c.tier_level], ArmMode::Absolute, ranged_mo, rep);
        Ok(())
    });
    let schema = r.schema.clone();
    s.statement(
        "tier",
        OpKind::Collision,
        "collision TIERS -> TIER_RATE, TIER_LOW, TIER_HIGH",
        move |ws, rep| {
            let fill = [c.tier_rate, c.tier_low, c.tier_high].map(|x| (x, x));
            let spec = Collision {
                on: &[(c.service, c.service), (c.tier_level, c.tier_level)],
                fill: &fill,
                hit: None,
                miss: None,
            };
            ops::collision(&schema, ws.table_mut(conf), &tiers, &spec, ranged_mo, |_, _| true, rep);
            Ok(())
        },
    );
    s.statement(
        "skip-unpartied",
        OpKind::Skip,
        "skip set on DATA and MT records (they take part in no party collision)",
        move |ws, rep| {
            ops::skip(ws.table_mut(conf), true, move |x| is(x, c.service, "DATA") || !mo(x), rep);
            Ok(())
        },
    );
    let in_family =
        move |x: &Record| rating(x) && is(x, c.offer_type, "FAMILY") && !x.get(c.family).is_empty();
    s.statement("arm-family", OpKind::Arm, "arm linkey = FAMILY + PARTY", move |ws, rep| {
        ops::arm(ws.table_mut(conf), &[c.family, c.party], ArmMode::Absolute, in_family, rep);
        Ok(())
    });
    let schema = r.schema.clone();
    s.statement(
        "family",
        OpKind::Collision,
        "collision FAMILY_MEMBERS -> hit: state WIFE (+WIFE_NAME)",
        move |ws, rep| {
            let spec = Collision {
                on: &[(c.family, c.family), (c.party, c.party)],
                fill: &[(c.wife_name, c.wife_name)],
                hit: Some(k.wife),
                miss: None,
            };
            ops::collision(&schema, ws.table_mut(conf), &family, &spec, in_family, |_, _| true, rep);
            Ok(())
        },
    );
    let in_vpn = move |x: &Record| rating(x) && is(x, c.offer_type, "VPN") && !x.get(c.vpn_name).is_empty();
    s.statement("arm-vpn", OpKind::Arm, "arm linkey = VPN_NAME + PARTY", move |ws, rep| {
        ops::arm(ws.table_mut(conf), &[c.vpn_name, c.party], ArmMode::Absolute, in_vpn, rep);
        Ok(())
    });
    let schema = r.schema.clone();
    s.statement(
        "vpn",
        OpKind::Collision,
        "collision VPN_MEMBERS (another subscriber, same VPN_NAME) -> VPN_PEER",
        move |ws, rep| {
            let spec = Collision {
                on: &[(c.vpn_name, c.vpn_name), (c.party, c.subscriber)],
                fill: &[(c.imsi, c.vpn_peer)],
                hit: None,
                miss: None,
            };
            let another = |x: &Record, peer: &Record| peer.get(c.imsi) != x.get(c.imsi);
            ops::collision(&schema, ws.table_mut(conf), &vpn, &spec, in_vpn, another, rep);
            Ok(())
        },
    );
    s.statement("unskip", OpKind::Skip, "skip clear", move |ws, rep| {
        ops::skip(ws.table_mut(conf), false, |x| x.header.skip, rep);
        Ok(())
    });
    s.statement(
        "amount",
        OpKind::Transform,
        "transform AMOUNT (MT 0; RATE x UNITS, x3 international; WIFE 0; VPN half)",
        move |ws, rep| {
            let t = ws.table_mut(conf);
            let wife = k.wife;
            let error = |x: &Record| {
                // A poison row (catar gen --poison-rate) crashes this rule every time: the
                // supervisor restarts the node and quarantines the row.
                if text(x, c.event_id).starts_with(POISON) {
                    panic!("cannot rate poison row {}", text(x, c.event_id));
                }
                amount(&c, wife, x).err().map_or(Value::Empty, Value::text)
            };
            ops::transform(t, c.error, rating, error, rep);
            ops::transform(
                t,
                c.amount,
                rating,
                |x| amount(&c, wife, x).map_or(Value::Empty, Value::Int),
                rep,
            );
            Ok(())
        },
    );
    s.statement(
        "quarantine",
        OpKind::State,
        "state QUARANTINE where the amount could not be computed (+ERROR)",
        move |ws, rep| {
            ops::state(
                ws.table_mut(conf),
                k.quarantine,
                move |x| rating(x) && !x.get(c.error).is_empty(),
                rep,
            );
            Ok(())
        },
    );
    s.statement("rated", OpKind::State, "state RATED (+AMOUNT)", move |ws, rep| {
        ops::state(ws.table_mut(conf), k.rated, rating, rep);
        Ok(())
    });
    s.statement(
        "discharge-quarantine",
        OpKind::Discharge,
        "discharge QUARANTINE -> the quarantine data table",
        move |ws, rep| {
            let (t, to) = ws.pair_mut(conf, quarantine);
            ops::discharge(t, to, |x| x.header.cabinet == k.quarantine, rep);
            Ok(())
        },
    );
    s.statement(
        "discharge-rated",
        OpKind::Discharge,
        "discharge RATED -> DIS (routed by IMSI)",
        move |ws, rep| {
            let (t, to) = ws.pair_mut(conf, out);
            ops::discharge(t, to, |x| x.header.cabinet == k.rated, rep);
            Ok(())
        },
    );
    s.build()
}

#[cfg(test)]
mod tests {
    use super::units;

    #[test]
    fn the_month_is_the_utc_month() {
        let t: jiff::Timestamp = "2026-03-01T01:00:00+03:00".parse().unwrap();
        assert_eq!(super::month_of(t), "2026-02");
    }

    #[test]
    fn units_count_started_minutes_and_kilobyte_blocks() {
        assert_eq!(units("VOICE", 0), 0);
        assert_eq!(units("VOICE", 60), 1);
        assert_eq!(units("VOICE", 61), 2);
        assert_eq!(units("SMS", 500), 1);
        assert_eq!(units("DATA", 1025), 2);
        assert_eq!(units("VOICE", i64::MAX), i64::MAX / 60 + 1);
    }
}

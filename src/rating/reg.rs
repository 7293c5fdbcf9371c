//! REG: registers each CDR into RAW, rejects what does not parse, is invalid, repeats an
//! event or names an unknown IMSI, and confirms the rest against the subscribers.

use std::sync::Arc;

use jiff::Timestamp;

use super::reference::{Reference, SERVICES};
use super::schema::{REASON_DUPLICATE, REASON_INVALID, REASON_PARSE, REASON_UNKNOWN_IMSI, Rating};
use crate::engine::{OpKind, Stage, Workspace};
use crate::model::{ContextId, ReactorKind, Record, TableId, Value};
use crate::ops::{self, ArmMode, Collision, StepReport};

/// Move the matching RAW records to REJECTED with REASON = `reason`.
pub(crate) fn reject(
    r: &Rating,
    ws: &mut Workspace,
    table: TableId,
    reason: &Value,
    mut filter: impl FnMut(&Record) -> bool,
    rep: &mut StepReport,
) {
    let t = ws.table_mut(table);
    let (from, to) = (r.cab.raw, r.cab.rejected);
    ops::state(t, to, |x| x.header.cabinet == from && filter(x), rep);
    let why = r.ctx.reason;
    ops::transform(t, why, |x| x.header.cabinet == to && x.get(why).is_empty(), |_| reason.clone(), rep);
}

fn parse_time(v: &Value) -> Value {
    match v.as_text().map(str::parse::<Timestamp>) {
        Some(Ok(t)) => Value::Time(t),
        _ => v.clone(),
    }
}

fn parse_int(v: &Value) -> Value {
    match v.as_text().map(str::parse::<i64>) {
        Some(Ok(i)) => Value::Int(i),
        _ => v.clone(),
    }
}

fn parsed(c: &super::schema::Contexts, x: &Record) -> bool {
    let known = |ctx: ContextId, allowed: &[&str]| x.get(ctx).as_text().is_some_and(|s| allowed.contains(&s));
    x.get(c.reason).is_empty()
        && known(c.service, &SERVICES)
        && known(c.action, &["MO", "MT"])
        && x.get(c.start_time).as_time().is_some()
        && x.get(c.end_time).as_time().is_some()
        && x.get(c.duration).as_int().is_some()
}

/// The REG stage, routed by EVENT_ID so that every copy of an event meets the same
/// SEEN_EVENTS table.
pub fn stage(r: &Arc<Rating>, refs: &Reference, expected_events: usize) -> Stage {
    let (c, k) = (r.ctx, r.cab);
    let mut s = Stage::builder("REG", &r.schema, c.event_id);
    let raw = s.reactor("RAW", ReactorKind::Driving);
    let seen = s.keys_only("SEEN_EVENTS");
    s.init(move |ws| ws.table_mut(seen).reserve_keys(expected_events));
    let rejected = s.sink("rejected");
    let out = s.output("CONFIRMED");
    let subscribers = refs.subscribers.clone();
    let reason = |s: &str| Value::text(s);
    let (parse, invalid, duplicate, unknown) =
        (reason(REASON_PARSE), reason(REASON_INVALID), reason(REASON_DUPLICATE), reason(REASON_UNKNOWN_IMSI));
    let is_raw = move |x: &Record| x.header.cabinet == k.raw;

    s.statement("charge", OpKind::Charge, "charge RAW <- a micro-batch of cdrs.csv rows", move |ws, rep| {
        let batch = ws.take_inbox();
        ops::charge(ws.table_mut(raw), k.raw, batch, rep);
        Ok(())
    });
    s.statement(
        "type",
        OpKind::Transform,
        "transform START_TIME, END_TIME, DURATION from text",
        move |ws, rep| {
            let t = ws.table_mut(raw);
            for ctx in [c.start_time, c.end_time] {
                ops::transform(t, ctx, |x| x.get(ctx).as_text().is_some(), |x| parse_time(x.get(ctx)), rep);
            }
            ops::transform(
                t,
                c.duration,
                |x| x.get(c.duration).as_text().is_some(),
                |x| parse_int(x.get(c.duration)),
                rep,
            );
            let latest = ws.table(raw).live().filter_map(|x| x.get(c.start_time).as_time()).max();
            if let Some(t) = latest {
                ws.clock.observe(t);
            }
            Ok(())
        },
    );
    let r1 = r.clone();
    s.statement(
        "reject-unparsed",
        OpKind::State,
        "state REJECTED where the row did not parse (REASON = parse)",
        move |ws, rep| {
            reject(&r1, ws, raw, &parse, |x| !parsed(&c, x), rep);
            Ok(())
        },
    );
    let r2 = r.clone();
    s.statement(
        "reject-invalid",
        OpKind::State,
        "state REJECTED where END_TIME < START_TIME or DURATION < 0 (REASON = invalid)",
        move |ws, rep| {
            let bad = |x: &Record| {
                x.get(c.end_time) < x.get(c.start_time) || x.get(c.duration).as_int().is_some_and(|d| d < 0)
            };
            reject(&r2, ws, raw, &invalid, bad, rep);
            Ok(())
        },
    );
    s.statement("arm-event", OpKind::Arm, "arm linkey = EVENT_ID", move |ws, rep| {
        ops::arm(ws.table_mut(raw), &[c.event_id], ArmMode::Absolute, is_raw, rep);
        Ok(())
    });
    let r3 = r.clone();
    s.statement(
        "reject-duplicate",
        OpKind::Collision,
        "collision SEEN_EVENTS -> hit: state REJECTED (REASON = duplicate)",
        move |ws, rep| {
            let (t, seen) = ws.pair_mut(raw, seen);
            ops::collision_learn(t, seen, k.rejected, is_raw, rep);
            reject(&r3, ws, raw, &duplicate, |_| false, rep);
            Ok(())
        },
    );
    s.statement("arm-imsi", OpKind::Arm, "arm linkey = IMSI", move |ws, rep| {
        ops::arm(ws.table_mut(raw), &[c.imsi], ArmMode::Absolute, is_raw, rep);
        Ok(())
    });
    let r4 = r.clone();
    s.statement(
        "confirm",
        OpKind::Collision,
        "collision SUBSCRIBERS -> hit: state CONFIRMED (+SUBSCRIBER, OFFER_TYPE, FAMILY, VPN_NAME, BALANCE); miss: state REJECTED (REASON = unknown_imsi)",
        move |ws, rep| {
            let fill = [c.subscriber, c.offer_type, c.family, c.vpn_name, c.balance].map(|x| (x, x));
            let spec = Collision { on: &[(c.imsi, c.imsi)], fill: &fill, hit: Some(k.confirmed), miss: Some(k.rejected) };
            ops::collision(&r4.schema, ws.table_mut(raw), &subscribers, &spec, is_raw, |_, _| true, rep);
            reject(&r4, ws, raw, &unknown, |_| false, rep);
            Ok(())
        },
    );
    s.statement(
        "discharge-rejected",
        OpKind::Discharge,
        "discharge REJECTED -> the rejected data table",
        move |ws, rep| {
            let (t, to) = ws.pair_mut(raw, rejected);
            ops::discharge(t, to, |x| x.header.cabinet == k.rejected, rep);
            Ok(())
        },
    );
    s.statement(
        "discharge-confirmed",
        OpKind::Discharge,
        "discharge CONFIRMED -> RATE (routed by IMSI)",
        move |ws, rep| {
            let (t, to) = ws.pair_mut(raw, out);
            ops::discharge(t, to, |x| x.header.cabinet == k.confirmed, rep);
            Ok(())
        },
    );
    s.build()
}

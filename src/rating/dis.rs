//! DIS: charges each rated record to its subscriber's balance, drops the intermediate
//! contexts, and discharges the result to PERSISTENT (the persistent table and its month's
//! archive), rolling the in-memory archive as months go by.

use std::sync::Arc;

use super::schema::{ERROR_BALANCE_OVERFLOW, Rating};
use crate::engine::{OpKind, Stage, StatementError};
use crate::model::{ReactorKind, Record, TableKind, Value};
use crate::ops::{self, Accumulate, ArmMode};

/// Months of archive kept in memory (archive1..archive12).
pub const ARCHIVE_MONTHS: usize = 12;

/// The DIS stage, routed by IMSI like RATE.
pub fn stage(r: &Arc<Rating>) -> Stage {
    let (c, k) = (r.ctx, r.cab);
    let mut s = Stage::builder("DIS", &r.schema, c.imsi);
    let rated = s.reactor("RATED", ReactorKind::Driving);
    let persistent = s.reactor("PERSISTENT", ReactorKind::Satellite);
    let balances = s.table("BALANCES", TableKind::Accumulator);
    let archive = s.table("ARCHIVE", TableKind::Archive);
    let out = s.sink("persistent");
    let kept =
        [c.event_id, c.imsi, c.subscriber, c.service, c.action, c.start_time, c.units, c.amount, c.month];

    s.statement("charge", OpKind::Charge, "charge RATED <- from RATE", move |ws, rep| {
        let mut batch = ws.take_inbox();
        for x in &mut batch {
            x.header.link_to = x.header.reg_id;
        }
        let latest = batch.iter().filter_map(|x| x.get(c.start_time).as_time()).max();
        if let Some(t) = latest {
            ws.clock.observe(t);
        }
        ops::charge(ws.table_mut(rated), k.rated, batch, rep);
        Ok(())
    });
    s.statement("arm-subscriber", OpKind::Arm, "arm linkey = SUBSCRIBER", move |ws, rep| {
        ops::arm(ws.table_mut(rated), &[c.subscriber], ArmMode::Absolute, |_| true, rep);
        Ok(())
    });
    s.statement(
        "balance",
        OpKind::Collision,
        "collision BALANCES accumulator (BALANCE -= AMOUNT)",
        move |ws, rep| {
            let spec = Accumulate {
                key: &[c.subscriber],
                total: c.balance,
                cabinet: k.account,
                init: Some(c.balance),
                add: c.amount,
                subtract: true,
                out: c.balance,
                out_after: true,
                checked: true,
            };
            let (t, acc) = ws.pair_mut(rated, balances);
            // Money is exact: a charge the balance cannot hold fails the statement every time,
            // so the supervisor isolates its record and quarantines it with this error.
            match ops::collision_accumulate(t, acc, &spec, |_| true, rep).overflow {
                Some(_) => Err(StatementError(ERROR_BALANCE_OVERFLOW.into())),
                None => Ok(()),
            }
        },
    );
    let slots = r.schema.slot_count();
    s.statement(
        "satellite",
        OpKind::Charge,
        "charge PERSISTENT satellite <- the reg_ids of RATED",
        move |ws, rep| {
            let ids: Vec<Record> =
                ws.table(rated).live().map(|x| Record::with_capacity(x.header.reg_id, slots)).collect();
            ops::charge(ws.table_mut(persistent), k.persistent, ids, rep);
            Ok(())
        },
    );
    s.statement(
        "de-escalate",
        OpKind::Deescalate,
        "de-escalate RATED -> PERSISTENT (keeps the persistent contexts, drops WIFE_NAME, TIER_* …)",
        move |ws, rep| {
            let (from, to) = ws.pair_mut(rated, persistent);
            ops::deescalate(from, to, &kept, rep);
            Ok(())
        },
    );
    s.statement(
        "disarm",
        OpKind::Disarm,
        "disarm the RATED rows, ready for the next tick",
        move |ws, rep| {
            ops::disarm(ws.table_mut(rated), |_| true, rep);
            Ok(())
        },
    );
    s.statement(
        "roll-archive",
        OpKind::Rolling,
        "rolling ARCHIVE: a new month becomes archive1",
        move |ws, rep| {
            let newest = ws.table(archive).rows().first().map(|x| x.get(c.month).clone());
            let mut months: Vec<Value> =
                ws.table(persistent).live().map(|x| x.get(c.month).clone()).collect();
            months.sort();
            months.dedup();
            for m in months.into_iter().filter(|m| !m.is_empty() && newest.as_ref().is_none_or(|n| m > n)) {
                let mut fresh = Record::new(0);
                fresh.set(c.month, m);
                ops::rolling(ws.table_mut(archive), ARCHIVE_MONTHS, fresh, k.archive, rep);
            }
            Ok(())
        },
    );
    s.statement(
        "discharge",
        OpKind::Discharge,
        "discharge PERSISTENT -> the persistent data table and the month's archive",
        move |ws, rep| {
            let (from, to) = ws.pair_mut(persistent, out);
            ops::discharge(from, to, |_| true, rep);
            Ok(())
        },
    );
    s.build()
}

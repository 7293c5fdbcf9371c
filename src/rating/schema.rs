//! The rating pipeline's contexts and cabinets (SPEC §8, the seed's Table 12).

use std::sync::Arc;

use crate::model::{CabinetId, ContextId, Schema, Weight};

/// REASON of a row that does not parse.
pub const REASON_PARSE: &str = "parse";
/// REASON of a row whose times or duration make no sense.
pub const REASON_INVALID: &str = "invalid";
/// REASON of a repeated event.
pub const REASON_DUPLICATE: &str = "duplicate";
/// REASON of an IMSI that no subscriber has.
pub const REASON_UNKNOWN_IMSI: &str = "unknown_imsi";
/// ERROR of a record whose amount does not fit.
pub const ERROR_OVERFLOW: &str = "amount overflow";
/// The error of a record whose charge would take its subscriber's balance out of `i64`.
pub const ERROR_BALANCE_OVERFLOW: &str = "balance overflow";

/// Context ids of the rating schema.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)] // each field is the context of the same name
pub struct Contexts {
    pub event_id: ContextId,
    pub session_id: ContextId,
    pub device_id: ContextId,
    pub imsi: ContextId,
    pub service: ContextId,
    pub action: ContextId,
    pub start_time: ContextId,
    pub end_time: ContextId,
    pub party: ContextId,
    pub duration: ContextId,
    pub reason: ContextId,
    pub subscriber: ContextId,
    pub offer_type: ContextId,
    pub family: ContextId,
    pub vpn_name: ContextId,
    pub balance: ContextId,
    pub units: ContextId,
    pub duration_to_charge: ContextId,
    pub month: ContextId,
    pub party_position: ContextId,
    pub unit_rate: ContextId,
    pub tiers: ContextId,
    pub tier_level: ContextId,
    pub tier_rate: ContextId,
    pub tier_low: ContextId,
    pub tier_high: ContextId,
    pub wife_name: ContextId,
    pub vpn_peer: ContextId,
    pub amount: ContextId,
    pub error: ContextId,
}

/// Cabinet ids of the rating schema.
#[derive(Clone, Copy, Debug)]
#[allow(missing_docs)] // each field is the cabinet of the same name
pub struct Cabinets {
    pub raw: CabinetId,
    pub rejected: CabinetId,
    pub confirmed: CabinetId,
    pub wife: CabinetId,
    pub rated: CabinetId,
    pub quarantine: CabinetId,
    pub persistent: CabinetId,
    pub reference: CabinetId,
    pub account: CabinetId,
    pub usage: CabinetId,
    pub archive: CabinetId,
}

/// The rating schema with its ids at hand.
#[derive(Debug)]
pub struct Rating {
    /// The schema.
    pub schema: Arc<Schema>,
    /// Its contexts.
    pub ctx: Contexts,
    /// Its cabinets.
    pub cab: Cabinets,
}

impl Rating {
    /// Define the schema.
    pub fn new() -> Rating {
        use Weight::{Heavy, Light};
        let mut b = Schema::builder();
        let mut c = |name, w| b.context(name, w);
        let ctx = Contexts {
            event_id: c("EVENT_ID", Heavy),
            session_id: c("SESSION_ID", Heavy),
            device_id: c("DEVICE_ID", Heavy),
            imsi: c("IMSI", Heavy),
            service: c("SERVICE", Light),
            action: c("ACTION", Light),
            start_time: c("START_TIME", Heavy),
            end_time: c("END_TIME", Heavy),
            party: c("PARTY", Heavy),
            duration: c("DURATION", Heavy),
            reason: c("REASON", Light),
            subscriber: c("SUBSCRIBER", Heavy),
            offer_type: c("OFFER_TYPE", Light),
            family: c("FAMILY", Light),
            vpn_name: c("VPN_NAME", Light),
            balance: c("BALANCE", Heavy),
            units: c("UNITS", Heavy),
            duration_to_charge: c("DURATION_TO_CHARGE", Heavy),
            month: c("MONTH", Light),
            party_position: c("PARTY_POSITION", Light),
            unit_rate: c("UNIT_RATE", Light),
            tiers: c("TIERS", Heavy),
            tier_level: c("TIER_LEVEL", Light),
            tier_rate: c("TIER_RATE", Light),
            tier_low: c("TIER_LOW", Light),
            tier_high: c("TIER_HIGH", Light),
            wife_name: c("WIFE_NAME", Light),
            vpn_peer: c("VPN_PEER", Heavy),
            amount: c("AMOUNT", Heavy),
            error: c("ERROR", Light),
        };
        let x = ctx;
        let raw_contexts = [
            x.event_id,
            x.session_id,
            x.device_id,
            x.imsi,
            x.service,
            x.action,
            x.start_time,
            x.end_time,
            x.party,
            x.duration,
        ];
        let raw = b.root("RAW", &raw_contexts);
        let rejected = b.cabinet("REJECTED", Some(raw), &[x.reason]);
        let confirmed = b.cabinet(
            "CONFIRMED",
            Some(raw),
            &[
                x.subscriber,
                x.offer_type,
                x.family,
                x.vpn_name,
                x.balance,
                x.units,
                x.duration_to_charge,
                x.month,
                x.party_position,
                x.unit_rate,
                x.tiers,
                x.tier_level,
                x.tier_rate,
                x.tier_low,
                x.tier_high,
                x.vpn_peer,
            ],
        );
        let wife = b.cabinet("WIFE", Some(confirmed), &[x.wife_name]);
        let rated = b.cabinet("RATED", Some(wife), &[x.amount]);
        let quarantine = b.cabinet("QUARANTINE", Some(confirmed), &[x.error]);
        let persistent = b.cabinet(
            "PERSISTENT",
            None,
            &[
                x.event_id,
                x.imsi,
                x.subscriber,
                x.service,
                x.action,
                x.start_time,
                x.units,
                x.amount,
                x.month,
            ],
        );
        let reference = b.cabinet("REFERENCE", None, &[]);
        let account = b.cabinet("ACCOUNT", None, &[x.subscriber, x.balance]);
        let usage = b.cabinet("USAGE", None, &[x.imsi, x.service, x.month, x.tiers]);
        let archive = b.cabinet("ARCHIVE", None, &[x.month]);
        b.spectrum("OUTCOME", &[persistent, rejected, quarantine]);
        b.context_cabinet("PRICED", x.amount, &[rated, persistent]);
        let schema = Arc::new(b.build().expect("the rating schema is valid"));
        let cab = Cabinets {
            raw,
            rejected,
            confirmed,
            wife,
            rated,
            quarantine,
            persistent,
            reference,
            account,
            usage,
            archive,
        };
        Rating { schema, ctx, cab }
    }
}

impl Default for Rating {
    fn default() -> Self {
        Rating::new()
    }
}

//! Anomaly detection (Section H4 check 7) and the quarantine.
//!
//! # What is implemented
//!
//! - **Thresholds** ([`thresholds`]): the most Service Requests a User may send for one
//!   SRV in a sliding minute and a sliding hour. Defaults per SRV class are derived from the
//!   volumes of SEC Annex 5 Table 5.3 (the derivation is written out in [`thresholds`]);
//!   `anomaly.overrides` sets them per User, per SRV, or both.
//! - **Windows** ([`windows`]): counts per (User, SRV) in 5-second and 5-minute buckets, in
//!   memory bounded by `anomaly.max_tracked` keys (idle keys dropped first, then the least
//!   recently used). Counts start from zero at each start of the gateway.
//! - **Check 7**: after checks 1–6 (so after the counter check), each request is counted;
//!   when a count exceeds its limit the request is *quarantined*: not executed, answered
//!   `E43`, and stored ([`quarantine`]) with its full signed body, User, SRV, reason and
//!   time — in the transaction that spends its counter (or consumes its Transform), so the
//!   same signed request cannot be replayed past the quarantine. Quarantined requests count
//!   towards the windows too (a flood stays quarantined until it slows down).
//! - **Operators** ([`admin`]): `GET /api/v1/admin/quarantine` lists the held requests,
//!   `GET …/{id}` returns one's signed body, `POST …/{id}/release` releases it and
//!   `DELETE …/{id}` deletes it, with a bearer token (`anomaly.admin_token`, or the token
//!   generated in `<data_dir>/anomaly/admin-token`); `hubgate quarantine list|release|delete`
//!   is the command-line client.
//! - **Release**: the request re-enters processing after check 7 — not counted against the
//!   thresholds again, its counter not checked again — and is executed
//!   ([`crate::ingress::pipeline::Pipeline::release`]). A device command goes to its device
//!   and the device's Service Response reaches the User through delivery, as for any
//!   device request; any other answer (a non-device service's result, a Transform's
//!   Pre-Command, an error code) is signed and handed to delivery as a Service Response at
//!   once, since the original HTTP exchange is over. The record is removed before the
//!   request runs: a release is carried out at most once, even across a crash.
//! - **Delete**: the record is removed and nothing more is sent: the User's only answer was
//!   the `E43`.
//! - **The User is told**: once a quarantined request is durable, its User receives a
//!   `QuarantinedRequest` DCC alert naming the RequestID and the quarantine ID
//!   ([`crate::alerts::quarantined_request`], code `N24`; why that code is written there).
//! - **Alerts per hub** ([`HubAlerts`]): every device alert is counted against its
//!   Communications Hub's sliding minute and hour (`anomaly.hub_alerts_per_minute`, default
//!   60; `anomaly.hub_alerts_per_hour`, default 600; `0` for no limit; the same [`windows`],
//!   keyed by hub). An alert over a limit is quarantined: the signed messages it would have
//!   been delivered as are held ([`quarantine::HeldAlert`]) and not delivered. The defaults
//!   are judgements: a premises raises a few alerts a day in normal running, a single event
//!   a handful; one a second sustained over a minute, or ten a minute over an hour, is a
//!   storm that would flood its Users. Alert windows are in memory like the request windows.
//! - **Held alerts** share the quarantine, its IDs, the admin API and the command line with
//!   requests: the listing marks each `kind` (`request` or `alert`); `GET …/{id}` of an
//!   alert returns its record with its signed messages; a released alert's messages are
//!   handed to delivery in the transaction that removes the record (delivered exactly once,
//!   as they were signed when the alert arrived); a deleted alert is never delivered.
//! - **Metrics**: `hubgate_quarantine_requests_total{window}`,
//!   `hubgate_quarantine_alerts_total{window}`, `hubgate_quarantine_held_messages` (requests
//!   and alerts), `hubgate_quarantine_outcomes_total{outcome}` (`released`, `deleted`), with
//!   `hubgate_anomaly_checks_total` for every request check run.
//!
//! # Not implemented
//!
//! - Anomaly detection on Service Responses coming back from devices: a response answers a
//!   request that already passed check 7, so it is not counted again.
//! - No DCC alert is raised for a quarantined device alert: the DUIS `QuarantinedRequest`
//!   alert names a request, and there is no alert type for a held alert.
//! - Thresholds on volumes over days or months (Table 5.3's own periods): the windows are a
//!   minute and an hour; the monthly service metrics are reporting, not quarantine.
//!
//! # What the tests prove
//!
//! Unit tests: the Table 5.3 defaults and override precedence, sliding counts and the memory
//! bound, hub alert limits, reading records of both kinds (and older records with no kind).
//! `gateway/tests/quarantine.rs`, against a real `hubgate serve` with emulated meters: the
//! request over a 3-a-minute threshold is answered `E43` and listed by the API and the CLI;
//! its User receives the `QuarantinedRequest` DCC alert, valid against the DUIS XSD and
//! DSP-signed; a missing or wrong token gets `401`; a released read reaches the meter and
//! its Service Response reaches the User through the pull endpoint, and its counter is not
//! refused as a replay; a deleted request is gone and never executed; the metrics count
//! quarantined, released and deleted requests; held requests survive a restart.
//! `gateway/tests/alert_throttle.rs`: alerts from one hub over a 3-a-minute limit are held,
//! listed, released (then delivered) and deleted (never delivered).

pub mod admin;
pub mod quarantine;
pub mod thresholds;
pub mod windows;

use hubgate_protocol::catalogue::Role;
use hubgate_protocol::hex;
use redb::WriteTransaction;

use std::sync::Arc;

use crate::alerts::AlertGuard;
use crate::config::AnomalyConfig;
use crate::ingress::pipeline::AnomalyHook;
use crate::metric_name;
use crate::store::{Store, StoreError};
pub use quarantine::{Held, HeldAlert, Item};
use thresholds::{Limit, OverrideError, Thresholds};
use windows::Windows;

/// A threshold breached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// `minute` or `hour`.
    pub window: &'static str,
    /// In words, for the log, the E43 answer and the quarantine record.
    pub reason: String,
}

/// Check 7 with thresholds.
#[derive(Debug)]
pub struct Anomaly {
    enabled: bool,
    thresholds: Thresholds,
    windows: Windows,
    /// Raises the `QuarantinedRequest` DCC alert, when set.
    alerts: Option<Arc<AlertGuard>>,
}

impl Anomaly {
    /// Anomaly detection as `config` sets it.
    ///
    /// # Errors
    ///
    /// [`OverrideError`] for a bad `anomaly.overrides`.
    pub fn from_config(config: &AnomalyConfig) -> Result<Anomaly, OverrideError> {
        Ok(Anomaly {
            enabled: config.enabled,
            thresholds: Thresholds::new(
                config.estate_size,
                config.burst_factor,
                &config.overrides,
            )?,
            windows: Windows::new(config.max_tracked),
            alerts: None,
        })
    }

    /// This check with the `QuarantinedRequest` DCC alert sent through `alerts` for every
    /// request it quarantines.
    #[must_use]
    pub fn with_alerts(mut self, alerts: Arc<AlertGuard>) -> Anomaly {
        self.alerts = Some(alerts);
        self
    }

    /// (User, SRV) windows tracked now.
    pub fn tracked(&self) -> usize {
        self.windows.len()
    }
}

impl AnomalyHook for Anomaly {
    fn check(&self, originator: &[u8; 8], srv: &str, role: Role, now_ms: i64) -> Option<Breach> {
        metrics::counter!(metric_name::ANOMALY_CHECKS_TOTAL).increment(1);
        crate::demand::record(originator, srv, role, now_ms);
        if !self.enabled {
            return None;
        }
        let limit = self.thresholds.limit(originator, srv, role);
        if limit.is_none() {
            return None;
        }
        let counts = self.windows.add(originator, srv, now_ms);
        let user = hex::eui_duis(originator);
        for (window, count, max) in [
            ("minute", counts.minute, limit.per_minute),
            ("hour", counts.hour, limit.per_hour),
        ] {
            if let Some(max) = max
                && count > max
            {
                return Some(Breach {
                    window,
                    reason: format!(
                        "{count} requests for SRV {srv} from User {user} in the last {window} \
                         exceed the threshold of {max}"
                    ),
                });
            }
        }
        None
    }

    fn hold(&self, t: &WriteTransaction, held: &Held) -> Result<u64, StoreError> {
        quarantine::insert_in(t, held)
    }

    fn held(&self, held: &Held) {
        metrics::counter!(metric_name::QUARANTINE_REQUESTS_TOTAL, "window" => held.window.clone())
            .increment(1);
        metrics::gauge!(metric_name::QUARANTINE_HELD_MESSAGES).increment(1.0);
        tracing::warn!(
            id = held.id,
            user = %held.user,
            srv = %held.srv,
            request_id = %held.request_id,
            reason = %held.reason,
            "request quarantined"
        );
        if let Some(alerts) = &self.alerts {
            alerts.request_quarantined(held);
        }
    }
}

/// Key of a hub's alert window in [`Windows`].
const HUB_ALERTS: &str = "alerts";

/// Alert counts per Communications Hub against `anomaly.hub_alerts_per_minute` and
/// `anomaly.hub_alerts_per_hour`.
#[derive(Debug)]
pub struct HubAlerts {
    limit: Limit,
    windows: Windows,
}

impl HubAlerts {
    /// The limits `config` sets; `None` when anomaly detection is off or both are `0`.
    pub fn from_config(config: &AnomalyConfig) -> Option<HubAlerts> {
        let some = |n: u64| (n > 0).then_some(n);
        let limit = Limit {
            per_minute: some(config.hub_alerts_per_minute),
            per_hour: some(config.hub_alerts_per_hour),
        };
        (config.enabled && !limit.is_none()).then(|| HubAlerts {
            limit,
            windows: Windows::new(config.max_tracked),
        })
    }

    /// Counts one alert from `hub` at `now_ms`; the breach when it is over a limit.
    pub fn check(&self, hub: &[u8; 8], now_ms: i64) -> Option<Breach> {
        let counts = self.windows.add(hub, HUB_ALERTS, now_ms);
        let id = hex::eui_duis(hub);
        [
            ("minute", counts.minute, self.limit.per_minute),
            ("hour", counts.hour, self.limit.per_hour),
        ]
        .into_iter()
        .find_map(|(window, count, max)| {
            max.filter(|max| count > *max).map(|max| Breach {
                window,
                reason: format!(
                    "{count} alerts from hub {id} in the last {window} exceed the threshold of {max}"
                ),
            })
        })
    }
}

/// Holds an alert over its hub's threshold in the quarantine (durably) and counts it; its ID.
///
/// # Errors
///
/// [`StoreError`]: nothing is held.
pub fn hold_alert(store: &Store, held: &HeldAlert) -> Result<u64, StoreError> {
    let id = quarantine::insert_alert(store, held)?;
    metrics::counter!(metric_name::QUARANTINE_ALERTS_TOTAL, "window" => held.window.clone())
        .increment(1);
    metrics::gauge!(metric_name::QUARANTINE_HELD_MESSAGES).increment(1.0);
    tracing::warn!(
        id,
        hub = %held.hub,
        device = %held.device,
        code = %held.alert_code,
        reason = %held.reason,
        "alert quarantined"
    );
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_alert_limits_count_per_hub() {
        let config = AnomalyConfig {
            hub_alerts_per_minute: 2,
            hub_alerts_per_hour: 0,
            ..AnomalyConfig::default()
        };
        let h = HubAlerts::from_config(&config).expect("limits");
        let t0 = 1_700_000_000_000;
        assert!(h.check(&[1; 8], t0).is_none());
        assert!(h.check(&[1; 8], t0 + 1).is_none());
        let b = h.check(&[1; 8], t0 + 2).expect("third in a minute");
        assert_eq!(b.window, "minute");
        assert!(b.reason.contains("threshold of 2"), "{}", b.reason);
        assert!(h.check(&[2; 8], t0 + 2).is_none(), "per hub");
        assert!(h.check(&[1; 8], t0 + 61_000).is_none(), "the minute slid");
        let off = AnomalyConfig {
            hub_alerts_per_minute: 0,
            hub_alerts_per_hour: 0,
            ..AnomalyConfig::default()
        };
        assert!(HubAlerts::from_config(&off).is_none());
        let disabled = AnomalyConfig {
            enabled: false,
            ..AnomalyConfig::default()
        };
        assert!(HubAlerts::from_config(&disabled).is_none());
    }
}

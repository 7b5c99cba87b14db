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
//! - **Metrics**: `hubgate_quarantine_requests_total{window}`,
//!   `hubgate_quarantine_held_messages`, `hubgate_quarantine_outcomes_total{outcome}`
//!   (`released`, `deleted`), with `hubgate_anomaly_checks_total` for every check run.
//!
//! # Not implemented
//!
//! - The `QuarantinedRequest` DCC Alert to the User is not raised: the gateway has no DCC
//!   Alert channel to raise it on yet. The User learns of the quarantine from the `E43`.
//! - Anomaly detection on Service Responses and Alerts coming back from devices.
//! - Thresholds on volumes over days or months (Table 5.3's own periods): the windows are a
//!   minute and an hour; the monthly service metrics are reporting, not quarantine.
//!
//! # What the tests prove
//!
//! Unit tests: the Table 5.3 defaults and override precedence, sliding counts and the memory
//! bound. `gateway/tests/quarantine.rs`, against a real `hubgate serve` with emulated meters:
//! the request over a 3-a-minute threshold is answered `E43` and listed by the API and the
//! CLI; a missing or wrong token gets `401`; a released read reaches the meter and its
//! Service Response reaches the User through the pull endpoint, and its counter is not
//! refused as a replay; a deleted request is gone and never executed; the metrics count
//! quarantined, released and deleted requests; held requests survive a restart.

pub mod admin;
pub mod quarantine;
pub mod thresholds;
pub mod windows;

use hubgate_protocol::catalogue::Role;
use hubgate_protocol::hex;
use redb::WriteTransaction;

use crate::config::AnomalyConfig;
use crate::ingress::pipeline::AnomalyHook;
use crate::metric_name;
use crate::store::StoreError;
pub use quarantine::Held;
use thresholds::{OverrideError, Thresholds};
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
        })
    }

    /// (User, SRV) windows tracked now.
    pub fn tracked(&self) -> usize {
        self.windows.len()
    }
}

impl AnomalyHook for Anomaly {
    fn check(&self, originator: &[u8; 8], srv: &str, role: Role, now_ms: i64) -> Option<Breach> {
        metrics::counter!(metric_name::ANOMALY_CHECKS_TOTAL).increment(1);
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
    }
}

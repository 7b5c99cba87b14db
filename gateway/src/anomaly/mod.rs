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
//! - **Service Responses per hub** ([`HubResponses`]): every Service Response the response
//!   writer ([`crate::routing::ResponseSink`]) makes of a device's answer (`I0` with the
//!   GBCS response) is counted against the answering Communications Hub's sliding minute and
//!   hour (`anomaly.hub_responses_per_minute`, default 34 725;
//!   `anomaly.hub_responses_per_hour`, default 2 083 335; `0` for no limit; the same
//!   [`windows`], keyed by hub, on the monotonic clock). The defaults are five User roles
//!   times the busiest request threshold, so no answer to a request the request thresholds
//!   let through for one premises is held; the derivation is written at
//!   [`DEFAULT_HUB_RESPONSES_PER_MINUTE`]. `E20`/`E21` answers (the device did not answer)
//!   and answers the gateway makes itself (sequencing failures) are not counted: nothing
//!   came back from the hub. `anomaly.overrides` does not touch these limits (a run that
//!   lifts every request threshold with `*:*=-,-` still has them); `0` turns them off.
//! - **Held responses** ([`HeldResponses`], records of `kind` `response`,
//!   [`quarantine::HeldResponse`]): a response over a limit is signed as usual but held
//!   instead of delivered. It is stored in the same transaction that removes its request's
//!   journal entry and stores the batch's other answers, so the request has reached its
//!   outcome durably and is not sent again after a restart. Listing, `GET …/{id}` (the record
//!   with the signed response), release (delivered exactly once, in the transaction that
//!   removes the record) and delete (never delivered) work as for held alerts. A released
//!   response is the one signed when the device answered (its `ResponseDateTime` is then).
//!   In the CLI's table a held response shows its User, SRV, RequestID and reason (the
//!   table has no kind column); `hubgate quarantine list --json` carries `kind`.
//! - **The User of a held response is told**: the request was acknowledged and its answer
//!   now waits for an operator, so its User receives the same `QuarantinedRequest` DCC alert
//!   as for a quarantined request, naming the RequestID answered and the quarantine ID
//!   (`N24`) — when the requester is a User ([`HeldResponses::screen_with`]; the response
//!   writer asks the User registry), never another EUI. Messages that go with a response
//!   (a 6.23's Change of Supplier alerts) are held in its record and released with it. DUIS has no alert naming a held response; `QuarantinedRequest` names a
//!   RequestID, which a held response has. The alert is handed to delivery once the record
//!   is durable, in a second transaction: a crash between the two loses the alert, never
//!   the held response.
//! - **Metrics**: `hubgate_quarantine_requests_total{window}`,
//!   `hubgate_quarantine_alerts_total{window}`, `hubgate_quarantine_responses_total{window}`,
//!   `hubgate_quarantine_held_messages` (every kind),
//!   `hubgate_quarantine_outcomes_total{outcome}` (`released`, `deleted`), with
//!   `hubgate_anomaly_checks_total` for every request check run.
//!
//! # Not implemented
//!
//! - Response thresholds per User or per SRV: a response is counted per hub only (its
//!   request was counted per User and SRV by check 7).
//! - Response windows, like the others, are in memory: a restart starts them from zero.
//! - No DCC alert is raised for a quarantined device alert: the DUIS `QuarantinedRequest`
//!   alert names a request, and there is no alert type for a held alert.
//! - Thresholds on volumes over days or months (Table 5.3's own periods): the windows are a
//!   minute and an hour; the monthly service metrics are reporting, not quarantine.
//!
//! # What the tests prove
//!
//! Unit tests: the Table 5.3 defaults and override precedence, sliding counts and the memory
//! bound, hub alert and response limits, the response defaults' derivation, reading records
//! of every kind (and older records with no kind).
//! `gateway/tests/quarantine.rs`, against a real `hubgate serve` with emulated meters: the
//! request over a 3-a-minute threshold is answered `E43` and listed by the API and the CLI;
//! its User receives the `QuarantinedRequest` DCC alert, valid against the DUIS XSD and
//! DSP-signed; a missing or wrong token gets `401`; a released read reaches the meter and
//! its Service Response reaches the User through the pull endpoint, and its counter is not
//! refused as a replay; a deleted request is gone and never executed; the metrics count
//! quarantined, released and deleted requests; held requests survive a restart.
//! `gateway/tests/alert_throttle.rs`: alerts from one hub over a 3-a-minute limit are held,
//! listed, released (then delivered) and deleted (never delivered).
//! `gateway/tests/response_quarantine.rs`: with a limit of 3 Service Responses a minute per
//! hub, five reads to one emulated premises give three delivered responses and two held,
//! listed as `response` by the API and the CLI, each announced to the User by a
//! `QuarantinedRequest` alert; they survive a restart (and are not sent to the meter again);
//! the released one is delivered once, DSP-signed and valid against the DUIS XSD, the
//! deleted one never; the journal holds nothing for any of them.

pub mod admin;
pub mod quarantine;
pub mod thresholds;
pub mod windows;

use hubgate_protocol::catalogue::Role;
use hubgate_protocol::duis::model::header::RequestId;
use hubgate_protocol::hex;
use redb::WriteTransaction;

use std::sync::Arc;
use std::time::Instant;

use crate::alerts::{AlertGuard, Signed};
use crate::config::AnomalyConfig;
use crate::delivery::{Delivery, Outgoing};
use crate::ingress::pipeline::AnomalyHook;
use crate::ingress::respond::Responder;
use crate::metric_name;
use crate::store::{Store, StoreError};
use quarantine::HeldMessage;
pub use quarantine::{Held, HeldAlert, HeldResponse, Item};
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
        hub_breach(&self.windows, self.limit, HUB_ALERTS, "alerts", hub, now_ms)
    }
}

/// Counts one `what` (`alerts`, `Service Responses`) from `hub` at `now_ms` in `windows`
/// under `key`; the breach of `limit`, if any.
fn hub_breach(
    windows: &Windows,
    limit: Limit,
    key: &str,
    what: &str,
    hub: &[u8; 8],
    now_ms: i64,
) -> Option<Breach> {
    let counts = windows.add(hub, key, now_ms);
    let id = hex::eui_duis(hub);
    [
        ("minute", counts.minute, limit.per_minute),
        ("hour", counts.hour, limit.per_hour),
    ]
    .into_iter()
    .find_map(|(window, count, max)| {
        max.filter(|max| count > *max).map(|max| Breach {
            window,
            reason: format!(
                "{count} {what} from hub {id} in the last {window} exceed the threshold of {max}"
            ),
        })
    })
}

/// Key of a hub's Service Response window in [`Windows`].
const HUB_RESPONSES: &str = "responses";

/// The User roles whose requests one premises answers: import, export and gas supplier,
/// electricity distributor and gas transporter (see [`DEFAULT_HUB_RESPONSES_PER_MINUTE`]).
pub const PREMISES_ROLES: u64 = 5;

/// Default of `anomaly.hub_responses_per_minute`: [`PREMISES_ROLES`] times the busiest
/// per-(User, SRV) request threshold a minute under the Table 5.3 defaults (6 945, see
/// [`thresholds`]).
///
/// The derivation: a hub only answers the commands its Users sent (a response that matches
/// no command in flight is dropped before it reaches the response writer), so every response
/// counted here answers a request that check 7 already let through. A response threshold
/// below what the request thresholds allow for one premises would hold back answers to
/// commands the meter has already carried out. Nothing in the request thresholds stops a
/// User from sending its whole allowance for an SRV to one premises, and five User roles
/// address a premises' devices, so one premises may be sent 5 × 6 945 = 34 725 requests a
/// minute (5 × 416 667 = 2 083 335 an hour) of one SRV each before any request threshold
/// trips. That is the default: several hundred times what an installation or a change of
/// supplier asks of one premises, and, spread over the estate, four orders of magnitude
/// above the premises' own Table 5.3 share (under 0.01 requests a minute per User and
/// SRV). It catches what per-(User, SRV) counts cannot see: many Users or SRVs converging on
/// one premises. Operators agreeing real values with their Users set lower ones.
pub const DEFAULT_HUB_RESPONSES_PER_MINUTE: u64 = 34_725;

/// Default of `anomaly.hub_responses_per_hour`: see [`DEFAULT_HUB_RESPONSES_PER_MINUTE`].
pub const DEFAULT_HUB_RESPONSES_PER_HOUR: u64 = 2_083_335;

/// Service Response counts per Communications Hub against
/// `anomaly.hub_responses_per_minute` and `anomaly.hub_responses_per_hour`, on the monotonic
/// clock (a pinned or stepped wall clock cannot hold a window open).
#[derive(Debug)]
pub struct HubResponses {
    limit: Limit,
    windows: Windows,
    started: Instant,
}

impl HubResponses {
    /// The limits `config` sets; `None` when anomaly detection is off or both are `0`.
    pub fn from_config(config: &AnomalyConfig) -> Option<HubResponses> {
        let some = |n: u64| (n > 0).then_some(n);
        let limit = Limit {
            per_minute: some(config.hub_responses_per_minute),
            per_hour: some(config.hub_responses_per_hour),
        };
        (config.enabled && !limit.is_none()).then(|| HubResponses {
            limit,
            windows: Windows::new(config.max_tracked),
            started: Instant::now(),
        })
    }

    /// Counts one Service Response from `hub` now; the breach when it is over a limit.
    pub fn check(&self, hub: &[u8; 8]) -> Option<Breach> {
        let now = i64::try_from(self.started.elapsed().as_millis()).unwrap_or(i64::MAX);
        self.check_at(hub, now)
    }

    /// Counts one Service Response from `hub` at `now_ms` (milliseconds on any clock that
    /// only moves forward); the breach when it is over a limit.
    pub fn check_at(&self, hub: &[u8; 8], now_ms: i64) -> Option<Breach> {
        hub_breach(
            &self.windows,
            self.limit,
            HUB_RESPONSES,
            "Service Responses",
            hub,
            now_ms,
        )
    }
}

/// What a Service Response answers, for [`HeldResponses::screen`].
#[derive(Debug, Clone)]
pub struct Answered {
    /// The Communications Hub the answer came through.
    pub hub: [u8; 8],
    /// The device that answered.
    pub device: [u8; 8],
    /// The request answered.
    pub request_id: RequestId,
    /// Its SRV.
    pub srv: String,
}

/// The Service Responses one batch of the response writer holds back: screened one by one
/// ([`HeldResponses::screen`]), stored in the transaction that removes their requests'
/// journal entries ([`HeldResponses::hold_in`]), then counted and announced to their Users
/// once that transaction is durable ([`HeldResponses::held`]).
#[derive(Debug, Default)]
pub struct HeldResponses<'a> {
    limits: Option<&'a HubResponses>,
    /// Each held record, its RequestID, and the User told of it (`None`: nobody).
    held: Vec<(HeldResponse, RequestId, Option<[u8; 8]>)>,
}

impl<'a> HeldResponses<'a> {
    /// A batch screened against `limits` (`None`: nothing is held).
    pub fn new(limits: Option<&'a HubResponses>) -> HeldResponses<'a> {
        HeldResponses {
            limits,
            held: Vec::new(),
        }
    }

    /// Counts the signed Service Response `message`, answering `answered`, against its hub's
    /// thresholds: `message` back when it is within them (or nothing is limited), else
    /// `None` and the message is kept to be held.
    pub fn screen(&mut self, answered: &Answered, message: Signed, now_ms: i64) -> Option<Signed> {
        self.screen_with(answered, message, Vec::new(), true, now_ms)
            .into_iter()
            .next()
    }

    /// [`HeldResponses::screen`] for a Service Response that travels with `also` (the Change
    /// of Supplier alerts of a 6.23): within the thresholds, `message` and `also` back; over
    /// them, nothing back, and all of them kept in one record, delivered together if it is
    /// released. `tell`: whether the requester (the response's addressee) gets the
    /// `QuarantinedRequest` alert; the caller says `false` for an EUI that is not a User.
    pub fn screen_with(
        &mut self,
        answered: &Answered,
        message: Signed,
        also: Vec<Signed>,
        tell: bool,
        now_ms: i64,
    ) -> Vec<Signed> {
        let breach = self.limits.and_then(|l| l.check(&answered.hub));
        let Some(breach) = breach else {
            return std::iter::once(message).chain(also).collect();
        };
        let (user, body, kind) = message;
        let mut messages = vec![HeldMessage::new(&user, kind, &body)];
        messages.extend(also.iter().map(|(u, b, k)| HeldMessage::new(u, *k, b)));
        self.held.push((
            HeldResponse {
                kind: quarantine::RESPONSE_KIND.to_string(),
                id: 0,
                hub: hex::eui_duis(&answered.hub),
                device: hex::eui_duis(&answered.device),
                user: hex::eui_duis(&user),
                srv: answered.srv.clone(),
                request_id: answered.request_id.to_string(),
                window: breach.window.to_string(),
                reason: breach.reason,
                at_ms: now_ms,
                messages,
            },
            answered.request_id,
            tell.then_some(user),
        ));
        Vec::new()
    }

    /// Whether any response is to be held.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Stores the responses to hold inside `t`, each under a new quarantine ID.
    ///
    /// # Errors
    ///
    /// [`StoreError`]: the transaction must then be abandoned.
    pub fn hold_in(&mut self, t: &WriteTransaction) -> Result<(), StoreError> {
        for (record, _, _) in &mut self.held {
            record.id = quarantine::insert_response_in(t, record)?;
        }
        Ok(())
    }

    /// After the transaction that held them committed: counts and logs each held response
    /// and hands each requesting User's `QuarantinedRequest` DCC alert (naming the RequestID
    /// and the quarantine ID) to `delivery`.
    pub fn held(self, responder: &Responder, delivery: &Delivery, now_ms: i64) {
        if self.held.is_empty() {
            return;
        }
        let mut alerts = Vec::with_capacity(self.held.len());
        for (record, request_id, user) in self.held {
            metrics::counter!(
                metric_name::QUARANTINE_RESPONSES_TOTAL,
                "window" => record.window.clone()
            )
            .increment(1);
            metrics::gauge!(metric_name::QUARANTINE_HELD_MESSAGES).increment(1.0);
            tracing::warn!(
                id = record.id,
                hub = %record.hub,
                user = %record.user,
                request_id = %record.request_id,
                reason = %record.reason,
                "Service Response quarantined"
            );
            let Some(user) = user else {
                tracing::info!(
                    id = record.id,
                    requester = %record.user,
                    "the requester of a held Service Response is not a User: no QuarantinedRequest alert"
                );
                continue;
            };
            if let Some((user, body, kind)) =
                crate::alerts::quarantined_request(responder, user, &request_id, record.id, now_ms)
            {
                alerts.push(Outgoing { user, body, kind });
            }
        }
        let n = alerts.len();
        if n == 0 {
            return;
        }
        match delivery.submit_batch(alerts) {
            Ok(results) => {
                for e in results.into_iter().filter_map(Result::err) {
                    tracing::error!(error = %e, "a QuarantinedRequest alert could not be queued");
                }
            }
            Err(e) => {
                tracing::error!(error = %e, alerts = n, "QuarantinedRequest alerts could not be queued");
            }
        }
    }
}

/// Holds an alert over its hub's threshold in the quarantine (durably) and counts it; its ID,
/// or `None` when the quarantine holds `max_held` records already (`0`: no limit).
///
/// # Errors
///
/// [`StoreError`]: nothing is held.
pub fn hold_alert(
    store: &Store,
    held: &HeldAlert,
    max_held: u64,
) -> Result<Option<u64>, StoreError> {
    let Some(id) = quarantine::insert_alert(store, held, max_held)? else {
        return Ok(None);
    };
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
    Ok(Some(id))
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

    #[test]
    fn hub_response_limits_count_per_hub() {
        let config = AnomalyConfig {
            hub_responses_per_minute: 3,
            hub_responses_per_hour: 4,
            ..AnomalyConfig::default()
        };
        let h = HubResponses::from_config(&config).expect("limits");
        let t0 = 1_700_000_000_000;
        for i in 0..3 {
            assert!(h.check_at(&[1; 8], t0 + i).is_none(), "{i}");
        }
        let b = h.check_at(&[1; 8], t0 + 3).expect("fourth in a minute");
        assert_eq!(b.window, "minute");
        assert!(
            b.reason
                .contains("4 Service Responses from hub 01-01-01-01-01-01-01-01")
                && b.reason.contains("threshold of 3"),
            "{}",
            b.reason
        );
        assert!(h.check_at(&[2; 8], t0 + 3).is_none(), "per hub");
        // A minute later the minute is clear but the hour holds five.
        let b = h.check_at(&[1; 8], t0 + 61_000).expect("fifth in an hour");
        assert_eq!(b.window, "hour");
        // Alerts and responses of one hub are counted apart.
        let alerts = HubAlerts::from_config(&AnomalyConfig {
            hub_alerts_per_minute: 1,
            ..AnomalyConfig::default()
        })
        .expect("alert limits");
        assert!(alerts.check(&[1; 8], t0).is_none());
        // Off: both 0, or anomaly detection disabled.
        for off in [
            AnomalyConfig {
                hub_responses_per_minute: 0,
                hub_responses_per_hour: 0,
                ..AnomalyConfig::default()
            },
            AnomalyConfig {
                enabled: false,
                ..AnomalyConfig::default()
            },
        ] {
            assert!(HubResponses::from_config(&off).is_none());
            // With nothing limited every answer passes, and nothing is held.
            let limits = HubResponses::from_config(&off);
            let mut held = HeldResponses::new(limits.as_ref());
            let answered = Answered {
                hub: [1; 8],
                device: [2; 8],
                request_id: "90-B3-D5-1F-30-01-00-00:00-DB-12-34-56-78-90-A0:1000"
                    .parse()
                    .unwrap(),
                srv: "4.1.1".into(),
            };
            let message = (
                [3; 8],
                b"<signed/>".to_vec(),
                crate::delivery::Kind::Response,
            );
            assert_eq!(held.screen(&answered, message.clone(), t0), Some(message));
            assert!(held.is_empty());
        }
    }

    #[test]
    fn hub_response_defaults_follow_the_request_thresholds() {
        let d = AnomalyConfig::default();
        let busiest = thresholds::Class::Other.default_limit(d.estate_size, d.burst_factor);
        assert_eq!(
            busiest,
            thresholds::Class::ProfileSupplier.default_limit(d.estate_size, d.burst_factor)
        );
        assert_eq!(
            Some(d.hub_responses_per_minute),
            busiest.per_minute.map(|n| n * PREMISES_ROLES)
        );
        assert_eq!(
            Some(d.hub_responses_per_hour),
            busiest.per_hour.map(|n| n * PREMISES_ROLES)
        );
        assert_eq!(d.hub_responses_per_minute, DEFAULT_HUB_RESPONSES_PER_MINUTE);
        assert_eq!(d.hub_responses_per_hour, DEFAULT_HUB_RESPONSES_PER_HOUR);
        // Above every class's default: no answer to a request let through is held.
        for class in [
            thresholds::Class::ProfileNetwork,
            thresholds::Class::Display,
            thresholds::Class::Firmware,
            thresholds::Class::NetworkData,
        ] {
            let l = class.default_limit(d.estate_size, d.burst_factor);
            assert!(l.per_minute < busiest.per_minute, "{class:?}");
        }
    }
}

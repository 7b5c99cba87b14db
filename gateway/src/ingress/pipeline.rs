//! The Section H4 checks, in order, for one request; and the synchronous answer.
//!
//! Nothing changes state until every check has passed: the counter is only recorded (and a
//! Transform's RequestID only consumed) once the request is accepted, so a refused request
//! leaves the gateway exactly as it was.

use std::sync::Arc;

use actix_web::web::Bytes;
use hubgate_protocol::catalogue::{Catalogue, Role};
use hubgate_protocol::duis::dsig::DsigError;
use hubgate_protocol::duis::model::header::{RequestId, ServiceReference, ServiceReferenceVariant};
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::model::response::{ResponseCode, ResponsePayload};
use hubgate_protocol::duis::xml::{self, Document, Limits};
use hubgate_protocol::duis::{NS_SR, reader};
use hubgate_protocol::hex;
use hubgate_protocol::transform;

use super::codes::{Rejection, transform_refusal};
use super::respond::{Answer, Responder};
use super::server::RequestTimer;
use super::{Handler, Reply, Service};
use crate::clock::{Clock, parse_rfc3339_ms};
use crate::group_commit::{CommitError, GroupCommit};
use crate::metric_name;
use crate::registration::{Date, RegistrationData};
use crate::store::{Store, StoreError};
use crate::users::{AccessError, UserRegistry};
use crate::verifier::{PoolError, VerifierPool};

/// What a device check needs to know about the target device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceFacts {
    /// The MPxNs registration data is checked against (import and export, the device's own
    /// or its meter's); empty for devices with none (a hub on its own).
    pub mpxns: Vec<String>,
    /// The device's type as the transform knows it (`None` for Type 2 devices, which take no
    /// GBCS commands).
    pub device_type: Option<transform::DeviceType>,
    /// An ESME with a secondary element (twin-element variants).
    pub twin_element: bool,
    /// A polyphase ESME (variant C and its derivatives).
    pub polyphase: bool,
    /// The device's GBCS version from the inventory, if recorded.
    pub gbcs_version: Option<String>,
}

impl DeviceFacts {
    /// The transform's context for a command to this device at `now`, sent on behalf of
    /// `requester` (a network operator gets its own use cases); `None` when the device takes
    /// no GBCS commands.
    pub fn transform_context(
        &self,
        acb: [u8; 8],
        now: transform::UtcDateTime,
        requester: Option<&crate::users::User>,
    ) -> Option<transform::Context> {
        let mut ctx = transform::Context::new(self.device_type?, acb, now);
        ctx.twin_element = self.twin_element;
        ctx.polyphase = self.polyphase;
        ctx.network_operator = requester.is_some_and(crate::users::User::acts_as_network_operator);
        Some(ctx)
    }
}

/// The Smart Metering Inventory as the pipeline sees it: check 5 and the non-device
/// services.
pub trait DeviceDirectory: Send + Sync {
    /// Check 5: the target exists (E19), its type fits the SRV (E11), its status allows the
    /// SRV (E5), and local delivery is allowed (E17).
    fn check_device(&self, target: &[u8; 8], srv: &str, cv: u8) -> Result<DeviceFacts, Rejection>;

    /// Runs a non-device service (CV 8 or 2) that passed every check; returns the code and
    /// payload of the answer.
    fn non_device(
        &self,
        request: &Request,
        now_ms: i64,
    ) -> Result<(ResponseCode, Option<ResponsePayload>), Rejection>;
}

/// Anomaly detection (check 7); [`crate::anomaly::Anomaly`] is the implementation with
/// thresholds and a quarantine.
pub trait AnomalyHook: Send + Sync {
    /// Counts a request that passed checks 1–6 against the thresholds of its User and SRV;
    /// `Some` is a breach: the request is to be quarantined.
    fn check(
        &self,
        originator: &[u8; 8],
        srv: &str,
        role: Role,
        now_ms: i64,
    ) -> Option<crate::anomaly::Breach>;

    /// Stores a quarantined request inside `t`, the transaction that also spends its
    /// counter; returns its quarantine ID.
    ///
    /// # Errors
    ///
    /// [`StoreError`]: nothing of the transaction is kept.
    fn hold(
        &self,
        t: &redb::WriteTransaction,
        held: &crate::anomaly::Held,
    ) -> Result<u64, StoreError>;

    /// Told once the quarantined request (with its ID) is durable.
    fn held(&self, _held: &crate::anomaly::Held) {}
}

/// The hook that lets everything through (and counts it).
#[derive(Debug, Default)]
pub struct NoThresholds;

impl AnomalyHook for NoThresholds {
    fn check(
        &self,
        _originator: &[u8; 8],
        _srv: &str,
        _role: Role,
        _now_ms: i64,
    ) -> Option<crate::anomaly::Breach> {
        metrics::counter!(metric_name::ANOMALY_CHECKS_TOTAL).increment(1);
        None
    }

    fn hold(
        &self,
        t: &redb::WriteTransaction,
        held: &crate::anomaly::Held,
    ) -> Result<u64, StoreError> {
        crate::anomaly::quarantine::insert_in(t, held)
    }
}

/// What became of a request released from quarantine.
#[derive(Debug)]
pub enum Released {
    /// Its command went to the device; the device's Service Response follows through
    /// routing and delivery.
    Routed,
    /// Its answer, signed, for delivery to the User as a Service Response.
    Answer {
        /// The response code.
        code: ResponseCode,
        /// The signed DUIS Response.
        body: Vec<u8>,
    },
}

impl Pipeline {
    /// The accepted request a quarantine record holds, as check 7 left it: the stored body
    /// read again (its signature was verified before it was held), the role it was sent
    /// under and what check 5 learnt of its device.
    ///
    /// # Errors
    ///
    /// Why the record cannot be read (a damaged record).
    pub fn released_request(&self, held: &crate::anomaly::Held) -> Result<Accepted, String> {
        let body = held.body_bytes().map_err(|e| format!("body: {e}"))?;
        let doc = xml::parse(&body, &self.limits).map_err(|e| e.to_string())?;
        let request = reader::read_request(&doc).map_err(|e| e.to_string())?;
        let role = held.role().ok_or_else(|| format!("role {:?}", held.role))?;
        Ok(Accepted {
            request,
            role,
            device: held.device.as_ref().map(|d| d.to_facts()),
            routed: None,
            firmware: None,
        })
    }

    /// Carries out a request released from quarantine: it re-enters processing after
    /// check 7 — no threshold, and no counter check (its counter was spent when it was
    /// held). A Transform (CV 4) is registered for its Signed Pre-Command as on acceptance.
    pub async fn release(&self, accepted: &Accepted) -> Released {
        let h = &accepted.request.header;
        let id = h.request_id;
        let cv = h.command_variant.as_u8();
        let now_ms = self.clock.now_ms();
        let mut result = Ok(());
        if cv == 4 {
            let key = transform_key(&id);
            let srv = h.service_reference_variant.to_string();
            result = self
                .commit
                .submit(move |t| {
                    let value = serde_json::to_vec(&srv).map_err(|source| StoreError::Encode {
                        table: "ingress_transforms".to_string(),
                        source,
                    })?;
                    t.open_table(TRANSFORMS)?
                        .insert(key.as_str(), value.as_slice())?;
                    Ok(())
                })
                .await
                .map_err(|e| Rejection::Busy(e.to_string()));
        }
        // 11.1: checked and stored now, as on acceptance (its device checks were not run
        // when it was held), then distributed like any other. Its answer is queued by the
        // caller in a later transaction: a crash in between distributes it without that
        // answer (see `crate::firmware`, "Concurrent requests and released requests").
        let mut planned = None;
        if result.is_ok() && accepted.firmware.is_none() {
            let roles = self
                .users
                .get(&id.originator)
                .map(|u| u.roles.clone())
                .unwrap_or_default();
            match self.plan_firmware(&accepted.request, &roles, now_ms) {
                Ok(Some(plan)) => {
                    let stored = plan.clone();
                    result = self
                        .commit
                        .submit(move |t| crate::firmware::insert_in(t, &stored))
                        .await
                        .map_err(|e| Rejection::Busy(e.to_string()));
                    planned = Some(Accepted {
                        firmware: Some(plan),
                        ..accepted.clone()
                    });
                }
                Ok(None) => {}
                Err(r) => result = Err(r),
            }
        }
        let accepted = planned.as_ref().unwrap_or(accepted);
        let answer = result.and_then(|()| self.answer(accepted, now_ms));
        let service = Some((h.service_reference, h.service_reference_variant));
        let non_device = Catalogue::get()
            .srv(&h.service_reference_variant.to_string())
            .is_some_and(|s| s.non_device);
        let answer = match answer {
            Ok(_) if !non_device && self.router.is_some() && matches!(cv, 1 | 3 | 5..=7) => {
                return Released::Routed;
            }
            Ok(a) => Answer {
                with_response_id: true,
                ..a
            },
            Err(r) => {
                tracing::info!(code = %r.code(), reason = %r, "released request not carried out");
                Answer {
                    request_id: Some(id),
                    with_response_id: true,
                    code: r.code(),
                    service,
                    payload: None,
                }
            }
        };
        let code = answer.code;
        let body = self.reply(answer, now_ms, 200).body;
        Released::Answer { code, body }
    }
}

/// Everything the checks consult.
pub struct Pipeline {
    /// Users, their roles and XML-signing certificates.
    pub users: Arc<UserRegistry>,
    /// The signature verifier pool (resolving signers among the Users).
    pub pool: VerifierPool,
    /// Counters and the Transform register.
    pub store: Arc<Store>,
    /// Shares the store's fsyncs among the requests being accepted.
    pub commit: Arc<GroupCommit>,
    /// The Smart Metering Inventory.
    pub devices: Arc<dyn DeviceDirectory>,
    /// Registration data.
    pub registration: Arc<RegistrationData>,
    /// Anomaly detection.
    pub anomaly: Arc<dyn AnomalyHook>,
    /// Signs the answers.
    pub responder: Responder,
    /// The time.
    pub clock: Arc<dyn Clock>,
    /// Sends device commands to hub actors (`None`: device requests are acknowledged and go
    /// nowhere, for tests of the checks alone).
    pub router: Option<Arc<crate::routing::Router>>,
    /// The Access Control Broker's EUI (originator of commands sent on Users' behalf, and
    /// the MAC party of every command).
    pub acb: [u8; 8],
    /// XML reader limits.
    pub limits: Limits,
    /// SR 11.1 Update Firmware (`None`: refused with E100 like any service not provided).
    pub firmware: Option<Arc<crate::firmware::Firmware>>,
    /// The last counters known committed, for the early replay check.
    pub counters: CounterHints,
}

/// The highest counter known committed per originator, so that the early replay check (step
/// 4) needs no read transaction once an originator has been seen.
///
/// Only committed counters enter it (after the commit that spent them, or read from the
/// store), so a counter it holds was accepted and anything at or below it is a replay. It
/// may lag the store (a commit not yet noted here, or a read racing a commit): then a replay
/// passes the early check and is refused by the check repeated inside the commit, which is
/// the one that decides. One entry per originator that passed the User checks, so it is
/// bounded by the number of Users.
#[derive(Debug, Default)]
pub struct CounterHints {
    last: dashmap::DashMap<[u8; 8], u64>,
}

impl CounterHints {
    /// The highest counter noted for `originator`.
    pub fn get(&self, originator: &[u8; 8]) -> Option<u64> {
        self.last.get(originator).map(|v| *v)
    }

    /// Notes that `counter` from `originator` is committed.
    pub fn note(&self, originator: [u8; 8], counter: u64) {
        let mut e = self.last.entry(originator).or_insert(counter);
        if *e < counter {
            *e = counter;
        }
    }
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("users", &self.users.len())
            .finish_non_exhaustive()
    }
}

/// Stage histograms, looked up once.
struct Stages {
    parse: metrics::Histogram,
    signature: metrics::Histogram,
    checks: metrics::Histogram,
    answer: metrics::Histogram,
}

/// A CommandVariant number as the requests metric labels it: `1`–`8`, else `unknown`.
fn cv_label(cv: u8) -> &'static str {
    const LABELS: [&str; 8] = ["1", "2", "3", "4", "5", "6", "7", "8"];
    usize::from(cv)
        .checked_sub(1)
        .and_then(|i| LABELS.get(i))
        .copied()
        .unwrap_or("unknown")
}

fn stages() -> &'static Stages {
    static STAGES: std::sync::OnceLock<Stages> = std::sync::OnceLock::new();
    STAGES.get_or_init(|| {
        let h = |stage: &'static str| metrics::histogram!(metric_name::INGRESS_STAGE_SECONDS, "stage" => stage);
        Stages { parse: h("parse"), signature: h("signature"), checks: h("checks"), answer: h("answer") }
    })
}

/// A request that passed every check.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The typed request.
    pub request: Request,
    /// The role under which the User sent it.
    pub role: Role,
    /// What check 5 learnt of the target device (device SRs only).
    pub device: Option<DeviceFacts>,
    /// A device request the gateway sends: its command, journaled with the acceptance
    /// ([`crate::journal`]), or why it cannot be built. `None`: not sent, or not built yet
    /// (a request released from quarantine is built when released).
    pub routed: Option<Result<crate::routing::Prepared, Rejection>>,
    /// An 11.1 request's checked devices and image, stored with the acceptance
    /// ([`crate::firmware`]).
    pub firmware: Option<crate::firmware::Plan>,
}

/// A refusal, with what is known of the request to address the error response.
#[derive(Debug)]
pub struct Refused {
    /// Why.
    pub rejection: Rejection,
    /// The RequestID, when it could be read.
    pub request_id: Option<RequestId>,
    /// Service Reference and Variant, when they could be read.
    pub service: Option<(ServiceReference, ServiceReferenceVariant)>,
    /// The CommandVariant, when it could be read.
    pub cv: Option<u8>,
}

/// The lenient view of a request that could not be read in full: enough to address an
/// error response.
fn salvage(
    doc: &Document,
) -> (
    Option<RequestId>,
    Option<(ServiceReference, ServiceReferenceVariant)>,
) {
    let header = doc.root.first_child(NS_SR, "Header");
    let text = |name: &str| {
        header
            .and_then(|h| h.first_child(NS_SR, name))
            .map(|e| e.text().to_string())
    };
    let id = text("RequestID").and_then(|s| RequestId::parse(&s).ok());
    let sr = text("ServiceReference").and_then(|s| ServiceReference::parse(&s));
    let srv = text("ServiceReferenceVariant").and_then(|s| ServiceReferenceVariant::parse(&s));
    (id, sr.zip(srv))
}

/// The `GBCSVersion` of a Pre-Command when the inventory records none for the device.
const DEFAULT_GBCS_VERSION: &str = "4.0";

/// Transform requests (CV 4) whose RequestID a Signed Pre-Command (CV 5/6/7) may still
/// reuse: `originator:target:counter` → SRV. The whole RequestID is the key, so a Transform
/// for one device cannot be spent by a Signed Pre-Command for another. (Records written
/// before the target was part of the key, `originator:counter`, are no longer found: their
/// Signed Pre-Commands are refused as replays and the Transform must be sent again.)
const TRANSFORMS: redb::TableDefinition<'static, &'static str, &'static [u8]> =
    redb::TableDefinition::new("ingress_transforms");

fn transform_key(id: &RequestId) -> String {
    format!(
        "{}:{}:{}",
        hex::eui(&id.originator),
        hex::eui(&id.target),
        id.counter
    )
}

impl Pipeline {
    /// Runs the checks. `Err` carries what is known of the request for the error response.
    pub async fn check(&self, service: Service, body: &[u8]) -> Result<Accepted, Refused> {
        // 1. Structure.
        let mut t = std::time::Instant::now();
        let mut lap = |h: &metrics::Histogram| {
            let now = std::time::Instant::now();
            h.record(now.duration_since(t).as_secs_f64());
            t = now;
        };
        let doc = xml::parse(body, &self.limits).map_err(|e| Refused {
            rejection: Rejection::Malformed(e.to_string()),
            request_id: None,
            service: None,
            cv: None,
        })?;
        // The signature is verified in `doc`; the model needs no copy of it.
        let request = match reader::read_request_unsigned(&doc) {
            Ok(r) => r,
            Err(e) => {
                let (request_id, service) = salvage(&doc);
                return Err(Refused {
                    rejection: Rejection::Malformed(e.to_string()),
                    request_id,
                    service,
                    cv: None,
                });
            }
        };
        let id = request.header.request_id;
        let svc = Some((
            request.header.service_reference,
            request.header.service_reference_variant,
        ));
        let cv = request.header.command_variant.as_u8();
        let fail = |r: Rejection| Refused {
            rejection: r,
            request_id: Some(id),
            service: svc,
            cv: Some(cv),
        };
        if !service.accepts(cv) {
            return Err(fail(Rejection::WrongService {
                cv,
                path: service.path(),
            }));
        }
        let srv_name = request.header.service_reference_variant.to_string();
        let srv = Catalogue::get()
            .srv(&srv_name)
            .ok_or_else(|| fail(Rejection::Malformed(format!("unknown SRV {srv_name}"))))?;
        if !srv.allows_command_variant(cv) {
            return Err(fail(Rejection::CommandVariant {
                cv,
                srv: srv_name.clone(),
            }));
        }
        if let Err(e) = request.check_consistency() {
            return Err(fail(Rejection::Malformed(e.to_string())));
        }
        // The store cannot write (disk full): refused at once (crate::store_health).
        if let Some(reason) = self.store.health().refusal() {
            return Err(fail(Rejection::Busy(reason)));
        }

        lap(&stages().parse);

        // 2. Signature, on the verifier pool; then the signer's certificate.
        let (_doc, verdict) = self.pool.verify(doc).await.map_err(|e| {
            fail(match e {
                PoolError::Busy => Rejection::Busy("signature verification queue is full".into()),
                PoolError::Stopped => Rejection::Busy("shutting down".into()),
            })
        })?;
        let verified = verdict.map_err(|e| {
            fail(match e {
                DsigError::UnknownCertificate(serial) => {
                    Rejection::Signer(AccessError::UnknownSigner(serial).to_string())
                }
                other => Rejection::Signature(other.to_string()),
            })
        })?;
        let now_ms = self.clock.now_ms();
        let serial = verified.serial.unwrap_or_default();
        self.users
            .check_signer(&id.originator, &serial, now_ms.div_euclid(1000))
            .map_err(|e| fail(Rejection::Signer(e.to_string())))?;

        lap(&stages().signature);

        // 3. User and role.
        let authorised = self
            .users
            .authorise(&id.originator, &srv_name)
            .map_err(|e| {
                fail(match e {
                    AccessError::UnknownUser(u) => Rejection::UnknownUser(u),
                    AccessError::Suspended(u) => Rejection::UserSuspended(u),
                    other => Rejection::RoleNotPermitted {
                        user: hex::eui_duis(&id.originator),
                        srv: other.to_string(),
                    },
                })
            })?;
        let role = authorised.role;
        let roles = authorised.user.roles.clone();

        // 4. Counter: strictly increasing, except that CV 5/6/7 reuse their Transform's
        // RequestID (PROTOCOLS.md §1.7).
        let reuses_transform = matches!(cv, 5..=7);
        if reuses_transform {
            let pending: Option<String> = self
                .store
                .get_json(TRANSFORMS, transform_key(&id).as_str())
                .map_err(|e| fail(Rejection::Busy(e.to_string())))?;
            match pending {
                Some(srv_of_transform) if srv_of_transform == srv_name => {}
                _ => {
                    return Err(fail(Rejection::Replay {
                        originator: hex::eui_duis(&id.originator),
                        counter: id.counter,
                    }));
                }
            }
        } else {
            let last = match self.counters.get(&id.originator) {
                Some(l) => Some(l),
                None => {
                    let l = self
                        .store
                        .counter_last(id.originator)
                        .map_err(|e| fail(Rejection::Busy(e.to_string())))?;
                    if let Some(l) = l {
                        self.counters.note(id.originator, l);
                    }
                    l
                }
            };
            if last.is_some_and(|l| id.counter <= l) {
                return Err(fail(Rejection::Replay {
                    originator: hex::eui_duis(&id.originator),
                    counter: id.counter,
                }));
            }
        }

        // 5. Device; 6. registration data (non-critical device SRs).
        let mut device = None;
        if !srv.non_device {
            let facts = self
                .devices
                .check_device(&id.target, &srv_name, cv)
                .map_err(fail)?;
            if !srv.critical && !facts.mpxns.is_empty() {
                let at_ms = request
                    .body
                    .execution_date_time()
                    .and_then(|d| parse_rfc3339_ms(d.as_str()))
                    .unwrap_or(now_ms);
                let date = Date::gb_from_unix_ms(at_ms)
                    .map_err(|e| fail(Rejection::Malformed(format!("ExecutionDateTime: {e}"))))?;
                let mut refusal = None;
                let ok = facts.mpxns.iter().any(|mpxn| {
                    match self
                        .registration
                        .authorised(id.originator, &roles, mpxn, date)
                    {
                        Ok(()) => true,
                        Err(e) => {
                            refusal.get_or_insert(e);
                            false
                        }
                    }
                });
                if !ok {
                    let reason = refusal.map_or_else(String::new, |e| e.to_string());
                    return Err(fail(Rejection::NotRegistered(reason)));
                }
            }
            device = Some(facts);
        }

        // 7. Anomaly detection: a breach quarantines the request, held durably in the
        // transaction that spends its counter (or consumes its Transform).
        if let Some(breach) = self.anomaly.check(&id.originator, &srv_name, role, now_ms) {
            let mut held = crate::anomaly::Held::new(
                &id.originator,
                &srv_name,
                cv,
                id.to_string(),
                role,
                &breach,
                now_ms,
                device.as_ref(),
                body,
            );
            let hook = Arc::clone(&self.anomaly);
            let record = held.clone();
            let key = transform_key(&id);
            let stored = self
                .commit
                .submit(move |t| {
                    let fresh = if reuses_transform {
                        t.open_table(TRANSFORMS)?.remove(key.as_str())?.is_some()
                    } else {
                        Store::counter_accept_in(t, id.originator, id.counter)?
                    };
                    if !fresh {
                        return Ok(None);
                    }
                    hook.hold(t, &record).map(Some)
                })
                .await
                .map_err(|e| {
                    fail(match e {
                        CommitError::Busy => {
                            Rejection::Busy("the store's write queue is full".into())
                        }
                        other => Rejection::Busy(other.to_string()),
                    })
                })?;
            let Some(quarantine_id) = stored else {
                return Err(fail(Rejection::Replay {
                    originator: hex::eui_duis(&id.originator),
                    counter: id.counter,
                }));
            };
            held.id = quarantine_id;
            self.anomaly.held(&held);
            return Err(fail(Rejection::Quarantined(format!(
                "{} (held as {quarantine_id})",
                breach.reason
            ))));
        }

        // A device request the gateway sends: its command is built now, so that it is
        // journaled with the acceptance.
        let routed = match (&self.router, srv.non_device, cv) {
            (Some(router), false, 1 | 3 | 5 | 6 | 7) => {
                Some(router.prepare(&request, device.as_ref()))
            }
            _ => None,
        };
        // Encoded once: the commit may run its writes more than once.
        let journal = routed
            .as_ref()
            .and_then(|r| r.as_ref().ok())
            .map(crate::routing::Prepared::journal_record);

        // 11.1: the per-device checks, and the image stored with the acceptance.
        let firmware = self.plan_firmware(&request, &roles, now_ms).map_err(fail)?;
        let firmware_store = firmware.clone();

        // Accepted: record the counter (atomically re-checked), register or consume the
        // Transform, journal the command, in one transaction shared with the other requests
        // being accepted, and durable before the acknowledgement.
        let key = transform_key(&id);
        let transform_srv = (cv == 4).then(|| srv_name.clone());
        let fresh = self
            .commit
            .submit(move |t| {
                let fresh = if reuses_transform {
                    let mut tab = t.open_table(TRANSFORMS)?;
                    tab.remove(key.as_str())?.is_some()
                } else {
                    Store::counter_accept_in(t, id.originator, id.counter)?
                };
                if !fresh {
                    return Ok(false);
                }
                if let Some(srv) = &transform_srv {
                    let value = serde_json::to_vec(srv).map_err(|source| StoreError::Encode {
                        table: "ingress_transforms".to_string(),
                        source,
                    })?;
                    t.open_table(TRANSFORMS)?
                        .insert(key.as_str(), value.as_slice())?;
                }
                if let Some((key, record)) = &journal {
                    crate::journal::insert_in(t, *key, record)?;
                }
                if let Some(plan) = &firmware_store {
                    crate::firmware::insert_in(t, plan)?;
                }
                Ok(true)
            })
            .await
            .map_err(|e| {
                fail(match e {
                    CommitError::Busy => Rejection::Busy("the store's write queue is full".into()),
                    other => Rejection::Busy(other.to_string()),
                })
            })?;
        if !fresh {
            return Err(fail(Rejection::Replay {
                originator: hex::eui_duis(&id.originator),
                counter: id.counter,
            }));
        }
        if !reuses_transform {
            self.counters.note(id.originator, id.counter);
        }
        lap(&stages().checks);
        Ok(Accepted {
            request,
            role,
            device,
            routed,
            firmware,
        })
    }

    /// The per-device checks of an 11.1 (`None` for any other request, or without the
    /// service), with check 6 per device: the requester is registered under one of `roles`
    /// for one of the device's MPxNs today.
    fn plan_firmware(
        &self,
        request: &Request,
        roles: &[Role],
        now_ms: i64,
    ) -> Result<Option<crate::firmware::Plan>, Rejection> {
        let Some(f) = &self.firmware else {
            return Ok(None);
        };
        let today = Date::gb_from_unix_ms(now_ms)
            .map_err(|e| Rejection::Malformed(format!("date: {e}")))?;
        let originator = request.header.request_id.originator;
        let registered = |mpxns: &[&str]| {
            mpxns.is_empty()
                || mpxns.iter().any(|m| {
                    self.registration
                        .authorised(originator, roles, m, today)
                        .is_ok()
                })
        };
        f.plan(request, now_ms, &registered)
    }

    /// The synchronous answer to an accepted request.
    fn answer(&self, accepted: &Accepted, now_ms: i64) -> Result<Answer, Rejection> {
        let h = &accepted.request.header;
        let srv = Catalogue::get().srv(&h.service_reference_variant.to_string());
        let service = Some((h.service_reference, h.service_reference_variant));
        if let (Some(plan), Some(f)) = (&accepted.firmware, &self.firmware) {
            let (code, payload) = f.accepted(plan);
            return Ok(Answer {
                request_id: Some(h.request_id),
                with_response_id: false,
                code,
                service,
                payload,
            });
        }
        if srv.is_some_and(|s| s.non_device) {
            let (code, payload) = self.devices.non_device(&accepted.request, now_ms)?;
            return Ok(Answer {
                request_id: Some(h.request_id),
                with_response_id: false,
                code,
                service,
                payload,
            });
        }
        let cv = h.command_variant.as_u8();
        if let (Some(router), 1 | 3 | 5 | 6 | 7) = (&self.router, cv) {
            match &accepted.routed {
                Some(Ok(prepared)) => {
                    if let Err(r) = router.dispatch(prepared) {
                        router.forget(prepared);
                        return Err(r);
                    }
                }
                Some(Err(r)) => return Err(r.clone()),
                None => router.route(accepted)?,
            }
        }
        if cv == 4 {
            return Ok(Answer {
                request_id: Some(h.request_id),
                with_response_id: false,
                code: ResponseCode::I0,
                service,
                payload: Some(self.precommand(accepted, now_ms)?),
            });
        }
        Ok(Answer {
            request_id: Some(h.request_id),
            with_response_id: false,
            code: ResponseCode::I99,
            service,
            payload: None,
        })
    }

    /// The Pre-Command answering a Transform request (CV 4): the GBCS the device will get,
    /// for the User to check and sign (PROTOCOLS.md §1.7).
    fn precommand(&self, accepted: &Accepted, now_ms: i64) -> Result<ResponsePayload, Rejection> {
        let srv = accepted
            .request
            .header
            .service_reference_variant
            .to_string();
        let now = transform::UtcDateTime::from_unix(now_ms.div_euclid(1000));
        let requester = self
            .users
            .get(&accepted.request.header.request_id.originator);
        let facts = accepted.device.as_ref();
        let mut ctx = facts
            .and_then(|f| f.transform_context(self.acb, now, requester))
            .ok_or_else(|| {
                Rejection::NotProvided(format!("SRV {srv}: the target takes no GBCS commands"))
            })?;
        if let Some(router) = &self.router {
            ctx.join_peer = router.join_peer(&accepted.request, &srv)?;
        }
        let out = transform::transform(&accepted.request, &ctx).map_err(transform_refusal)?;
        let precommand = out
            .precommand()
            .ok_or_else(|| Rejection::NotProvided(format!("SRV {srv} is not critical")))?;
        Ok(ResponsePayload::PreCommand {
            gbcs_version: facts
                .and_then(|f| f.gbcs_version.clone())
                .unwrap_or_else(|| DEFAULT_GBCS_VERSION.to_string()),
            gbcs_payload: precommand.to_vec(),
        })
    }

    fn reply(&self, answer: Answer, now_ms: i64, status: u16) -> Reply {
        match self.responder.signed(answer, now_ms) {
            Ok(body) => Reply {
                status,
                content_type: "application/xml",
                body,
            },
            Err(e) => {
                tracing::error!(error = %e, "could not build a response");
                Reply {
                    status: 500,
                    content_type: "text/plain; charset=utf-8",
                    body: b"internal error\n".to_vec(),
                }
            }
        }
    }

    async fn process(&self, service: Service, body: Bytes) -> Reply {
        let timer = RequestTimer::start();
        let now_ms = self.clock.now_ms();
        let (answer, status, srv, cv) = match self.check(service, &body).await {
            Ok(accepted) => {
                let srv = accepted.request.header.service_reference_variant.as_str();
                let cv = cv_label(accepted.request.header.command_variant.as_u8());
                match self.answer(&accepted, now_ms) {
                    Ok(a) => (a, 200, srv, cv),
                    Err(r) => {
                        // Accepted (its counter is spent) but not carried out: the command
                        // could not be built or the hubs could not take it.
                        metrics::counter!(metric_name::INGRESS_REJECTED_TOTAL, "check" => r.check().to_string())
                            .increment(1);
                        tracing::info!(code = %r.code(), reason = %r, "request accepted but not carried out");
                        let h = &accepted.request.header;
                        let a = Answer {
                            request_id: Some(h.request_id),
                            with_response_id: false,
                            code: r.code(),
                            service: Some((h.service_reference, h.service_reference_variant)),
                            payload: None,
                        };
                        (a, 200, srv, cv)
                    }
                }
            }
            Err(Refused {
                rejection,
                request_id: id,
                service: svc,
                cv,
            }) => {
                metrics::counter!(metric_name::INGRESS_REJECTED_TOTAL, "check" => rejection.check().to_string())
                    .increment(1);
                tracing::info!(code = %rejection.code(), reason = %rejection, "request refused");
                let srv = svc.map_or("unknown", |(_, v)| v.as_str());
                let Some(service_pair) = svc else {
                    // Too broken to address a DUIS response: answer at HTTP level.
                    timer.finish(service, "unknown", "unknown", rejection.code().as_str());
                    return Reply {
                        status: 400,
                        content_type: "text/plain; charset=utf-8",
                        body: format!("{}: {rejection}\n", rejection.code()).into_bytes(),
                    };
                };
                let status = if matches!(rejection, Rejection::Busy(_)) {
                    503
                } else {
                    200
                };
                let a = Answer {
                    request_id: id,
                    with_response_id: false,
                    code: rejection.code(),
                    service: Some(service_pair),
                    payload: None,
                };
                (a, status, srv, cv.map_or("unknown", cv_label))
            }
        };
        let signing = std::time::Instant::now();
        let code = answer.code;
        let reply = self.reply(answer, now_ms, status);
        stages().answer.record(signing.elapsed().as_secs_f64());
        timer.finish(service, srv, cv, code.as_str());
        reply
    }
}

impl Handler for Pipeline {
    fn handle(
        &self,
        service: Service,
        body: Bytes,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Reply> + Send + '_>> {
        Box::pin(self.process(service, body))
    }

    fn ready(&self) -> bool {
        !self.store.health().is_degraded()
    }
}

#[cfg(test)]
mod tests {
    use super::CounterHints;

    #[test]
    fn counter_hints_keep_the_highest_committed_counter() {
        let hints = CounterHints::default();
        let a = [1u8; 8];
        assert_eq!(hints.get(&a), None);
        hints.note(a, 10);
        // A read of the store that raced a later commit notes an older counter: kept out.
        hints.note(a, 7);
        assert_eq!(hints.get(&a), Some(10));
        hints.note(a, 11);
        assert_eq!(hints.get(&a), Some(11));
        assert_eq!(hints.get(&[2u8; 8]), None);
    }
}

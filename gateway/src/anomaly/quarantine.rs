//! The quarantine: requests, device alerts and Service Responses held after breaching a
//! threshold, in the store's `anomaly.quarantine` table (ID → JSON record), so they survive
//! restarts until an operator releases or deletes them. All kinds share the table and its
//! IDs.
//!
//! - A **request** record ([`Held`]) keeps the full signed body. It is written in the same
//!   transaction that spends the request's counter (or consumes its Transform), so a held
//!   request is never also answerable as a replay, and no request is both refused with
//!   `E43` and absent from the quarantine.
//! - An **alert** record ([`HeldAlert`], `"kind": "alert"`) keeps the signed DUIS messages the
//!   alert would have been delivered as, one per receiving User, ready to hand to delivery
//!   on release. Its removal and the hand-over to delivery share one transaction
//!   ([`take_in`]), so a released alert is delivered exactly once.
//! - A **response** record ([`HeldResponse`], `"kind": "response"`) keeps the signed Service
//!   Response a device's answer was turned into, for its requesting User, in the same
//!   shape ([`HeldMessage`]) and released the same way. It is written in the transaction
//!   that removes the request's journal entry ([`insert_response_in`]), so the request has
//!   reached its outcome durably: it is not sent again at the next start.
//!
//! Records written before alerts could be held carry no `kind` and read as requests.

use base64::Engine as _;
use hubgate_protocol::catalogue::Role;
use hubgate_protocol::hex;
use hubgate_protocol::transform::DeviceType;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

use crate::delivery::{Kind, Outgoing};
use crate::ingress::pipeline::DeviceFacts;
use crate::store::{Store, StoreError};

/// Quarantined requests by ID.
pub const TABLE: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("anomaly.quarantine");

const NAME: &str = "anomaly.quarantine";

/// What check 5 learnt of the target device, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredFacts {
    /// See [`DeviceFacts::mpxns`].
    pub mpxns: Vec<String>,
    /// The device type's name (`Esme`, …), if any.
    pub device_type: Option<String>,
    /// See [`DeviceFacts::twin_element`].
    pub twin_element: bool,
    /// See [`DeviceFacts::polyphase`].
    #[serde(default)]
    pub polyphase: bool,
    /// See [`DeviceFacts::gbcs_version`].
    pub gbcs_version: Option<String>,
}

impl From<&DeviceFacts> for StoredFacts {
    fn from(f: &DeviceFacts) -> Self {
        StoredFacts {
            mpxns: f.mpxns.clone(),
            device_type: f.device_type.map(|t| format!("{t:?}")),
            twin_element: f.twin_element,
            polyphase: f.polyphase,
            gbcs_version: f.gbcs_version.clone(),
        }
    }
}

impl StoredFacts {
    /// Back to what the pipeline uses.
    pub fn to_facts(&self) -> DeviceFacts {
        DeviceFacts {
            mpxns: self.mpxns.clone(),
            device_type: self.device_type.as_deref().and_then(|name| {
                DeviceType::ALL
                    .into_iter()
                    .find(|t| format!("{t:?}") == name)
            }),
            twin_element: self.twin_element,
            polyphase: self.polyphase,
            gbcs_version: self.gbcs_version.clone(),
        }
    }
}

/// One quarantined request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
    /// `"request"` (absent in older records).
    #[serde(default = "request_kind")]
    pub kind: String,
    /// Its quarantine ID (0 until stored).
    pub id: u64,
    /// The sending User, DUIS-formatted.
    pub user: String,
    /// The SRV.
    pub srv: String,
    /// The CommandVariant.
    pub cv: u8,
    /// The RequestID.
    pub request_id: String,
    /// The role it was sent under (`IS`, …).
    pub role: String,
    /// The window it breached (`minute` or `hour`).
    pub window: String,
    /// Why, in words.
    pub reason: String,
    /// When it was quarantined (milliseconds since the Unix epoch).
    pub at_ms: i64,
    /// What check 5 learnt of the target (device SRs).
    pub device: Option<StoredFacts>,
    /// The full signed request as received, base64.
    pub body: String,
}

impl Held {
    /// The signed request's bytes.
    ///
    /// # Errors
    ///
    /// When the stored text is not base64 (a damaged record).
    pub fn body_bytes(&self) -> Result<Vec<u8>, base64::DecodeError> {
        base64::engine::general_purpose::STANDARD.decode(&self.body)
    }

    /// The role.
    pub fn role(&self) -> Option<Role> {
        Role::parse(&self.role)
    }

    /// The sending User's EUI.
    pub fn user_eui(&self) -> Option<[u8; 8]> {
        hex::parse_eui(&self.user)
    }

    /// A record for `body` (not stored yet).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        user: &[u8; 8],
        srv: &str,
        cv: u8,
        request_id: String,
        role: Role,
        breach: &super::Breach,
        at_ms: i64,
        device: Option<&DeviceFacts>,
        body: &[u8],
    ) -> Held {
        Held {
            kind: request_kind(),
            id: 0,
            user: hex::eui_duis(user),
            srv: srv.to_string(),
            cv,
            request_id,
            role: role.code().to_string(),
            window: breach.window.to_string(),
            reason: breach.reason.clone(),
            at_ms,
            device: device.map(StoredFacts::from),
            body: base64::engine::general_purpose::STANDARD.encode(body),
        }
    }

    /// The listing's view: everything but the body, with its size and the time in RFC 3339.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "kind": "request",
            "user": self.user,
            "srv": self.srv,
            "cv": self.cv,
            "request_id": self.request_id,
            "role": self.role,
            "window": self.window,
            "reason": self.reason,
            "quarantined_at": crate::clock::rfc3339_ms(self.at_ms),
            "body_bytes": self.body_bytes().map_or(0, |b| b.len()),
        })
    }
}

fn request_kind() -> String {
    "request".to_string()
}

/// The `kind` of an alert record.
pub const ALERT_KIND: &str = "alert";

/// One signed message of a held alert, for one User.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldMessage {
    /// The receiving User, DUIS-formatted.
    pub user: String,
    /// The delivery kind's label (`device_alert`, `dcc_alert`, `response`).
    pub kind: String,
    /// The signed DUIS message, base64.
    pub body: String,
}

impl HeldMessage {
    /// The message for `user`, of delivery `kind`.
    pub fn new(user: &[u8; 8], kind: Kind, body: &[u8]) -> HeldMessage {
        HeldMessage {
            user: hex::eui_duis(user),
            kind: kind.label().to_string(),
            body: base64::engine::general_purpose::STANDARD.encode(body),
        }
    }

    /// Back to what delivery takes; `None` for a damaged record.
    pub fn outgoing(&self) -> Option<Outgoing> {
        Some(Outgoing {
            user: hex::parse_eui(&self.user)?,
            body: base64::engine::general_purpose::STANDARD
                .decode(&self.body)
                .ok()?,
            kind: Kind::ALL.into_iter().find(|k| k.label() == self.kind)?,
        })
    }
}

/// One quarantined device alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldAlert {
    /// Always [`ALERT_KIND`].
    pub kind: String,
    /// Its quarantine ID (0 until stored).
    pub id: u64,
    /// The Communications Hub it came through, DUIS-formatted.
    pub hub: String,
    /// The device that raised it, DUIS-formatted.
    pub device: String,
    /// The alert code (4 hex digits).
    pub alert_code: String,
    /// The device's alert counter.
    pub counter: u64,
    /// The window it breached (`minute` or `hour`).
    pub window: String,
    /// Why, in words.
    pub reason: String,
    /// When it was quarantined (milliseconds since the Unix epoch).
    pub at_ms: i64,
    /// The signed messages it would have been delivered as.
    pub messages: Vec<HeldMessage>,
}

impl HeldAlert {
    /// The listing's view. `user`, `srv`, `cv` and `request_id` are filled so that a listing
    /// made for requests still reads: the hub, `alert`, `0` and `device:code:counter`.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "kind": ALERT_KIND,
            "hub": self.hub,
            "device": self.device,
            "alert_code": self.alert_code,
            "counter": self.counter,
            "recipients": self.messages.iter().map(|m| m.user.as_str()).collect::<Vec<_>>(),
            "user": self.hub,
            "srv": "alert",
            "cv": 0,
            "request_id": format!("{}:{}:{}", self.device, self.alert_code, self.counter),
            "window": self.window,
            "reason": self.reason,
            "quarantined_at": crate::clock::rfc3339_ms(self.at_ms),
            "messages": self.messages.len(),
        })
    }

    /// The record with its messages as XML text (for `GET …/{id}`).
    pub fn detail(&self) -> serde_json::Value {
        let mut v = self.summary();
        v["messages"] = messages_detail(&self.messages);
        v
    }
}

/// The `kind` of a Service Response record.
pub const RESPONSE_KIND: &str = "response";

/// One quarantined Service Response (a device's answer over its hub's threshold).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldResponse {
    /// Always [`RESPONSE_KIND`].
    pub kind: String,
    /// Its quarantine ID (0 until stored).
    pub id: u64,
    /// The Communications Hub the answer came through, DUIS-formatted.
    pub hub: String,
    /// The device that answered, DUIS-formatted.
    pub device: String,
    /// The requesting User, DUIS-formatted.
    pub user: String,
    /// The SRV of the request answered.
    pub srv: String,
    /// The RequestID of the request answered.
    pub request_id: String,
    /// The window it breached (`minute` or `hour`).
    pub window: String,
    /// Why, in words.
    pub reason: String,
    /// When it was quarantined (milliseconds since the Unix epoch).
    pub at_ms: i64,
    /// The signed Service Response (one message, for the requesting User).
    pub messages: Vec<HeldMessage>,
}

impl HeldResponse {
    /// The listing's view: `user`, `srv` and `request_id` are those of the request answered.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "kind": RESPONSE_KIND,
            "hub": self.hub,
            "device": self.device,
            "user": self.user,
            "srv": self.srv,
            "request_id": self.request_id,
            "window": self.window,
            "reason": self.reason,
            "quarantined_at": crate::clock::rfc3339_ms(self.at_ms),
            "messages": self.messages.len(),
        })
    }

    /// The record with its signed message as XML text (for `GET …/{id}`).
    pub fn detail(&self) -> serde_json::Value {
        let mut v = self.summary();
        v["messages"] = messages_detail(&self.messages);
        v
    }
}

/// Held messages with their XML text.
fn messages_detail(messages: &[HeldMessage]) -> serde_json::Value {
    messages
        .iter()
        .map(|m| {
            let xml = base64::engine::general_purpose::STANDARD
                .decode(&m.body)
                .ok()
                .and_then(|b| String::from_utf8(b).ok());
            serde_json::json!({ "user": m.user, "kind": m.kind, "xml": xml })
        })
        .collect()
}

/// A quarantined request, alert or Service Response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// A Service Request.
    Request(Held),
    /// A device alert.
    Alert(HeldAlert),
    /// A Service Response.
    Response(HeldResponse),
}

impl Item {
    /// Its quarantine ID.
    pub fn id(&self) -> u64 {
        match self {
            Item::Request(h) => h.id,
            Item::Alert(a) => a.id,
            Item::Response(r) => r.id,
        }
    }

    /// The listing's view.
    pub fn summary(&self) -> serde_json::Value {
        match self {
            Item::Request(h) => h.summary(),
            Item::Alert(a) => a.summary(),
            Item::Response(r) => r.summary(),
        }
    }
}

fn encode<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(record).map_err(|source| StoreError::Encode {
        table: NAME.to_string(),
        source,
    })
}

fn decode(bytes: &[u8]) -> Result<Item, StoreError> {
    let failed = |source| StoreError::Decode {
        table: NAME.to_string(),
        source,
    };
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(failed)?;
    match value.get("kind").and_then(serde_json::Value::as_str) {
        Some(ALERT_KIND) => serde_json::from_value(value)
            .map(Item::Alert)
            .map_err(failed),
        Some(RESPONSE_KIND) => serde_json::from_value(value)
            .map(Item::Response)
            .map_err(failed),
        _ => serde_json::from_value(value)
            .map(Item::Request)
            .map_err(failed),
    }
}

fn next_id(table: &redb::Table<'_, u64, &'static [u8]>) -> Result<u64, StoreError> {
    Ok(table.last()?.map_or(1, |(k, _)| k.value() + 1))
}

/// Stores `held` under the next ID inside `t`; returns the ID.
///
/// # Errors
///
/// [`StoreError`].
pub fn insert_in(t: &WriteTransaction, held: &Held) -> Result<u64, StoreError> {
    let mut table = t.open_table(TABLE)?;
    let id = next_id(&table)?;
    let mut record = held.clone();
    record.id = id;
    table.insert(id, encode(&record)?.as_slice())?;
    Ok(id)
}

/// Stores the alert `held` under the next ID (durably); returns the ID, or `None` when the
/// quarantine already holds `max_held` records or more (`0`: no limit) and nothing was stored.
///
/// # Errors
///
/// [`StoreError`].
pub fn insert_alert(
    store: &Store,
    held: &HeldAlert,
    max_held: u64,
) -> Result<Option<u64>, StoreError> {
    store.write(|t| {
        let mut table = t.open_table(TABLE)?;
        if max_held > 0 && table.len()? >= max_held {
            return Ok(None);
        }
        let id = next_id(&table)?;
        let mut record = held.clone();
        record.id = id;
        record.kind = ALERT_KIND.to_string();
        table.insert(id, encode(&record)?.as_slice())?;
        Ok(Some(id))
    })
}

/// Stores the Service Response `held` under the next ID inside `t`; returns the ID.
///
/// # Errors
///
/// [`StoreError`].
pub fn insert_response_in(t: &WriteTransaction, held: &HeldResponse) -> Result<u64, StoreError> {
    let mut table = t.open_table(TABLE)?;
    let id = next_id(&table)?;
    let mut record = held.clone();
    record.id = id;
    record.kind = RESPONSE_KIND.to_string();
    table.insert(id, encode(&record)?.as_slice())?;
    Ok(id)
}

/// Removes `id` inside `t`; the record, or `None` when it is not held.
///
/// # Errors
///
/// [`StoreError`].
pub fn take_in(t: &WriteTransaction, id: u64) -> Result<Option<Item>, StoreError> {
    let mut table = t.open_table(TABLE)?;
    let removed = table.remove(id)?.map(|v| v.value().to_vec());
    removed.map(|b| decode(&b)).transpose()
}

/// Every held record, oldest first (at most `limit`).
///
/// # Errors
///
/// [`StoreError`].
pub fn list(store: &Store, limit: usize) -> Result<Vec<Item>, StoreError> {
    Ok(count_and_list(store, limit)?.1)
}

/// How many records are held, and the oldest `limit` of them, read in one transaction so
/// the two agree.
///
/// # Errors
///
/// [`StoreError`].
pub fn count_and_list(store: &Store, limit: usize) -> Result<(u64, Vec<Item>), StoreError> {
    store.read(|tx| {
        let table = match tx.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((0, Vec::new())),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in table.iter()?.take(limit) {
            let (_, v) = row?;
            out.push(decode(v.value())?);
        }
        Ok((table.len()?, out))
    })
}

/// Records (requests, alerts, Service Responses) held now.
///
/// # Errors
///
/// [`StoreError`].
pub fn count(store: &Store) -> Result<u64, StoreError> {
    store.read(|tx| match tx.open_table(TABLE) {
        Ok(t) => Ok(t.len()?),
        Err(redb::TableError::TableDoesNotExist(_)) => Ok(0),
        Err(e) => Err(e.into()),
    })
}

/// The held record `id`.
///
/// # Errors
///
/// [`StoreError`].
pub fn get(store: &Store, id: u64) -> Result<Option<Item>, StoreError> {
    store.get(TABLE, id)?.map(|b| decode(&b)).transpose()
}

/// Takes `id` out of the quarantine (durably) and returns it; `None` when it is not held
/// (never was, or another operator took it first).
///
/// # Errors
///
/// [`StoreError`].
pub fn take(store: &Store, id: u64) -> Result<Option<Item>, StoreError> {
    store.write(|t| take_in(t, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_of_both_kinds_are_read_back() {
        // A request record as written before alerts could be held: no `kind`.
        let old = br#"{"id":3,"user":"90-B3-D5-1F-30-01-00-00","srv":"8.2","cv":1,"request_id":"90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-01:1","role":"IS","window":"minute","reason":"r","at_ms":0,"device":null,"body":"PHg+"}"#;
        match decode(old).expect("old record") {
            Item::Request(h) => {
                assert_eq!(
                    (h.id, h.kind.as_str(), h.srv.as_str()),
                    (3, "request", "8.2")
                );
                assert_eq!(h.body_bytes().expect("base64"), b"<x>");
            }
            other => panic!("{other:?}"),
        }
        let alert = HeldAlert {
            kind: ALERT_KIND.into(),
            id: 4,
            hub: "00-DB-57-00-00-00-00-00".into(),
            device: "00-DB-57-00-00-00-00-01".into(),
            alert_code: "8F30".into(),
            counter: 9,
            window: "minute".into(),
            reason: "r".into(),
            at_ms: 0,
            messages: vec![HeldMessage::new(&[1; 8], Kind::DeviceAlert, b"<a/>")],
        };
        let item = decode(&encode(&alert).expect("encode")).expect("decode");
        assert_eq!(item, Item::Alert(alert.clone()));
        assert_eq!(item.id(), 4);
        let s = item.summary();
        assert_eq!(s["kind"], "alert");
        assert_eq!(s["request_id"], "00-DB-57-00-00-00-00-01:8F30:9");
        let out = alert.messages[0].outgoing().expect("outgoing");
        assert_eq!(
            (out.user, out.kind, out.body.as_slice()),
            ([1; 8], Kind::DeviceAlert, &b"<a/>"[..])
        );
        assert!(decode(b"{").is_err());
    }

    #[test]
    fn alerts_are_held_only_below_the_limit() {
        let dir =
            std::env::temp_dir().join(format!("hubgate-quarantine-limit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Store::open(&dir).expect("store");
        let alert = |counter| HeldAlert {
            kind: ALERT_KIND.into(),
            id: 0,
            hub: "00-DB-57-00-00-00-00-00".into(),
            device: "00-DB-57-00-00-00-00-01".into(),
            alert_code: "8F30".into(),
            counter,
            window: "minute".into(),
            reason: "r".into(),
            at_ms: 0,
            messages: vec![HeldMessage::new(&[1; 8], Kind::DeviceAlert, b"<a/>")],
        };
        assert!(insert_alert(&store, &alert(1), 2).expect("write").is_some());
        assert!(insert_alert(&store, &alert(2), 2).expect("write").is_some());
        assert_eq!(insert_alert(&store, &alert(3), 2).expect("write"), None);
        assert_eq!(
            count(&store).expect("count"),
            2,
            "nothing stored past the limit"
        );
        // Room again once one is released; and 0 is no limit.
        assert!(take(&store, 1).expect("take").is_some());
        assert!(insert_alert(&store, &alert(4), 2).expect("write").is_some());
        assert!(insert_alert(&store, &alert(5), 0).expect("write").is_some());
        assert_eq!(count(&store).expect("count"), 3);
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn response_records_are_read_back_and_listed() {
        let held = HeldResponse {
            kind: RESPONSE_KIND.into(),
            id: 7,
            hub: "00-DB-55-00-00-00-00-00".into(),
            device: "00-DB-55-00-00-00-00-01".into(),
            user: "90-B3-D5-1F-30-01-00-00".into(),
            srv: "4.1.1".into(),
            request_id: "90-B3-D5-1F-30-01-00-00:00-DB-55-00-00-00-00-01:5".into(),
            window: "minute".into(),
            reason: "r".into(),
            at_ms: 0,
            messages: vec![HeldMessage::new(&[1; 8], Kind::Response, b"<r/>")],
        };
        let item = decode(&encode(&held).expect("encode")).expect("decode");
        assert_eq!(item, Item::Response(held.clone()));
        assert_eq!(item.id(), 7);
        let s = item.summary();
        assert_eq!(
            (
                s["kind"].as_str(),
                s["srv"].as_str(),
                s["messages"].as_u64()
            ),
            (Some("response"), Some("4.1.1"), Some(1))
        );
        assert_eq!(held.detail()["messages"][0]["xml"], "<r/>");
        let out = held.messages[0].outgoing().expect("outgoing");
        assert_eq!((out.user, out.kind), ([1; 8], Kind::Response));
    }
}

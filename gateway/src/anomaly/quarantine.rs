//! The quarantine: requests held after breaching a threshold, in the store's
//! `anomaly.quarantine` table (ID → JSON record with the full signed body), so they survive
//! restarts until an operator releases or deletes them.
//!
//! A record is written in the same transaction that spends the request's counter (or
//! consumes its Transform), so a held request is never also answerable as a replay, and no
//! request is both refused with `E43` and absent from the quarantine.

use base64::Engine as _;
use hubgate_protocol::catalogue::Role;
use hubgate_protocol::hex;
use hubgate_protocol::transform::DeviceType;
use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::{Deserialize, Serialize};

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
    /// See [`DeviceFacts::gbcs_version`].
    pub gbcs_version: Option<String>,
}

impl From<&DeviceFacts> for StoredFacts {
    fn from(f: &DeviceFacts) -> Self {
        StoredFacts {
            mpxns: f.mpxns.clone(),
            device_type: f.device_type.map(|t| format!("{t:?}")),
            twin_element: f.twin_element,
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
            gbcs_version: self.gbcs_version.clone(),
        }
    }
}

/// One quarantined request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Held {
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

fn encode(held: &Held) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(held).map_err(|source| StoreError::Encode {
        table: NAME.to_string(),
        source,
    })
}

fn decode(bytes: &[u8]) -> Result<Held, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        table: NAME.to_string(),
        source,
    })
}

/// Stores `held` under the next ID inside `t`; returns the ID.
///
/// # Errors
///
/// [`StoreError`].
pub fn insert_in(t: &WriteTransaction, held: &Held) -> Result<u64, StoreError> {
    let mut table = t.open_table(TABLE)?;
    let id = table.last()?.map_or(1, |(k, _)| k.value() + 1);
    let mut record = held.clone();
    record.id = id;
    table.insert(id, encode(&record)?.as_slice())?;
    Ok(id)
}

/// Every held request, oldest first (at most `limit`).
///
/// # Errors
///
/// [`StoreError`].
pub fn list(store: &Store, limit: usize) -> Result<Vec<Held>, StoreError> {
    store.read(|tx| {
        let table = match tx.open_table(TABLE) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for row in table.iter()?.take(limit) {
            let (_, v) = row?;
            out.push(decode(v.value())?);
        }
        Ok(out)
    })
}

/// Requests held now.
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

/// The held request `id`.
///
/// # Errors
///
/// [`StoreError`].
pub fn get(store: &Store, id: u64) -> Result<Option<Held>, StoreError> {
    store.get(TABLE, id)?.map(|b| decode(&b)).transpose()
}

/// Takes `id` out of the quarantine (durably) and returns it; `None` when it is not held
/// (never was, or another operator took it first).
///
/// # Errors
///
/// [`StoreError`].
pub fn take(store: &Store, id: u64) -> Result<Option<Held>, StoreError> {
    store.write(|t| {
        let mut table = t.open_table(TABLE)?;
        let removed = table.remove(id)?.map(|v| v.value().to_vec());
        removed.map(|b| decode(&b)).transpose()
    })
}

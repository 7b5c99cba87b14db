//! Keeping registration data in a redb database, in a table of its own.
//!
//! The table `registration` maps a 14-byte key (MPxN digit count, MPxN as a big-endian u64,
//! role, effective_from as year u16 BE, month, day) to a 13-byte value (party EUI-64, an
//! effective_to flag, then the date in the same layout). Callers own the [`redb::Database`]
//! and decide when to write: typically [`save_changes`] with each
//! [`super::RefreshReport::changes`], and [`load`] at start-up into
//! [`super::RegistrationData::from_records`].

use redb::{Database, ReadableTable, TableDefinition};

use super::date::Date;
use super::mpxn::Mpxn;
use super::record::{PartyRole, RecordKey, Registration};
use super::report::Change;

const TABLE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("registration");

/// A failure to read or write the registration table.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The database failed.
    #[error("registration table: {0}")]
    Db(Box<redb::Error>),
    /// A stored entry does not decode to a valid record.
    #[error("registration table: undecodable entry with key {0}")]
    Corrupt(String),
}

fn db(e: impl Into<redb::Error>) -> PersistError {
    PersistError::Db(Box::new(e.into()))
}

/// Applies `changes` to the table in one durable transaction.
pub fn save_changes(database: &Database, changes: &[Change]) -> Result<(), PersistError> {
    let tx = database.begin_write().map_err(db)?;
    {
        let mut table = tx.open_table(TABLE).map_err(db)?;
        for change in changes {
            match change {
                Change::Upsert(r) => {
                    table
                        .insert(encode_key(&r.key()).as_slice(), encode_value(r).as_slice())
                        .map_err(db)?;
                }
                Change::Remove(k) => {
                    table.remove(encode_key(k).as_slice()).map_err(db)?;
                }
            }
        }
    }
    tx.commit().map_err(db)
}

/// Replaces the table's contents with `records` in one durable transaction.
pub fn save_all(database: &Database, records: &[Registration]) -> Result<(), PersistError> {
    let tx = database.begin_write().map_err(db)?;
    tx.delete_table(TABLE).map_err(db)?;
    {
        let mut table = tx.open_table(TABLE).map_err(db)?;
        for r in records {
            table
                .insert(encode_key(&r.key()).as_slice(), encode_value(r).as_slice())
                .map_err(db)?;
        }
    }
    tx.commit().map_err(db)
}

/// Every stored record; none when the table has never been written.
pub fn load(database: &Database) -> Result<Vec<Registration>, PersistError> {
    let tx = database.begin_read().map_err(db)?;
    let table = match tx.open_table(TABLE) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(db(e)),
    };
    let mut out = Vec::new();
    for entry in table.iter().map_err(db)? {
        let (k, v) = entry.map_err(db)?;
        let record = decode(k.value(), v.value())
            .ok_or_else(|| PersistError::Corrupt(hubgate_protocol::hex::encode(k.value())))?;
        out.push(record);
    }
    Ok(out)
}

fn encode_date(d: Date) -> [u8; 4] {
    let [y0, y1] = d.year().to_be_bytes();
    [y0, y1, d.month(), d.day()]
}

fn decode_date(b: &[u8]) -> Option<Date> {
    let [y0, y1, m, d] = b.try_into().ok()?;
    Date::new(
        i64::from(u16::from_be_bytes([y0, y1])),
        u32::from(m),
        u32::from(d),
    )
    .ok()
}

fn encode_key(k: &RecordKey) -> [u8; 14] {
    let (value, digits) = k.mpxn.raw();
    let role = PartyRole::ALL
        .iter()
        .position(|r| *r == k.party_role)
        .unwrap_or(0);
    let mut out = [0u8; 14];
    out[0] = digits;
    out[1..9].copy_from_slice(&value.to_be_bytes());
    out[9] = u8::try_from(role).unwrap_or(0);
    out[10..14].copy_from_slice(&encode_date(k.effective_from));
    out
}

fn encode_value(r: &Registration) -> [u8; 13] {
    let mut out = [0u8; 13];
    out[..8].copy_from_slice(&r.party());
    if let Some(to) = r.effective_to() {
        out[8] = 1;
        out[9..13].copy_from_slice(&encode_date(to));
    }
    out
}

fn decode(key: &[u8], value: &[u8]) -> Option<Registration> {
    if key.len() != 14 || value.len() != 13 {
        return None;
    }
    let mpxn = Mpxn::from_raw(u64::from_be_bytes(key[1..9].try_into().ok()?), key[0]).ok()?;
    let role = *PartyRole::ALL.get(usize::from(key[9]))?;
    let from = decode_date(&key[10..14])?;
    let party: [u8; 8] = value[..8].try_into().ok()?;
    let to = match value[8] {
        0 => None,
        1 => Some(decode_date(&value[9..13])?),
        _ => return None,
    };
    Registration::new(mpxn, mpxn.fuel(), role, party, from, to).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registration::{RegistrationData, TextRecord};
    use redb::backends::InMemoryBackend;

    fn rec(mpxn: &str, fuel: &str, role: &str, from: &str, to: &str) -> Registration {
        TextRecord {
            mpxn: Some(mpxn),
            fuel: Some(fuel),
            role: Some(role),
            party: Some("90b3d51f30010000"),
            effective_from: Some(from),
            effective_to: Some(to),
        }
        .parse()
        .unwrap()
    }

    #[test]
    fn round_trips_through_redb() {
        let database = Database::builder()
            .create_with_backend(InMemoryBackend::new())
            .unwrap();
        assert!(load(&database).unwrap().is_empty());

        let a = rec(
            "1312345678111",
            "electricity",
            "IS",
            "2024-01-01",
            "2024-06-30",
        );
        let b = rec("0001000999", "gas", "GT", "2020-02-29", "");
        let c = rec("1312345678222", "electricity", "RSA", "2024-01-01", "");
        let data = RegistrationData::new();
        let first = data.refresh([a, b]);
        save_changes(&database, &first.changes()).unwrap();
        assert_eq!(load(&database).unwrap(), data.records());

        let second = data.refresh([b, c]);
        save_changes(&database, &second.changes()).unwrap();
        assert_eq!(load(&database).unwrap(), data.records());
        let restored = RegistrationData::from_records(load(&database).unwrap());
        assert_eq!(restored.records(), vec![b, c]);

        save_all(&database, &[a]).unwrap();
        assert_eq!(load(&database).unwrap(), vec![a]);
    }

    #[test]
    fn refuses_corrupt_entries() {
        let a = rec(
            "1312345678111",
            "electricity",
            "IS",
            "2024-01-01",
            "2024-06-30",
        );
        let (k, v) = (encode_key(&a.key()), encode_value(&a));
        assert_eq!(decode(&k, &v), Some(a));
        let mut bad_role = k;
        bad_role[9] = 9;
        assert_eq!(decode(&bad_role, &v), None);
        let mut bad_digits = k;
        bad_digits[0] = 12;
        assert_eq!(decode(&bad_digits, &v), None);
        let mut bad_date = v;
        bad_date[12] = 31; // 30 June → 31 June
        assert_eq!(decode(&k, &bad_date), None);
        let mut reversed = v;
        reversed[9..13].copy_from_slice(&encode_date("2023-01-01".parse().unwrap()));
        assert_eq!(decode(&k, &reversed), None);
        assert_eq!(decode(&k[..13], &v), None);
    }
}

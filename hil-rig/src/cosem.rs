//! A COSEM object model: attribute values by (class, OBIS, attribute), and profile-generic
//! buffers with range selection. DLMS devices (ESME, CHF) answer Get, Set and Action
//! requests from it.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::{self, CosemInstant};
use crate::value::{TypeDesc, Value};

/// DLMS `Data-Access-Result` values the emulator uses.
pub mod result {
    /// success.
    pub const SUCCESS: u8 = 0;
    /// hardware-fault.
    pub const HARDWARE_FAULT: u8 = 1;
    /// read-write-denied.
    pub const READ_WRITE_DENIED: u8 = 3;
    /// object-undefined.
    pub const OBJECT_UNDEFINED: u8 = 4;
    /// type-unmatched.
    pub const TYPE_UNMATCHED: u8 = 12;
    /// other-reason.
    pub const OTHER_REASON: u8 = 250;
}

/// A COSEM attribute (or method) address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Attr {
    /// Interface class.
    pub class_id: u16,
    /// Logical name.
    pub obis: [u8; 6],
    /// Attribute (or method) id.
    pub id: i8,
}

impl Attr {
    /// Shorthand constructor.
    pub const fn new(class_id: u16, obis: [u8; 6], id: i8) -> Self {
        Attr { class_id, obis, id }
    }
}

/// Entries of a profile-generic object (class 7, attribute 2). Each entry is a structure
/// whose first member is its capture time as `double-long-unsigned` ZigBee UTC seconds
/// (seconds since 2000-01-01), the form GBCS logs use.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    /// Type of one entry (sent as the compact-array description).
    pub entry: TypeDesc,
    /// Entries, oldest first.
    pub entries: Vec<Value>,
    /// Most entries kept; the oldest are dropped beyond it.
    pub capacity: usize,
}

impl Profile {
    /// An empty profile for entries of type `entry`.
    pub fn new(entry: TypeDesc, capacity: usize) -> Self {
        Profile {
            entry,
            entries: Vec::new(),
            capacity,
        }
    }

    /// Appends an entry, dropping the oldest beyond the capacity.
    pub fn push(&mut self, entry: Value) {
        self.entries.push(entry);
        if self.entries.len() > self.capacity {
            let excess = self.entries.len() - self.capacity;
            self.entries.drain(..excess);
        }
    }

    /// The capture time of an entry (ZigBee seconds).
    fn time_of(entry: &Value) -> Option<u64> {
        entry.as_structure()?.first()?.as_u64()
    }

    /// The buffer, optionally restricted to capture times in `[from, to]` (ZigBee seconds),
    /// as the compact array GBCS devices answer with.
    pub fn select(&self, range: Option<(u64, u64)>) -> Value {
        let elements = self
            .entries
            .iter()
            .filter(|e| match (range, Profile::time_of(e)) {
                (None, _) => true,
                (Some((from, to)), Some(t)) => from <= t && t <= to,
                (Some(_), None) => false,
            })
            .cloned()
            .collect();
        Value::CompactArray {
            description: self.entry.clone(),
            elements,
        }
    }
}

/// Reads the bounds of a range selection (selector 1): `double-long-unsigned` ZigBee
/// seconds, or octet-string COSEM date-times.
pub fn range_bounds(parameters: &Value) -> Option<(u64, u64)> {
    let p = parameters.as_structure()?;
    // The full range descriptor (restricting object, from, to, columns), or just (from, to)
    // as protected reads carry it.
    let p = if p.len() == 2 { p } else { p.get(1..)? };
    let bound = |v: &Value, upper: bool| -> Option<u64> {
        match v {
            Value::DoubleLongUnsigned(x) => Some(u64::from(*x)),
            Value::OctetString(b) => match time::cosem_to_instant(b)? {
                CosemInstant::At(t) => Some(u64::from(time::zigbee_from_unix(t))),
                CosemInstant::Immediate => Some(0),
                CosemInstant::Unspecified => Some(if upper { u64::MAX } else { 0 }),
            },
            _ => None,
        }
    };
    Some((bound(p.first()?, false)?, bound(p.get(1)?, true)?))
}

/// Attribute values and profiles.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Objects {
    #[serde(with = "crate::serde_map")]
    attributes: BTreeMap<Attr, Value>,
    #[serde(with = "crate::serde_map")]
    profiles: BTreeMap<[u8; 6], Profile>,
}

impl Objects {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether any attribute of the object (class, OBIS) is defined, or it is a profile.
    pub fn has_object(&self, class_id: u16, obis: &[u8; 6]) -> bool {
        (class_id == 7 && self.profiles.contains_key(obis))
            || self
                .attributes
                .range(Attr::new(class_id, *obis, i8::MIN)..=Attr::new(class_id, *obis, i8::MAX))
                .next()
                .is_some()
    }

    /// The value of an attribute.
    pub fn get(&self, a: &Attr) -> Option<&Value> {
        self.attributes.get(a)
    }

    /// Sets an attribute (defining it if needed).
    pub fn put(&mut self, a: Attr, v: Value) {
        self.attributes.insert(a, v);
    }

    /// Every attribute, in address order.
    pub fn attributes(&self) -> impl Iterator<Item = (&Attr, &Value)> {
        self.attributes.iter()
    }

    /// Adds (or replaces) a profile-generic object.
    pub fn add_profile(&mut self, obis: [u8; 6], profile: Profile) {
        self.profiles.insert(obis, profile);
    }

    /// A profile.
    pub fn profile(&self, obis: &[u8; 6]) -> Option<&Profile> {
        self.profiles.get(obis)
    }

    /// A profile, mutably.
    pub fn profile_mut(&mut self, obis: &[u8; 6]) -> Option<&mut Profile> {
        self.profiles.get_mut(obis)
    }

    /// DLMS get of an attribute, with optional range selection on profile buffers: the value
    /// or a `Data-Access-Result`.
    pub fn read(&self, a: &Attr, selection: Option<(u8, &Value)>) -> Result<Value, u8> {
        if a.class_id == 7
            && a.id == 2
            && let Some(p) = self.profiles.get(&a.obis)
        {
            return match selection {
                None => Ok(p.select(None)),
                Some((1, params)) => range_bounds(params)
                    .map(|r| p.select(Some(r)))
                    .ok_or(result::TYPE_UNMATCHED),
                Some(_) => Err(result::OTHER_REASON),
            };
        }
        if selection.is_some() {
            return Err(result::OTHER_REASON);
        }
        self.attributes
            .get(a)
            .cloned()
            .ok_or(result::OBJECT_UNDEFINED)
    }

    /// DLMS set of an attribute of a defined object.
    pub fn write(&mut self, a: &Attr, v: Value) -> Result<(), u8> {
        if !self.has_object(a.class_id, &a.obis) {
            return Err(result::OBJECT_UNDEFINED);
        }
        if a.class_id == 7 && a.id == 2 {
            return Err(result::READ_WRITE_DENIED);
        }
        self.attributes.insert(*a, v);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn profile_range_selection_by_seconds_and_date_time() {
        let mut o = Objects::new();
        let obis = [0, 0, 99, 1, 0, 255];
        let mut p = Profile::new(
            TypeDesc::Structure(vec![TypeDesc::Simple(6), TypeDesc::Simple(6)]),
            3,
        );
        for (i, t) in [473_296_000u32, 473_297_800, 473_299_200, 473_301_000]
            .iter()
            .enumerate()
        {
            p.push(Value::Structure(vec![
                Value::DoubleLongUnsigned(*t),
                Value::DoubleLongUnsigned(i as u32),
            ]));
        }
        assert_eq!(p.entries.len(), 3);
        o.add_profile(obis, p);
        let a = Attr::new(7, obis, 2);
        let params = Value::Structure(vec![
            Value::Null,
            Value::DoubleLongUnsigned(473_299_200),
            Value::DoubleLongUnsigned(473_301_000),
            Value::Array(vec![]),
        ]);
        let Value::CompactArray { elements, .. } = o.read(&a, Some((1, &params))).unwrap() else {
            panic!("not a compact array")
        };
        assert_eq!(elements.len(), 2);
        // 2014-12-31T00:00:00Z .. 2014-12-31T00:30:00Z as COSEM date-times.
        let params = Value::Structure(vec![
            Value::Null,
            Value::OctetString(crate::time::cosem_from_unix(1_419_984_000).to_vec()),
            Value::OctetString(crate::time::cosem_from_unix(1_419_985_800).to_vec()),
            Value::Array(vec![]),
        ]);
        let Value::CompactArray { elements, .. } = o.read(&a, Some((1, &params))).unwrap() else {
            panic!("not a compact array")
        };
        assert_eq!(elements.len(), 2);
        assert_eq!(o.write(&a, Value::Null), Err(result::READ_WRITE_DENIED));
        assert_eq!(
            o.read(&Attr::new(3, [1, 0, 1, 8, 0, 255], 2), None),
            Err(result::OBJECT_UNDEFINED)
        );
    }
}

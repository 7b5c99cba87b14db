//! The DCC's copy of a Communications Hub's HAN device log: which devices have joined the
//! hub. It is kept so that a replaced hub can be restored (SR 8.12) and survives passivation.

use crate::Eui;

/// Most entries a device log copy holds. A CHF's log has a small fixed number of slots; this
/// bound keeps a hub's persisted state small whatever the caller sends.
pub const MAX_DEVICE_LOG_ENTRIES: usize = 32;

/// The kind of a HAN device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeviceType {
    /// Electricity smart meter.
    Esme,
    /// Gas smart meter.
    Gsme,
    /// Gas proxy function.
    Gpf,
    /// Prepayment interface device.
    Ppmid,
    /// HAN-connected auxiliary load control switch.
    Hcalcs,
    /// In-home display or other type 2 device.
    Type2,
    /// A code this version does not name.
    Other(u8),
}

impl DeviceType {
    /// The byte used in persisted state.
    pub fn code(self) -> u8 {
        match self {
            DeviceType::Esme => 1,
            DeviceType::Gsme => 2,
            DeviceType::Gpf => 3,
            DeviceType::Ppmid => 4,
            DeviceType::Hcalcs => 5,
            DeviceType::Type2 => 6,
            DeviceType::Other(c) => c,
        }
    }

    /// The type for a persisted byte.
    pub fn from_code(code: u8) -> Self {
        match code {
            1 => DeviceType::Esme,
            2 => DeviceType::Gsme,
            3 => DeviceType::Gpf,
            4 => DeviceType::Ppmid,
            5 => DeviceType::Hcalcs,
            6 => DeviceType::Type2,
            c => DeviceType::Other(c),
        }
    }
}

/// One joined device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceLogEntry {
    /// The device's EUI-64.
    pub device: Eui,
    /// Its kind.
    pub device_type: DeviceType,
}

/// A change to a device log copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceLogUpdate {
    /// The device joined (or its type changed).
    Add(DeviceLogEntry),
    /// The device left.
    Remove(Eui),
    /// The whole log, as read from the hub or restored onto a replacement hub.
    Replace(Vec<DeviceLogEntry>),
}

/// Why a device log update was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DeviceLogError {
    /// The update would take the log beyond [`MAX_DEVICE_LOG_ENTRIES`].
    #[error("device log full ({MAX_DEVICE_LOG_ENTRIES} entries)")]
    Full,
}

/// A hub's device log copy, in join order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceLog {
    entries: Vec<DeviceLogEntry>,
}

impl DeviceLog {
    /// The entries, in join order.
    pub fn entries(&self) -> &[DeviceLogEntry] {
        &self.entries
    }

    /// Whether `device` is in the log.
    pub fn contains(&self, device: &Eui) -> bool {
        self.entries.iter().any(|e| &e.device == device)
    }

    /// Applies a change; on error the log is unchanged.
    pub fn apply(&mut self, update: DeviceLogUpdate) -> Result<(), DeviceLogError> {
        match update {
            DeviceLogUpdate::Add(entry) => {
                if let Some(e) = self.entries.iter_mut().find(|e| e.device == entry.device) {
                    e.device_type = entry.device_type;
                } else if self.entries.len() >= MAX_DEVICE_LOG_ENTRIES {
                    return Err(DeviceLogError::Full);
                } else {
                    self.entries.push(entry);
                }
            }
            DeviceLogUpdate::Remove(device) => self.entries.retain(|e| e.device != device),
            DeviceLogUpdate::Replace(entries) => {
                let mut log = DeviceLog::default();
                for e in entries {
                    log.apply(DeviceLogUpdate::Add(e))?;
                }
                *self = log;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(last: u8, device_type: DeviceType) -> DeviceLogEntry {
        DeviceLogEntry {
            device: [0, 0xdb, 0x12, 0x34, 0x56, 0x78, 0x90, last],
            device_type,
        }
    }

    #[test]
    fn add_remove_replace_and_bound() {
        let mut log = DeviceLog::default();
        assert_eq!(
            log.apply(DeviceLogUpdate::Add(entry(0xa0, DeviceType::Esme))),
            Ok(())
        );
        assert_eq!(
            log.apply(DeviceLogUpdate::Add(entry(0xa3, DeviceType::Gpf))),
            Ok(())
        );
        // Re-adding updates the type in place.
        assert_eq!(
            log.apply(DeviceLogUpdate::Add(entry(0xa3, DeviceType::Gsme))),
            Ok(())
        );
        assert_eq!(
            log.entries(),
            &[entry(0xa0, DeviceType::Esme), entry(0xa3, DeviceType::Gsme)]
        );
        assert_eq!(
            log.apply(DeviceLogUpdate::Remove(
                entry(0xa0, DeviceType::Esme).device
            )),
            Ok(())
        );
        assert!(!log.contains(&entry(0xa0, DeviceType::Esme).device));
        let many: Vec<_> = (0..=MAX_DEVICE_LOG_ENTRIES as u8)
            .map(|i| entry(i, DeviceType::Type2))
            .collect();
        assert_eq!(
            log.apply(DeviceLogUpdate::Replace(many.clone())),
            Err(DeviceLogError::Full)
        );
        assert_eq!(
            log.entries().len(),
            1,
            "a refused replace leaves the log as it was"
        );
        assert_eq!(
            log.apply(DeviceLogUpdate::Replace(
                many[..MAX_DEVICE_LOG_ENTRIES].to_vec()
            )),
            Ok(())
        );
        assert_eq!(log.entries().len(), MAX_DEVICE_LOG_ENTRIES);
        for code in 0..=255u8 {
            assert_eq!(DeviceType::from_code(code).code(), code);
        }
    }
}

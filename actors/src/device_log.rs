//! The DCC's copy of a Communications Hub's HAN device log: which devices the hub's CHF
//! Device Log (its HAN whitelist) holds. It is kept so that a replaced hub can be restored
//! (SR 8.12) and survives passivation.
//!
//! The hub actor keeps it up to date itself ([`crate::HubCore`]): when the CHF answers a
//! CCS01 (add), CCS02 (remove) or CCS03 (restore) command with success, the change the
//! command carried is applied; when the CHF sends an authentic CS14 alert (`8F12`), the copy
//! becomes the whitelist the alert carries. A CHF whitelist names devices, not their types:
//! entries learnt that way have [`DeviceType::Unknown`], and a type already known for a
//! device is kept. The gateway reads the copy with [`HubRegistry::device_log_blocking`] to
//! build the restore commands.

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use crate::Eui;
use crate::error::ControlError;
use crate::registry::HubRegistry;

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
    /// Not known (learnt from the CHF's whitelist, which carries no types).
    Unknown,
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
            DeviceType::Unknown => 0,
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
            0 => DeviceType::Unknown,
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

    /// The type recorded for `device`, if it is in the log.
    pub fn type_of(&self, device: &Eui) -> Option<DeviceType> {
        self.entries
            .iter()
            .find(|e| &e.device == device)
            .map(|e| e.device_type)
    }

    /// Applies a change; on error the log is unchanged. An entry of [`DeviceType::Unknown`]
    /// keeps the type the log already records for its device.
    pub fn apply(&mut self, update: DeviceLogUpdate) -> Result<(), DeviceLogError> {
        match update {
            DeviceLogUpdate::Add(entry) => {
                if let Some(e) = self.entries.iter_mut().find(|e| e.device == entry.device) {
                    if entry.device_type != DeviceType::Unknown {
                        e.device_type = entry.device_type;
                    }
                } else if self.entries.len() >= MAX_DEVICE_LOG_ENTRIES {
                    return Err(DeviceLogError::Full);
                } else {
                    self.entries.push(entry);
                }
            }
            DeviceLogUpdate::Remove(device) => self.entries.retain(|e| e.device != device),
            DeviceLogUpdate::Replace(entries) => {
                let mut log = DeviceLog::default();
                for mut e in entries {
                    if e.device_type == DeviceType::Unknown {
                        e.device_type = self.type_of(&e.device).unwrap_or(DeviceType::Unknown);
                    }
                    log.apply(DeviceLogUpdate::Add(e))?;
                }
                *self = log;
            }
        }
        Ok(())
    }
}

impl HubRegistry {
    /// A hub's device log copy, from its actor (activated if needed), waiting on the calling
    /// thread for at most `timeout`. For callers outside an async context (the gateway
    /// builds restore commands synchronously); call it from any thread but a hub arbiter's.
    ///
    /// # Errors
    ///
    /// As [`HubRegistry::inspect`]; [`ControlError::Stopped`] when no answer came in time.
    pub fn device_log_blocking(
        &self,
        hub: Eui,
        timeout: Duration,
    ) -> Result<Vec<DeviceLogEntry>, ControlError> {
        wait(self.inspect(hub), timeout)
            .ok_or(ControlError::Stopped)?
            .map(|s| s.device_log)
    }
}

/// Wakes the thread that waits.
struct Unpark(std::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Polls `f` on this thread until it is ready or `timeout` passes.
fn wait<F: Future>(f: F, timeout: Duration) -> Option<F::Output> {
    let deadline = Instant::now() + timeout;
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return Some(v);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return None;
        }
        std::thread::park_timeout(left);
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

    #[test]
    fn unknown_types_keep_what_the_log_knows() {
        let mut log = DeviceLog::default();
        log.apply(DeviceLogUpdate::Add(entry(0xa0, DeviceType::Esme)))
            .unwrap();
        log.apply(DeviceLogUpdate::Add(entry(0xa0, DeviceType::Unknown)))
            .unwrap();
        assert_eq!(
            log.type_of(&entry(0xa0, DeviceType::Esme).device),
            Some(DeviceType::Esme)
        );
        log.apply(DeviceLogUpdate::Replace(vec![
            entry(0xa4, DeviceType::Unknown),
            entry(0xa0, DeviceType::Unknown),
        ]))
        .unwrap();
        assert_eq!(
            log.entries(),
            &[
                entry(0xa4, DeviceType::Unknown),
                entry(0xa0, DeviceType::Esme)
            ]
        );
    }

    #[test]
    fn wait_returns_ready_values_and_gives_up_on_time() {
        assert_eq!(wait(async { 5 }, Duration::from_millis(10)), Some(5));
        assert_eq!(
            wait(std::future::pending::<()>(), Duration::from_millis(20)),
            None
        );
    }
}

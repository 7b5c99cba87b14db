//! The arbiter threads hub actors run on: one event loop per shard, a hub's shard chosen by
//! its EUI.

use std::sync::Mutex;

use actix::{Arbiter, ArbiterHandle, System};

use crate::Eui;

/// A fixed set of arbiters. Each arbiter is one OS thread with a single-threaded runtime; a
/// hub always lands on the same one, so its actor never migrates and needs no locks.
pub(crate) struct Shards {
    handles: Vec<ArbiterHandle>,
    arbiters: Mutex<Vec<Arbiter>>,
    /// The actix system started for the registry when the caller had none.
    own_system: Option<System>,
}

impl std::fmt::Debug for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards")
            .field("arbiters", &self.handles.len())
            .field("own_system", &self.own_system.is_some())
            .finish()
    }
}

impl Shards {
    /// Starts `n` arbiters (at least one). Inside a running actix system they belong to it;
    /// otherwise a system is started on a thread of its own to hold them.
    pub(crate) fn start(n: usize) -> std::io::Result<Shards> {
        let n = n.max(1);
        if System::try_current().is_some() {
            let arbiters = (0..n)
                .map(|_| Arbiter::try_new())
                .collect::<std::io::Result<Vec<_>>>()?;
            return Ok(Shards::from_arbiters(arbiters, None));
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("hubgate-actors".into())
            .spawn(move || {
                let runner = System::new();
                let arbiters = (0..n)
                    .map(|_| Arbiter::try_new())
                    .collect::<std::io::Result<Vec<_>>>();
                let ok = arbiters.is_ok();
                if tx.send((arbiters, System::current())).is_err() || !ok {
                    return;
                }
                // Runs until `System::stop`.
                let _ = runner.run();
            })?;
        let (arbiters, system) = rx
            .recv()
            .map_err(|_| std::io::Error::other("actix system thread ended early"))?;
        match arbiters {
            Ok(a) => Ok(Shards::from_arbiters(a, Some(system))),
            Err(e) => {
                system.stop();
                Err(e)
            }
        }
    }

    fn from_arbiters(arbiters: Vec<Arbiter>, own_system: Option<System>) -> Shards {
        Shards {
            handles: arbiters.iter().map(Arbiter::handle).collect(),
            arbiters: Mutex::new(arbiters),
            own_system,
        }
    }

    /// Number of arbiters.
    pub(crate) fn len(&self) -> usize {
        self.handles.len()
    }

    /// The arbiter of `hub`.
    pub(crate) fn for_hub(&self, hub: &Eui) -> &ArbiterHandle {
        // EUIs of one batch share their leading bytes; mix them all (FNV-1a).
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in hub {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        &self.handles[(h % self.handles.len() as u64) as usize]
    }

    /// Stops every arbiter (and the registry's own system, if any).
    pub(crate) fn stop(&self) {
        let arbiters = match self.arbiters.lock() {
            Ok(mut a) => std::mem::take(&mut *a),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        for a in &arbiters {
            a.stop();
        }
        if let Some(s) = &self.own_system {
            s.stop();
        }
    }
}

impl Drop for Shards {
    fn drop(&mut self) {
        self.stop();
    }
}

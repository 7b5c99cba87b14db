//! How a hub actor reaches its Communications Hub, and how the hub's traffic comes back.
//!
//! Outbound, a hub actor hands each command to a [`HubLink`]. Inbound, whatever the hub
//! sends (responses and alerts) is pushed to [`crate::HubRegistry::deliver_from_hub`], or to
//! the [`Inbound`] handle the link receives with each command. [`InProcessLink`] is the
//! in-process WAN: it routes each hub's commands to a [`HanEndpoint`] (emulated devices)
//! plugged in for that hub.

use std::sync::Arc;

use dashmap::DashMap;
use hubgate_protocol::hex;

use crate::Eui;
use crate::error::DeliverError;
use crate::registry::Inner;

/// One command leaving a hub actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// The Communications Hub.
    pub hub: Eui,
    /// The device behind it.
    pub device: Eui,
    /// The GBCS command.
    pub bytes: Vec<u8>,
}

/// Why a link could not take a command. Each ends the command with an `E20` outcome.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// No route to the hub (not connected, not attached).
    #[error("hub {0} unreachable")]
    Unreachable(String),
    /// The hub or the transport refused the command.
    #[error("refused: {0}")]
    Refused(String),
}

impl LinkError {
    /// A short fixed word for logs and labels.
    pub fn kind(&self) -> &'static str {
        match self {
            LinkError::Unreachable(_) => "unreachable",
            LinkError::Refused(_) => "refused",
        }
    }
}

/// The way from hub actors to Communications Hubs (the SMWAN).
///
/// `send` is called on the hub's arbiter thread and must not block: hand the command to a
/// transport queue (or, for an in-process emulator, run it briefly). Whatever comes back from
/// the hub, now or later, goes to `inbound` (or [`crate::HubRegistry::deliver_from_hub`]).
pub trait HubLink: Send + Sync + 'static {
    /// Sends a command to a device behind a hub.
    fn send(&self, out: Outbound, inbound: &Inbound) -> Result<(), LinkError>;
}

/// A cheap handle for pushing a hub's responses and alerts to its actor.
#[derive(Clone)]
pub struct Inbound {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Inbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Inbound")
    }
}

impl Inbound {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Inbound { inner }
    }

    /// Hands GBCS bytes received from `hub` to its actor (activating it if needed). See
    /// [`crate::HubRegistry::deliver_from_hub`].
    pub fn deliver(&self, hub: Eui, bytes: Vec<u8>) -> Result<(), DeliverError> {
        self.inner.deliver(hub, bytes)
    }
}

/// Emulated (or otherwise in-process) devices behind one Communications Hub: what the gateway
/// plugs into [`InProcessLink`].
pub trait HanEndpoint: Send + Sync + 'static {
    /// Handles one GBCS command for `device`. Responses and alerts go to `reply`, at once or
    /// later from any thread. An error ends the command with `E20`.
    fn command(&self, device: Eui, command: &[u8], reply: Replier) -> Result<(), LinkError>;
}

/// Where a [`HanEndpoint`] sends what its devices answer.
#[derive(Debug, Clone)]
pub struct Replier {
    hub: Eui,
    inbound: Inbound,
}

impl Replier {
    /// The hub this replier delivers for.
    pub fn hub(&self) -> Eui {
        self.hub
    }

    /// Delivers a GBCS response or alert as if received from the hub.
    pub fn send(&self, bytes: Vec<u8>) -> Result<(), DeliverError> {
        self.inbound.deliver(self.hub, bytes)
    }
}

/// The in-process WAN: routes each hub's commands to the [`HanEndpoint`] attached for it,
/// or to a fallback endpoint. A hub with neither is unreachable.
#[derive(Default)]
pub struct InProcessLink {
    hubs: DashMap<Eui, Arc<dyn HanEndpoint>>,
    fallback: Option<Arc<dyn HanEndpoint>>,
}

impl std::fmt::Debug for InProcessLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcessLink")
            .field("hubs", &self.hubs.len())
            .field("fallback", &self.fallback.is_some())
            .finish()
    }
}

impl InProcessLink {
    /// A link with no hub attached.
    pub fn new() -> Self {
        Self::default()
    }

    /// A link that sends every hub's commands to `endpoint`, unless one is attached for it.
    pub fn with_fallback(endpoint: Arc<dyn HanEndpoint>) -> Self {
        InProcessLink {
            hubs: DashMap::new(),
            fallback: Some(endpoint),
        }
    }

    /// Plugs `endpoint` in as the devices behind `hub`.
    pub fn attach(&self, hub: Eui, endpoint: Arc<dyn HanEndpoint>) {
        self.hubs.insert(hub, endpoint);
    }

    /// Unplugs `hub`; its commands then fail as unreachable (or go to the fallback).
    pub fn detach(&self, hub: &Eui) {
        self.hubs.remove(hub);
    }
}

impl HubLink for InProcessLink {
    fn send(&self, out: Outbound, inbound: &Inbound) -> Result<(), LinkError> {
        // Clone the endpoint out so that no map guard is held while it runs.
        let endpoint = self
            .hubs
            .get(&out.hub)
            .map(|e| Arc::clone(e.value()))
            .or_else(|| self.fallback.clone())
            .ok_or_else(|| LinkError::Unreachable(hex::eui(&out.hub)))?;
        let reply = Replier {
            hub: out.hub,
            inbound: inbound.clone(),
        };
        endpoint.command(out.device, &out.bytes, reply)
    }
}

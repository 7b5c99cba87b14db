//! Many emulated premises at once, with fresh keys: for load tests.
//!
//! [`FleetBuilder::build`] makes N hubs, each a CHF with an ESME, GSME, GPF, PPMID and IHD,
//! every device with its own generated DS and KA keys certified by a fleet device CA, and an
//! [`smki::Store`](hubgate_protocol::smki::Store) holding all those certificates plus the
//! remote parties' (generated ones with their private keys, or those of a store you give).
//! Devices trust the supplier, network operator and ACB; the CHF whitelists the hub's
//! devices and the meters have the PPMID and IHD joined.

use std::sync::Arc;

use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::smki::Store;

use crate::device::Device;
use crate::error::DeviceError;
use crate::keys::{DeviceKeys, Identity};
use crate::models;
use crate::pki::{CertificateAuthority, GeneratedKey, KeyUsage, Subject};
use crate::state::{DeviceKind, DeviceState};
use crate::trust::{TrustedParties, role};

/// The device kinds of a hub, in EUI order.
pub const HUB_KINDS: [DeviceKind; 6] = [
    DeviceKind::Chf,
    DeviceKind::Esme,
    DeviceKind::Gsme,
    DeviceKind::Gpf,
    DeviceKind::Ppmid,
    DeviceKind::Ihd,
];

/// The state of a hub device of `kind` at `eui`, in the hub whose CHF is `hub` (the
/// devices take the EUIs after it in [`HUB_KINDS`] order): the CHF has the meters, GPF,
/// PPMID and IHD whitelisted, and the meters have the PPMID and IHD joined.
pub(crate) fn hub_device_state(
    hub: [u8; 8],
    eui: [u8; 8],
    kind: DeviceKind,
    trusted: TrustedParties,
) -> DeviceState {
    let eui_of = |i: u64| u64::from_be_bytes(hub).wrapping_add(i).to_be_bytes();
    let mut state = models::device_state(eui, kind, trusted);
    match kind {
        DeviceKind::Chf => {
            for (j, net) in [(1, 0), (2, 0), (4, 0), (3, 1), (5, 1)] {
                models::whitelist(&mut state, eui_of(j), net, Vec::new());
            }
        }
        DeviceKind::Esme | DeviceKind::Gsme => {
            models::join(&mut state, eui_of(4), 1);
            models::join(&mut state, eui_of(5), 2);
        }
        _ => {}
    }
    state
}

/// The remote parties devices trust.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parties {
    /// Supplier (role 2).
    pub supplier: [u8; 8],
    /// Network operator (role 3).
    pub network_operator: [u8; 8],
    /// Access Control Broker (role 4).
    pub acb: [u8; 8],
}

impl Parties {
    /// The RTDS / ZAZ1 test parties: supplier `90b3d51f30010000`, network operator
    /// `90b3d51f30020000`, ACB `90b3d51f30000002`.
    pub const RTDS: Parties = Parties {
        supplier: [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x01, 0x00, 0x00],
        network_operator: [0x90, 0xb3, 0xd5, 0x1f, 0x30, 0x02, 0x00, 0x00],
        acb: hubgate_protocol::gbcs::auth::TEST_ACB,
    };

    /// (role, EUI) pairs.
    pub fn roles(&self) -> [(u8, [u8; 8]); 3] {
        [
            (role::SUPPLIER, self.supplier),
            (role::NETWORK_OPERATOR, self.network_operator),
            (role::ACB, self.acb),
        ]
    }
}

/// One premises: a hub and its devices.
#[derive(Debug)]
pub struct Hub {
    /// Communications hub function.
    pub chf: Device,
    /// Electricity meter.
    pub esme: Device,
    /// Gas meter.
    pub gsme: Device,
    /// Gas proxy function.
    pub gpf: Device,
    /// Prepayment interface.
    pub ppmid: Device,
    /// In-home display.
    pub ihd: Device,
    /// The firmware images the CHF is receiving ([`crate::firmware`]).
    pub images: crate::firmware::ImageReceiver,
}

impl Hub {
    /// A hub from its devices in [`HUB_KINDS`] order; `None` unless there are six.
    pub(crate) fn from_devices(devices: Vec<Device>) -> Option<Self> {
        let [chf, esme, gsme, gpf, ppmid, ihd] = <[Device; 6]>::try_from(devices).ok()?;
        Some(Self {
            chf,
            esme,
            gsme,
            gpf,
            ppmid,
            ihd,
            images: crate::firmware::ImageReceiver::default(),
        })
    }

    /// The CHF takes one chunk of a firmware image for one of its devices
    /// ([`crate::firmware::ImageReceiver::chunk`]).
    pub fn image_chunk(
        &mut self,
        chunk: &crate::firmware::Chunk<'_>,
    ) -> crate::firmware::ChunkAnswer {
        let mut images = std::mem::take(&mut self.images);
        let answer = images.chunk(self, chunk);
        self.images = images;
        answer
    }

    /// The devices, CHF first.
    pub fn devices(&self) -> [&Device; 6] {
        [
            &self.chf,
            &self.esme,
            &self.gsme,
            &self.gpf,
            &self.ppmid,
            &self.ihd,
        ]
    }

    /// The device with this EUI.
    pub fn device_mut(&mut self, eui: &[u8; 8]) -> Option<&mut Device> {
        [
            &mut self.chf,
            &mut self.esme,
            &mut self.gsme,
            &mut self.gpf,
            &mut self.ppmid,
            &mut self.ihd,
        ]
        .into_iter()
        .find(|d| &d.eui() == eui)
    }
}

/// Builds a [`Fleet`].
#[derive(Debug)]
pub struct FleetBuilder {
    hubs: usize,
    first_eui: u64,
    store: Option<(Store, Parties)>,
    /// Further trust anchor cells: (role, usage, EUI, certificate DER).
    extra_cells: Vec<(u8, KeyUsage, [u8; 8], Vec<u8>)>,
}

/// Hubs, devices, and the store of every certificate.
#[derive(Debug)]
pub struct Fleet {
    /// The premises.
    pub hubs: Vec<Hub>,
    /// Certificates of every device and remote party, with the remote parties' private keys.
    pub store: Store,
    /// The remote parties the devices trust.
    pub parties: Parties,
    /// ECDH results shared by every device.
    pub cache: Arc<DerivedKeyCache>,
}

impl Default for FleetBuilder {
    fn default() -> Self {
        FleetBuilder {
            hubs: 1,
            first_eui: 0x00db_5500_0000_0000,
            store: None,
            extra_cells: Vec::new(),
        }
    }
}

impl FleetBuilder {
    /// One hub, generated remote parties, EUIs from `00db550000000000`.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of hubs.
    pub fn hubs(mut self, n: usize) -> Self {
        self.hubs = n;
        self
    }

    /// EUI of the first hub's CHF; each hub takes the next 16 EUIs (devices in
    /// [`HUB_KINDS`] order).
    pub fn first_eui(mut self, eui: u64) -> Self {
        self.first_eui = eui;
        self
    }

    /// Use these remote parties, whose certificates (and, for the ACB and the parties that
    /// receive responses, KA private keys) are in `store`; device certificates are added to
    /// it. Without this, the builder generates the three parties with an organisation CA.
    pub fn remote_parties(mut self, store: Store, parties: Parties) -> Self {
        self.store = Some((store, parties));
        self
    }

    /// Every device also holds `certificate` (DER) of the party `eui` in the index-0 cell of
    /// `role` and `usage`: for example the Transitional Change of Supplier party
    /// ([`role::TRANSITIONAL_COS`], digital signature), whose signed credential updates
    /// (CS02bSupplierByTransCoS) replace the supplier's cells.
    pub fn trust(mut self, role: u8, usage: KeyUsage, eui: [u8; 8], certificate: Vec<u8>) -> Self {
        self.extra_cells.push((role, usage, eui, certificate));
        self
    }

    /// Generates keys and certificates and builds the devices.
    pub fn build(self) -> Result<Fleet, DeviceError> {
        let (mut store, parties) = match self.store {
            Some(s) => s,
            None => generated_parties()?,
        };
        let device_ca = CertificateAuthority::generate("EMULATED-DEVICES")?;
        let cache = Arc::new(DerivedKeyCache::default());
        let mut trusted = TrustedParties::from_store(&store, &parties.roles());
        for (role, usage, eui, certificate) in self.extra_cells {
            trusted.set(role, usage, 0, eui, certificate);
        }
        let mut hubs = Vec::with_capacity(self.hubs);
        // Added to the store together once all are made: one re-index, not one per device.
        let mut certificates = Vec::with_capacity(self.hubs * HUB_KINDS.len() * 2);
        for h in 0..self.hubs {
            let base = self.first_eui.wrapping_add(16 * h as u64);
            let eui_of = |i: usize| base.wrapping_add(i as u64).to_be_bytes();
            let mut devices = Vec::with_capacity(HUB_KINDS.len());
            for (i, kind) in HUB_KINDS.iter().enumerate() {
                let eui = eui_of(i);
                let identity = Identity::generate(eui, &device_ca)?;
                let label = hubgate_protocol::hex::eui(&eui);
                certificates.push((
                    identity.ds_certificate().to_vec(),
                    format!("{label}-ds.pem"),
                ));
                certificates.push((
                    identity.ka_certificate().to_vec(),
                    format!("{label}-ka.pem"),
                ));
                let state = hub_device_state(eui_of(0), eui, *kind, trusted.clone());
                let keys = DeviceKeys::new(identity, None)?;
                devices.push(Device::from_parts(state, keys, cache.clone())?);
            }
            hubs.push(Hub::from_devices(devices).ok_or(DeviceError::Internal("hub assembly"))?);
        }
        store
            .add_certificates(certificates)
            .map_err(|_| DeviceError::Internal("adding a device certificate"))?;
        Ok(Fleet {
            hubs,
            store,
            parties,
            cache,
        })
    }
}

impl Fleet {
    /// Starts a builder.
    pub fn builder() -> FleetBuilder {
        FleetBuilder::new()
    }

    /// The device with this EUI, in any hub.
    pub fn device_mut(&mut self, eui: &[u8; 8]) -> Option<&mut Device> {
        self.hubs.iter_mut().find_map(|h| h.device_mut(eui))
    }

    /// Number of devices.
    pub fn device_count(&self) -> usize {
        self.hubs.len() * HUB_KINDS.len()
    }
}

/// A store with generated supplier, network operator and ACB keys (DS and KA, private keys
/// included) certified by a generated organisation CA.
fn generated_parties() -> Result<(Store, Parties), DeviceError> {
    let parties = Parties {
        supplier: [0x90, 0xb3, 0xd5, 0x1f, 0x55, 0x01, 0x00, 0x00],
        network_operator: [0x90, 0xb3, 0xd5, 0x1f, 0x55, 0x02, 0x00, 0x00],
        acb: [0x90, 0xb3, 0xd5, 0x1f, 0x55, 0x00, 0x00, 0x02],
    };
    let ca = CertificateAuthority::generate("EMULATED-ORGANISATIONS")?;
    let mut store = Store::new();
    for (r, eui) in parties.roles() {
        for usage in [KeyUsage::DigitalSignature, KeyUsage::KeyAgreement] {
            let key = GeneratedKey::generate()?;
            let cert = ca.issue(
                Subject::Organisation {
                    eui,
                    role: r,
                    common_name: None,
                },
                usage,
                &key.public_point,
            )?;
            let label = format!("{}-{}", hubgate_protocol::hex::eui(&eui), usage.short());
            store
                .add_certificate(&cert, &format!("{label}.pem"))
                .map_err(|_| DeviceError::Internal("adding an organisation certificate"))?;
            store
                .add_private_key(&key.pkcs8, &format!("{label}.key"))
                .map_err(|_| DeviceError::Internal("adding an organisation key"))?;
        }
    }
    Ok((store, parties))
}

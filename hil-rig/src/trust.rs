//! The Remote Party credentials a device holds (its trust anchor cells): for each role the
//! digital-signature and key-agreement certificates of the party in that role.
//!
//! Commands are checked against these: the ACB key-agreement certificate for command MACs,
//! the originator's digital-signature certificate for signed commands, and the recipient's
//! key-agreement certificate for response MACs and payload encryption. A credentials update
//! (CS02) replaces cells, and from then on the device trusts only the new key.

use hubgate_protocol::smki::{Certificate, Store};
use serde::{Deserialize, Serialize};

use crate::pki::KeyUsage;

/// SMKI organisation roles (the certificate subject OU) that GBCS devices hold credentials
/// for.
pub mod role {
    /// Recovery.
    pub const RECOVERY: u8 = 1;
    /// Supplier.
    pub const SUPPLIER: u8 = 2;
    /// Network operator.
    pub const NETWORK_OPERATOR: u8 = 3;
    /// Access Control Broker (the DCC).
    pub const ACB: u8 = 4;
    /// Transitional Change of Supplier party.
    pub const TRANSITIONAL_COS: u8 = 5;
    /// WAN provider.
    pub const WAN_PROVIDER: u8 = 6;
    /// Load controller.
    pub const LOAD_CONTROLLER: u8 = 8;
}

/// One trust anchor cell: a role, a usage, a cell index (1 for the supplier's prepayment
/// key-agreement cell, else 0) and the certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustCell {
    /// SMKI role of the party.
    pub role: u8,
    /// Key usage of the certificate.
    pub usage: KeyUsage,
    /// Cell index within (role, usage).
    pub index: u8,
    /// The party's EUI.
    pub eui: [u8; 8],
    /// The certificate, DER.
    pub certificate: Vec<u8>,
}

/// All cells, with their certificates parsed once.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TrustedParties {
    cells: Vec<TrustCell>,
    #[serde(skip)]
    parsed: Vec<Option<Certificate>>,
}

impl PartialEq for TrustedParties {
    fn eq(&self, other: &Self) -> bool {
        self.cells == other.cells
    }
}

impl TrustedParties {
    /// An empty set of cells.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cells for the given parties, with the best DS and KA certificates `store` holds for
    /// each EUI (and a prepayment KA certificate, file name `…-pp-…`, in KA cell 1).
    /// Parties without a certificate of a usage get no cell of that usage.
    pub fn from_store(store: &Store, parties: &[(u8, [u8; 8])]) -> Self {
        let mut t = TrustedParties::new();
        for &(role, eui) in parties {
            for usage in [KeyUsage::DigitalSignature, KeyUsage::KeyAgreement] {
                // A supplier's prepayment KA certificate (file `…-pp-ka…`) goes to cell 1.
                let mut normal = None;
                let mut prepayment = None;
                for e in store.public_keys(&eui, usage.to_smki()) {
                    let Some(c) = e.certificate() else { continue };
                    // A party's other certificates of the same usage (a User's XML-signing
                    // certificate, OU 87) are not the ones its devices hold for it.
                    if c.role().is_some_and(|r| r != role) {
                        continue;
                    }
                    let pp = e.public_label().is_some_and(|l| l.contains("-pp-"));
                    let slot = if pp { &mut prepayment } else { &mut normal };
                    if slot.is_none() {
                        *slot = Some(c.der().to_vec());
                    }
                }
                if let Some(der) = normal {
                    t.set(role, usage, 0, eui, der);
                }
                if let Some(der) = prepayment {
                    t.set(role, usage, 1, eui, der);
                }
            }
        }
        t
    }

    /// Puts a certificate in a cell, replacing what was there.
    pub fn set(
        &mut self,
        role: u8,
        usage: KeyUsage,
        index: u8,
        eui: [u8; 8],
        certificate: Vec<u8>,
    ) {
        self.ensure_parsed();
        let parsed = Certificate::from_der(&certificate).ok();
        let cell = TrustCell {
            role,
            usage,
            index,
            eui,
            certificate,
        };
        match self
            .cells
            .iter()
            .position(|c| c.role == role && c.usage == usage && c.index == index)
        {
            Some(i) => {
                self.cells[i] = cell;
                self.parsed[i] = parsed;
            }
            None => {
                self.cells.push(cell);
                self.parsed.push(parsed);
            }
        }
    }

    /// Empties a cell; returns what it held.
    pub fn remove(&mut self, role: u8, usage: KeyUsage, index: u8) -> Option<TrustCell> {
        self.ensure_parsed();
        let i = self
            .cells
            .iter()
            .position(|c| c.role == role && c.usage == usage && c.index == index)?;
        self.parsed.remove(i);
        Some(self.cells.remove(i))
    }

    /// The cells.
    pub fn cells(&self) -> &[TrustCell] {
        &self.cells
    }

    /// The cell for (role, usage, index).
    pub fn cell(&self, role: u8, usage: KeyUsage, index: u8) -> Option<&TrustCell> {
        self.cells
            .iter()
            .find(|c| c.role == role && c.usage == usage && c.index == index)
    }

    /// The EUI held in the role's index-0 cell of `usage`.
    pub fn eui_of(&self, role: u8) -> Option<[u8; 8]> {
        self.cell(role, KeyUsage::DigitalSignature, 0)
            .or_else(|| self.cell(role, KeyUsage::KeyAgreement, 0))
            .map(|c| c.eui)
    }

    /// The role a party holds, if any cell names its EUI.
    pub fn role_of(&self, eui: &[u8; 8]) -> Option<u8> {
        self.cells.iter().find(|c| &c.eui == eui).map(|c| c.role)
    }

    /// The parsed index-0 certificate of `usage` for the party `eui`.
    pub fn certificate(&mut self, eui: &[u8; 8], usage: KeyUsage) -> Option<&Certificate> {
        self.ensure_parsed();
        let i = self
            .cells
            .iter()
            .position(|c| &c.eui == eui && c.usage == usage && c.index == 0)?;
        self.parsed[i].as_ref()
    }

    /// The parsed index-0 certificate of `usage` in the role's cell.
    pub fn certificate_of_role(&mut self, role: u8, usage: KeyUsage) -> Option<&Certificate> {
        self.ensure_parsed();
        let i = self
            .cells
            .iter()
            .position(|c| c.role == role && c.usage == usage && c.index == 0)?;
        self.parsed[i].as_ref()
    }

    /// Parses the certificates again after deserialisation.
    fn ensure_parsed(&mut self) {
        if self.parsed.len() != self.cells.len() {
            self.parsed = self
                .cells
                .iter()
                .map(|c| Certificate::from_der(&c.certificate).ok())
                .collect();
        }
    }
}

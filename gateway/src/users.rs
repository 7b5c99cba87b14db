//! DCC Users: who may send which Service Requests, signed with which certificates.
//!
//! A [`User`] is a party with a User ID (EUI-64), DUIS roles, a status and its SMKI
//! certificates. The [`UserRegistry`] answers the access-control questions of the ingress,
//! in this order:
//!
//! 1. who signed: the `KeyInfo` serial resolves to a User XML-signing certificate
//!    ([`UserRegistry::by_xml_signing_serial`], also as a [`CertResolver`] for the
//!    signature check itself);
//! 2. is the signer acceptable: the certificate's role is 135 (User XML signing), its EUI is
//!    the RequestID originator, and it is valid at the instant given
//!    ([`UserRegistry::check_signer`]);
//! 3. is the originator a known User (`E1`) and not suspended (`E3`)
//!    ([`UserRegistry::check_originator`]);
//! 4. may one of its roles send the SRV (`E2`) ([`UserRegistry::check_srv`]).
//!
//! Nothing here reads files or clocks: the PKI loaders ([`crate::pki`]) build the Users, and
//! callers pass the time in.

use std::collections::{BTreeMap, HashMap};

use hubgate_protocol::catalogue::{Catalogue, Role};
use hubgate_protocol::duis::dsig::{CertResolver, ResolvedCert};
use hubgate_protocol::duis::model::response::ResponseCode;
use hubgate_protocol::hex;
use hubgate_protocol::smki::{Certificate, Usage};

use crate::config::UserOverride;
use crate::pki::role;

/// Whether a User may use the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum UserStatus {
    /// May send Service Requests.
    #[default]
    Active,
    /// Suspended under the SEC: every request is refused with `E3`.
    Suspended,
}

/// A DCC User.
#[derive(Debug, Clone)]
pub struct User {
    /// The User ID (EUI-64), the originator in RequestIDs.
    pub id: [u8; 8],
    /// A display name (folder name for the demo Users; from the key store otherwise).
    pub name: String,
    /// DUIS roles, in [`Role::ALL`] order, without repeats.
    pub roles: Vec<Role>,
    /// Active or suspended.
    pub status: UserStatus,
    /// User XML-signing certificates (role 135): each may sign this User's requests.
    pub xml_signing_certs: Vec<Certificate>,
    /// GBCS digital-signature certificates (the party's own role).
    pub ds_certs: Vec<Certificate>,
    /// Key-agreement certificates (the party's own role).
    pub ka_certs: Vec<Certificate>,
    /// Where responses and alerts are delivered (an `https://` URL), if registered.
    pub delivery_endpoint: Option<String>,
}

impl User {
    /// Whether the User acts as a network operator: it holds the Electricity Distributor or
    /// Gas Transporter role and no supplier role. Some SRVs have a use case of their own for
    /// a network operator (6.13's ECS35g).
    pub fn acts_as_network_operator(&self) -> bool {
        use Role::{ElectricityDistributor, ExportSupplier, GasSupplier, GasTransporter};
        self.roles
            .iter()
            .any(|r| matches!(r, ElectricityDistributor | GasTransporter))
            && !self
                .roles
                .iter()
                .any(|r| matches!(r, Role::ImportSupplier | ExportSupplier | GasSupplier))
    }

    /// A User with no certificates, active, with no delivery endpoint. Roles are sorted and
    /// repeats dropped.
    pub fn new(
        id: [u8; 8],
        name: impl Into<String>,
        roles: impl IntoIterator<Item = Role>,
    ) -> Self {
        let mut roles: Vec<Role> = roles.into_iter().collect();
        roles.sort();
        roles.dedup();
        User {
            id,
            name: name.into(),
            roles,
            status: UserStatus::Active,
            xml_signing_certs: Vec::new(),
            ds_certs: Vec::new(),
            ka_certs: Vec::new(),
            delivery_endpoint: None,
        }
    }

    /// Adds a certificate to the list its role and usage belong to: role 135 to
    /// [`User::xml_signing_certs`], otherwise by key usage to [`User::ds_certs`] or
    /// [`User::ka_certs`]. A certificate already held (same serial) is not added twice.
    pub fn add_certificate(&mut self, cert: Certificate) {
        let list = match (cert.role(), cert.usage()) {
            (Some(role::USER_XML_SIGNING), _) => &mut self.xml_signing_certs,
            (_, Some(Usage::KeyAgreement)) => &mut self.ka_certs,
            _ => &mut self.ds_certs,
        };
        if !list.iter().any(|c| c.serial() == cert.serial()) {
            list.push(cert);
        }
    }

    /// The User ID the DUIS way (`90-B3-D5-1F-30-01-00-00`).
    pub fn id_duis(&self) -> String {
        hex::eui_duis(&self.id)
    }

    /// True when the User holds `role`.
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    /// True when the User is not suspended.
    pub fn is_active(&self) -> bool {
        self.status == UserStatus::Active
    }

    /// The roles as DUIS abbreviations joined by `,` (`IS,ES,GS`).
    pub fn roles_text(&self) -> String {
        self.roles
            .iter()
            .map(|r| r.code())
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// Why the registry refuses a request. Each maps to the DUIS response code the ingress
/// returns ([`AccessError::response_code`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The originator is not a User (`E1`).
    #[error("unknown User {0}")]
    UnknownUser(String),
    /// The originator is suspended (`E3`).
    #[error("User {0} is suspended")]
    Suspended(String),
    /// The SRV is not in the catalogue, so no role may send it (`E2`).
    #[error("unknown Service Reference Variant {0}")]
    UnknownSrv(String),
    /// No role of the User may send the SRV (`E2`).
    #[error("no role of User {user} ({roles}) may send SRV {srv}")]
    RoleNotPermitted {
        /// The User ID.
        user: String,
        /// The User's roles.
        roles: String,
        /// The SRV.
        srv: String,
    },
    /// No User XML-signing certificate has this serial (`E41`).
    #[error("no User XML-signing certificate with serial {0}")]
    UnknownSigner(String),
    /// The certificate's role is not 135, User XML signing (`E41`).
    #[error("certificate {serial} has role {role:?}, not 135 (User XML signing)")]
    NotXmlSigning {
        /// The certificate serial (decimal).
        serial: String,
        /// Its role.
        role: Option<u8>,
    },
    /// The certificate belongs to another party than the RequestID originator (`E41`).
    #[error("certificate {serial} belongs to {holder}, not to the originator {originator}")]
    NotOriginator {
        /// The certificate serial (decimal).
        serial: String,
        /// The certificate holder's EUI.
        holder: String,
        /// The originator in the RequestID.
        originator: String,
    },
    /// The certificate is not valid at the instant of the check (`E41`).
    #[error("certificate {serial} is valid from {not_before} to {not_after}, not at {now}")]
    NotValidNow {
        /// The certificate serial (decimal).
        serial: String,
        /// Start of validity.
        not_before: i64,
        /// End of validity.
        not_after: i64,
        /// The instant checked.
        now: i64,
    },
}

impl AccessError {
    /// The DUIS response code: `E1` unknown User, `E2` role not permitted (or SRV unknown),
    /// `E3` suspended, `E41` signer certificate not acceptable (HubGate's code; the published
    /// sources give none).
    pub fn code(&self) -> &'static str {
        match self {
            AccessError::UnknownUser(_) => "E1",
            AccessError::Suspended(_) => "E3",
            AccessError::UnknownSrv(_) | AccessError::RoleNotPermitted { .. } => "E2",
            AccessError::UnknownSigner(_)
            | AccessError::NotXmlSigning { .. }
            | AccessError::NotOriginator { .. }
            | AccessError::NotValidNow { .. } => "E41",
        }
    }

    /// [`AccessError::code`] as a schema response code.
    pub fn response_code(&self) -> ResponseCode {
        ResponseCode::parse(self.code())
            .expect("E1, E2, E3 and E41 are in the DUIS schema's ResponseCode enumeration")
    }
}

/// Why a registry cannot be built or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// Two Users with one User ID.
    #[error("User ID {0} is listed twice")]
    DuplicateUser(String),
    /// Two Users hold an XML-signing certificate with the same serial: a signature could not
    /// be attributed.
    #[error("XML-signing certificate serial {serial} is held by both {first} and {second}")]
    DuplicateSerial {
        /// The serial (decimal).
        serial: String,
        /// One holder.
        first: String,
        /// The other holder.
        second: String,
    },
    /// A configuration override names a User ID that is not a User.
    #[error("users.{0}: no User with this ID is loaded")]
    UnknownOverride(String),
}

/// The Users, indexed by User ID and by XML-signing certificate serial. Immutable once
/// built (share it behind an `Arc`); build a new one to change it.
#[derive(Debug, Clone, Default)]
pub struct UserRegistry {
    users: Vec<User>,
    by_id: HashMap<[u8; 8], usize>,
    by_serial: HashMap<String, (usize, usize)>,
}

/// A request that passed the User checks: who sent it and under which role.
#[derive(Debug, Clone, Copy)]
pub struct Authorised<'a> {
    /// The originator.
    pub user: &'a User,
    /// The first of its roles (in [`Role::ALL`] order) that may send the SRV.
    pub role: Role,
}

impl UserRegistry {
    /// A registry of `users`.
    ///
    /// # Errors
    ///
    /// [`RegistryError::DuplicateUser`] or [`RegistryError::DuplicateSerial`].
    pub fn new(users: Vec<User>) -> Result<Self, RegistryError> {
        let mut by_id = HashMap::with_capacity(users.len());
        let mut by_serial: HashMap<String, (usize, usize)> = HashMap::new();
        for (i, user) in users.iter().enumerate() {
            if by_id.insert(user.id, i).is_some() {
                return Err(RegistryError::DuplicateUser(user.id_duis()));
            }
            for (j, cert) in user.xml_signing_certs.iter().enumerate() {
                let serial = cert.serial_decimal().to_string();
                if let Some(&(other, _)) = by_serial.get(&serial) {
                    if other != i {
                        return Err(RegistryError::DuplicateSerial {
                            serial,
                            first: users[other].id_duis(),
                            second: user.id_duis(),
                        });
                    }
                    continue;
                }
                by_serial.insert(serial, (i, j));
            }
        }
        Ok(UserRegistry {
            users,
            by_id,
            by_serial,
        })
    }

    /// This registry with configuration overrides applied: `users.<User ID>` may set a
    /// delivery endpoint and suspend a User.
    ///
    /// # Errors
    ///
    /// [`RegistryError::UnknownOverride`] when an override names no loaded User (or is not
    /// a User ID).
    pub fn with_overrides(
        mut self,
        overrides: &BTreeMap<String, UserOverride>,
    ) -> Result<Self, RegistryError> {
        for (key, o) in overrides {
            let index = hex::parse_eui(key)
                .and_then(|id| self.by_id.get(&id).copied())
                .ok_or_else(|| RegistryError::UnknownOverride(key.clone()))?;
            let user = &mut self.users[index];
            if let Some(endpoint) = &o.delivery_endpoint {
                user.delivery_endpoint = Some(endpoint.clone());
            }
            if o.suspended {
                user.status = UserStatus::Suspended;
            }
        }
        Ok(self)
    }

    /// Every User, in the order given.
    pub fn users(&self) -> &[User] {
        &self.users
    }

    /// Number of Users.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when there are no Users.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// The User with this ID.
    pub fn get(&self, id: &[u8; 8]) -> Option<&User> {
        self.by_id.get(id).map(|&i| &self.users[i])
    }

    /// The first User with this name.
    pub fn by_name(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The User holding the XML-signing certificate with this serial (decimal, as in
    /// `KeyInfo`), and the certificate.
    pub fn by_xml_signing_serial(&self, serial_decimal: &str) -> Option<(&User, &Certificate)> {
        let &(u, c) = self.by_serial.get(serial_decimal.trim())?;
        let user = &self.users[u];
        Some((user, &user.xml_signing_certs[c]))
    }

    /// Check 3: the originator is a known User (`E1`) and not suspended (`E3`).
    ///
    /// # Errors
    ///
    /// [`AccessError::UnknownUser`] or [`AccessError::Suspended`].
    pub fn check_originator(&self, originator: &[u8; 8]) -> Result<&User, AccessError> {
        let user = self
            .get(originator)
            .ok_or_else(|| AccessError::UnknownUser(hex::eui_duis(originator)))?;
        if !user.is_active() {
            return Err(AccessError::Suspended(user.id_duis()));
        }
        Ok(user)
    }

    /// Check 4: one of the User's roles may send `srv` (`E2`); returns the first such role
    /// in [`Role::ALL`] order.
    ///
    /// # Errors
    ///
    /// [`AccessError::UnknownSrv`] or [`AccessError::RoleNotPermitted`].
    pub fn check_srv(user: &User, srv: &str) -> Result<Role, AccessError> {
        let entry = Catalogue::get()
            .srv(srv)
            .ok_or_else(|| AccessError::UnknownSrv(srv.to_string()))?;
        user.roles
            .iter()
            .copied()
            .find(|&r| entry.allows_role(r))
            .ok_or_else(|| AccessError::RoleNotPermitted {
                user: user.id_duis(),
                roles: user.roles_text(),
                srv: srv.to_string(),
            })
    }

    /// Checks 3 and 4 together: the originator is an active User and may send `srv`.
    ///
    /// # Errors
    ///
    /// As [`UserRegistry::check_originator`] and [`UserRegistry::check_srv`].
    pub fn authorise(
        &self,
        originator: &[u8; 8],
        srv: &str,
    ) -> Result<Authorised<'_>, AccessError> {
        let user = self.check_originator(originator)?;
        let role = Self::check_srv(user, srv)?;
        Ok(Authorised { user, role })
    }

    /// Check 2: the certificate with `serial_decimal` is a User XML-signing certificate
    /// (role 135) of `originator`, valid at `now` (Unix seconds, bounds included).
    ///
    /// The certificate is looked up among the Users' XML-signing certificates only, so a
    /// serial of any other certificate is [`AccessError::UnknownSigner`]; use
    /// [`UserRegistry::check_certificate`] to check a certificate found elsewhere.
    ///
    /// # Errors
    ///
    /// [`AccessError::UnknownSigner`], [`AccessError::NotXmlSigning`],
    /// [`AccessError::NotOriginator`] or [`AccessError::NotValidNow`].
    pub fn check_signer(
        &self,
        originator: &[u8; 8],
        serial_decimal: &str,
        now: i64,
    ) -> Result<&Certificate, AccessError> {
        let (_, cert) = self
            .by_xml_signing_serial(serial_decimal)
            .ok_or_else(|| AccessError::UnknownSigner(serial_decimal.trim().to_string()))?;
        Self::check_certificate(cert, originator, now)?;
        Ok(cert)
    }

    /// The checks of [`UserRegistry::check_signer`] on a given certificate: role 135,
    /// digital signature, held by `originator`, valid at `now`.
    ///
    /// # Errors
    ///
    /// [`AccessError::NotXmlSigning`], [`AccessError::NotOriginator`] or
    /// [`AccessError::NotValidNow`].
    pub fn check_certificate(
        cert: &Certificate,
        originator: &[u8; 8],
        now: i64,
    ) -> Result<(), AccessError> {
        let serial = || cert.serial_decimal().to_string();
        if cert.role() != Some(role::USER_XML_SIGNING)
            || cert.usage() != Some(Usage::DigitalSignature)
        {
            return Err(AccessError::NotXmlSigning {
                serial: serial(),
                role: cert.role(),
            });
        }
        if cert.eui().as_ref() != Some(originator) {
            return Err(AccessError::NotOriginator {
                serial: serial(),
                holder: cert
                    .eui()
                    .map_or_else(|| "nobody".into(), |e| hex::eui_duis(&e)),
                originator: hex::eui_duis(originator),
            });
        }
        if !cert.is_valid_at(now) {
            return Err(AccessError::NotValidNow {
                serial: serial(),
                not_before: cert.not_before(),
                not_after: cert.not_after(),
                now,
            });
        }
        Ok(())
    }
}

/// Resolves the Users' XML-signing certificates by serial, for the signature check. It
/// does not judge them: run [`UserRegistry::check_signer`] (or
/// [`UserRegistry::check_certificate`]) on the signer afterwards.
impl CertResolver for UserRegistry {
    fn by_serial(&self, serial_decimal: &str) -> Option<ResolvedCert<'_>> {
        let (user, cert) = self.by_xml_signing_serial(serial_decimal)?;
        Some(ResolvedCert::from_certificate(cert, user.name.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: u8, roles: &[Role]) -> User {
        User::new(
            [0x90, 0xb3, 0xd5, 0x1f, 0x40, id, 0, 0],
            format!("u{id}"),
            roles.to_vec(),
        )
    }

    #[test]
    fn network_operators_are_distributors_and_transporters_that_supply_nothing() {
        use Role::*;
        for (roles, expected) in [
            (&[ElectricityDistributor][..], true),
            (&[GasTransporter][..], true),
            (&[ElectricityDistributor, GasTransporter][..], true),
            (&[ImportSupplier][..], false),
            (&[ImportSupplier, ElectricityDistributor][..], false),
            (&[GasSupplier, GasTransporter][..], false),
            (&[OtherUser][..], false),
            (&[][..], false),
        ] {
            assert_eq!(
                user(1, roles).acts_as_network_operator(),
                expected,
                "{roles:?}"
            );
        }
    }

    #[test]
    fn originator_checks_give_e1_and_e3() {
        let reg = UserRegistry::new(vec![user(1, &[Role::ImportSupplier])]).unwrap();
        let unknown = [0u8; 8];
        let e = reg.check_originator(&unknown).unwrap_err();
        assert_eq!(e.code(), "E1");
        assert_eq!(e.response_code().as_str(), "E1");

        let mut overrides = BTreeMap::new();
        overrides.insert(
            "90-B3-D5-1F-40-01-00-00".to_string(),
            UserOverride {
                delivery_endpoint: Some("https://localhost:9000/duis".into()),
                suspended: true,
                pull_token: None,
            },
        );
        let reg = reg.with_overrides(&overrides).unwrap();
        let id = reg.users()[0].id;
        assert_eq!(reg.check_originator(&id).unwrap_err().code(), "E3");
        assert_eq!(
            reg.get(&id).unwrap().delivery_endpoint.as_deref(),
            Some("https://localhost:9000/duis")
        );
    }

    #[test]
    fn srv_checks_follow_the_catalogue() {
        let is = user(1, &[Role::ImportSupplier]);
        let ed = user(4, &[Role::ElectricityDistributor]);
        // 4.1.1 Read Instantaneous Import Registers is open to suppliers.
        assert_eq!(
            UserRegistry::check_srv(&is, "4.1.1").unwrap(),
            Role::ImportSupplier
        );
        // 1.1.1 Update Import Tariff is for suppliers only.
        let e = UserRegistry::check_srv(&ed, "1.1.1").unwrap_err();
        assert_eq!(e.code(), "E2");
        assert_eq!(
            UserRegistry::check_srv(&is, "99.9.9").unwrap_err(),
            AccessError::UnknownSrv("99.9.9".into())
        );
    }

    #[test]
    fn duplicates_and_unknown_overrides_are_refused() {
        let e = UserRegistry::new(vec![user(1, &[]), user(1, &[])]).unwrap_err();
        assert!(matches!(e, RegistryError::DuplicateUser(_)));
        let reg = UserRegistry::new(vec![user(1, &[])]).unwrap();
        let mut o = BTreeMap::new();
        o.insert(
            "00-00-00-00-00-00-00-01".to_string(),
            UserOverride::default(),
        );
        assert!(matches!(
            reg.with_overrides(&o),
            Err(RegistryError::UnknownOverride(_))
        ));
    }

    #[test]
    fn every_error_has_a_schema_response_code() {
        let s = String::new;
        let all = [
            AccessError::UnknownUser(s()),
            AccessError::Suspended(s()),
            AccessError::UnknownSrv(s()),
            AccessError::RoleNotPermitted {
                user: s(),
                roles: s(),
                srv: s(),
            },
            AccessError::UnknownSigner(s()),
            AccessError::NotXmlSigning {
                serial: s(),
                role: None,
            },
            AccessError::NotOriginator {
                serial: s(),
                holder: s(),
                originator: s(),
            },
            AccessError::NotValidNow {
                serial: s(),
                not_before: 0,
                not_after: 0,
                now: 1,
            },
        ];
        for e in all {
            assert_eq!(e.response_code().as_str(), e.code());
        }
    }

    #[test]
    fn roles_are_sorted_and_unique() {
        let u = user(
            1,
            &[Role::GasSupplier, Role::ImportSupplier, Role::GasSupplier],
        );
        assert_eq!(u.roles, [Role::ImportSupplier, Role::GasSupplier]);
        assert_eq!(u.roles_text(), "IS,GS");
    }
}

//! The local test PKI: an SMKI-like CA, the demo Users' certificates and the DCC's own keys,
//! created in the data folder on first start and reused afterwards.
//!
//! # Identifiers
//!
//! HubGate's demo parties take their EUI-64s from the block `90-B3-D5-1F-40-xx-xx-xx`, next to
//! the `90-B3-D5-1F-30-…` block of the DCC Boxed (ZAZ1) test parties, so both sets can be
//! loaded side by side without clashing:
//!
//! | party | User ID | DUIS roles | SMKI role (OU) |
//! |---|---|---|---|
//! | the DCC (DSP XML signing, ACB) | `90-B3-D5-1F-40-00-00-02` | — | `89`, `04` |
//! | the Transitional Change of Supplier party ([`crate::cos`]) | `90-B3-D5-1F-40-00-00-04` | — | `05` |
//! | `import-supplier` | `90-B3-D5-1F-40-01-00-00` | IS | `02` |
//! | `export-supplier` | `90-B3-D5-1F-40-02-00-00` | ES | `02` |
//! | `gas-supplier` | `90-B3-D5-1F-40-03-00-00` | GS | `02` |
//! | `electricity-distributor` | `90-B3-D5-1F-40-04-00-00` | ED | `03` |
//! | `gas-transporter` | `90-B3-D5-1F-40-05-00-00` | GT | `03` |
//! | `other-user` | `90-B3-D5-1F-40-06-00-00` | OU | `7F` |
//!
//! # Files (under the data folder)
//!
//! ```text
//! pki/ca.pem, pki/ca.key                    the CA (OU=07, CN=HubGate Test SMKI CA)
//! pki/dsp-xml-sign.pem, .key                DSP XML signing (OU 89): signs responses
//! pki/acb-ds.pem, .key, pki/acb-ka.pem, .key Access Control Broker (OU 04)
//! pki/cos-ds.pem, .key                      Transitional CoS party (OU 05): signs 6.23 commands
//! pki/users/<name>/xml-sign.pem, .key       the User's XML signing (OU 87): signs requests
//! pki/users/<name>/ds.pem, .key             the User's GBCS digital signature (OU 02/03/7F)
//! pki/users/<name>/ka.pem, .key             the User's key agreement (OU 02/03/7F)
//! pki/users.toml                            summary: User IDs, roles, files, serials
//! ```
//!
//! Keys are PKCS#8 PEM, certificates PEM. All certificates are valid from 2020-01-01 to
//! 2120-01-01 ([`VALID_FROM`], [`VALID_UNTIL`]), so tests can pin the clock anywhere in
//! between.
//!
//! # Reuse
//!
//! A certificate and key pair that exist, match each other and were issued by the CA on disk
//! are kept. A pair with one file missing is issued again. A pair that exists but does not
//! match is an error (delete both files to have them issued again), and so is a CA
//! certificate without its key when something has to be issued. Without `pki/ca.pem`
//! everything is issued afresh.

use std::path::{Path, PathBuf};

use hubgate_protocol::catalogue::Role;
use hubgate_protocol::smki::{Certificate, Usage};
use serde::Serialize;

use super::cert::{self, CertSpec, Extension, Issuer, KeyPair, Name, oids};
use super::{PkiError, files, role};

/// The DCC's EUI in the local test PKI (DSP XML signing and ACB keys).
pub const DCC_ID: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x00, 0x00, 0x02];
/// The Transitional Change of Supplier party's EUI in the local test PKI (its digital-signature
/// key signs the credential updates of SR 6.23; see [`crate::cos`]).
pub const COS_ID: [u8; 8] = [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x00, 0x00, 0x04];
/// Start of validity of every certificate of the local test PKI: 2020-01-01T00:00:00Z.
pub const VALID_FROM: i64 = 1_577_836_800;
/// End of validity of every certificate of the local test PKI: 2120-01-01T00:00:00Z.
pub const VALID_UNTIL: i64 = 4_733_510_400;
/// The CA's common name; with `OU=07` it is the issuer of every certificate.
pub const CA_COMMON_NAME: &str = "HubGate Test SMKI CA";

/// One demo User of the local test PKI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DemoUser {
    /// Folder and display name.
    pub name: &'static str,
    /// User ID (EUI-64).
    pub id: [u8; 8],
    /// DUIS roles.
    pub roles: &'static [Role],
    /// The SMKI role in the OU of its DS and KA certificates.
    pub smki_role: u8,
    /// The common name in its certificates.
    pub common_name: &'static str,
}

/// The demo Users (see the module documentation for the table).
pub const DEMO_USERS: [DemoUser; 6] = [
    DemoUser {
        name: "import-supplier",
        id: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x01, 0x00, 0x00],
        roles: &[Role::ImportSupplier],
        smki_role: role::SUPPLIER,
        common_name: "HubGate Demo Import Supplier",
    },
    DemoUser {
        name: "export-supplier",
        id: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x02, 0x00, 0x00],
        roles: &[Role::ExportSupplier],
        smki_role: role::SUPPLIER,
        common_name: "HubGate Demo Export Supplier",
    },
    DemoUser {
        name: "gas-supplier",
        id: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x03, 0x00, 0x00],
        roles: &[Role::GasSupplier],
        smki_role: role::SUPPLIER,
        common_name: "HubGate Demo Gas Supplier",
    },
    DemoUser {
        name: "electricity-distributor",
        id: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x04, 0x00, 0x00],
        roles: &[Role::ElectricityDistributor],
        smki_role: role::NETWORK_OPERATOR,
        common_name: "HubGate Demo Electricity Distributor",
    },
    DemoUser {
        name: "gas-transporter",
        id: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x05, 0x00, 0x00],
        roles: &[Role::GasTransporter],
        smki_role: role::NETWORK_OPERATOR,
        common_name: "HubGate Demo Gas Transporter",
    },
    DemoUser {
        name: "other-user",
        id: [0x90, 0xb3, 0xd5, 0x1f, 0x40, 0x06, 0x00, 0x00],
        roles: &[Role::OtherUser],
        smki_role: role::OTHER_USER,
        common_name: "HubGate Demo Other User",
    },
];

/// Most load-test Users a local PKI holds (their User IDs run
/// `90-B3-D5-1F-50-00-00-01` … `90-B3-D5-1F-50-00-FF-FF`).
pub const MAX_LOAD_TEST_USERS: u32 = 0xFFFF;

/// A User of the local test PKI: a demo User, or a load-test User.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalUser {
    /// Folder and display name.
    pub name: String,
    /// User ID (EUI-64).
    pub id: [u8; 8],
    /// DUIS roles.
    pub roles: Vec<Role>,
    /// The SMKI role in the OU of its DS and KA certificates.
    pub smki_role: u8,
    /// The common name in its certificates.
    pub common_name: String,
}

impl From<&DemoUser> for LocalUser {
    fn from(d: &DemoUser) -> Self {
        LocalUser {
            name: d.name.to_string(),
            id: d.id,
            roles: d.roles.to_vec(),
            smki_role: d.smki_role,
            common_name: d.common_name.to_string(),
        }
    }
}

/// The demo Users followed by `load_test` load-test Users. Load-test User `i` (from 1) is
/// named `load-NNNNN`, has User ID `90-B3-D5-1F-50-00-hi-lo` (`i` in the last two bytes) and
/// the import and gas supplier roles, so a load generator can give each its own meters and
/// send from many Users at once (each User's counters must arrive in order, which limits
/// one User to one ordered stream of requests).
pub fn local_users(load_test: u32) -> Vec<LocalUser> {
    let mut out: Vec<LocalUser> = DEMO_USERS.iter().map(LocalUser::from).collect();
    for i in 1..=load_test.min(MAX_LOAD_TEST_USERS) {
        let [_, _, hi, lo] = i.to_be_bytes();
        out.push(LocalUser {
            name: format!("load-{i:05}"),
            id: [0x90, 0xb3, 0xd5, 0x1f, 0x50, 0x00, hi, lo],
            roles: vec![Role::ImportSupplier, Role::GasSupplier],
            smki_role: role::SUPPLIER,
            common_name: format!("HubGate Load Test User {i:05}"),
        });
    }
    out
}

/// The three credentials each User holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Credential {
    /// XML signing (OU 87): signs DUIS requests.
    XmlSigning,
    /// GBCS digital signature (OU of the party's role): signs Pre-Commands.
    DigitalSignature,
    /// Key agreement (OU of the party's role).
    KeyAgreement,
}

impl Credential {
    /// Every credential, in file order.
    pub const ALL: [Credential; 3] = [
        Credential::XmlSigning,
        Credential::DigitalSignature,
        Credential::KeyAgreement,
    ];

    /// The file stem: `xml-sign`, `ds` or `ka`.
    pub fn stem(self) -> &'static str {
        match self {
            Credential::XmlSigning => "xml-sign",
            Credential::DigitalSignature => "ds",
            Credential::KeyAgreement => "ka",
        }
    }

    /// The key usage of the certificate.
    pub fn usage(self) -> Usage {
        match self {
            Credential::KeyAgreement => Usage::KeyAgreement,
            _ => Usage::DigitalSignature,
        }
    }

    /// The SMKI role in the certificate's OU for a party whose role is `party_role`.
    pub fn smki_role(self, party_role: u8) -> u8 {
        match self {
            Credential::XmlSigning => role::USER_XML_SIGNING,
            _ => party_role,
        }
    }
}

/// Where the files of the local PKI live, under the data folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    data_dir: PathBuf,
    load_test_users: u32,
}

impl Layout {
    /// The layout under `data_dir`.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Layout {
            data_dir: data_dir.into(),
            load_test_users: 0,
        }
    }

    /// The same layout with `n` load-test Users besides the demo Users (see
    /// [`local_users`]).
    #[must_use]
    pub fn with_load_test_users(mut self, n: u32) -> Self {
        self.load_test_users = n.min(MAX_LOAD_TEST_USERS);
        self
    }

    /// Every User of the local PKI: the demo Users, then the load-test Users.
    pub fn users(&self) -> Vec<LocalUser> {
        local_users(self.load_test_users)
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// `<data>/pki`.
    pub fn pki_dir(&self) -> PathBuf {
        self.data_dir.join("pki")
    }

    /// `<data>/pki/ca.pem`.
    pub fn ca_cert(&self) -> PathBuf {
        self.pki_dir().join("ca.pem")
    }

    /// `<data>/pki/ca.key`.
    pub fn ca_key(&self) -> PathBuf {
        self.pki_dir().join("ca.key")
    }

    /// `<data>/pki/users/<name>`.
    pub fn user_dir(&self, name: &str) -> PathBuf {
        self.pki_dir().join("users").join(name)
    }

    /// `<data>/pki/users/<name>/<stem>.pem`.
    pub fn user_cert(&self, name: &str, credential: Credential) -> PathBuf {
        self.user_dir(name)
            .join(format!("{}.pem", credential.stem()))
    }

    /// `<data>/pki/users/<name>/<stem>.key`.
    pub fn user_key(&self, name: &str, credential: Credential) -> PathBuf {
        self.user_dir(name)
            .join(format!("{}.key", credential.stem()))
    }

    /// `<data>/pki/dsp-xml-sign.pem`.
    pub fn dsp_cert(&self) -> PathBuf {
        self.pki_dir().join("dsp-xml-sign.pem")
    }

    /// `<data>/pki/dsp-xml-sign.key`.
    pub fn dsp_key(&self) -> PathBuf {
        self.pki_dir().join("dsp-xml-sign.key")
    }

    /// `<data>/pki/acb-ds.pem` or `acb-ka.pem`.
    pub fn acb_cert(&self, usage: Usage) -> PathBuf {
        self.pki_dir().join(format!("acb-{}.pem", usage.short()))
    }

    /// `<data>/pki/acb-ds.key` or `acb-ka.key`.
    pub fn acb_key(&self, usage: Usage) -> PathBuf {
        self.pki_dir().join(format!("acb-{}.key", usage.short()))
    }

    /// `<data>/pki/cos-ds.pem`: the Transitional CoS party's digital-signature certificate.
    pub fn cos_cert(&self) -> PathBuf {
        self.pki_dir().join("cos-ds.pem")
    }

    /// `<data>/pki/cos-ds.key`.
    pub fn cos_key(&self) -> PathBuf {
        self.pki_dir().join("cos-ds.key")
    }

    /// `<data>/pki/users.toml`.
    pub fn users_summary(&self) -> PathBuf {
        self.pki_dir().join("users.toml")
    }

    /// `<data>/tls`.
    pub fn tls_dir(&self) -> PathBuf {
        self.data_dir.join("tls")
    }

    /// `<data>/tls/ca.pem`: the local TLS CA that clients trust.
    pub fn tls_ca_cert(&self) -> PathBuf {
        self.tls_dir().join("ca.pem")
    }

    /// `<data>/tls/ca.key`.
    pub fn tls_ca_key(&self) -> PathBuf {
        self.tls_dir().join("ca.key")
    }

    /// `<data>/tls/server.pem`.
    pub fn tls_server_cert(&self) -> PathBuf {
        self.tls_dir().join("server.pem")
    }

    /// `<data>/tls/server.key`.
    pub fn tls_server_key(&self) -> PathBuf {
        self.tls_dir().join("server.key")
    }

    /// `<data>/tls/clients/<name>.pem`: a client certificate for mutual TLS.
    pub fn tls_client_cert(&self, name: &str) -> PathBuf {
        self.tls_dir().join("clients").join(format!("{name}.pem"))
    }

    /// `<data>/tls/clients/<name>.key`.
    pub fn tls_client_key(&self, name: &str) -> PathBuf {
        self.tls_dir().join("clients").join(format!("{name}.key"))
    }

    /// `<data>/tls/rigs/<stem>.pem`: an SMWAN rig certificate (see `crate::smwan::RigScope`).
    pub fn tls_rig_cert(&self, stem: &str) -> PathBuf {
        self.tls_dir().join("rigs").join(format!("{stem}.pem"))
    }

    /// `<data>/tls/rigs/<stem>.key`.
    pub fn tls_rig_key(&self, stem: &str) -> PathBuf {
        self.tls_dir().join("rigs").join(format!("{stem}.key"))
    }
}

/// One organisation certificate of the local PKI and where it goes.
#[derive(Debug, Clone)]
struct Leaf {
    cert: PathBuf,
    key: PathBuf,
    eui: [u8; 8],
    role: u8,
    usage: Usage,
    common_name: String,
}

/// Every organisation certificate of the local PKI.
fn leaves(layout: &Layout) -> Vec<Leaf> {
    let mut out = vec![Leaf {
        cert: layout.dsp_cert(),
        key: layout.dsp_key(),
        eui: DCC_ID,
        role: role::DSP_XML_SIGNING,
        usage: Usage::DigitalSignature,
        common_name: "HubGate DSP XML Signing".into(),
    }];
    for usage in [Usage::DigitalSignature, Usage::KeyAgreement] {
        out.push(Leaf {
            cert: layout.acb_cert(usage),
            key: layout.acb_key(usage),
            eui: DCC_ID,
            role: role::ACCESS_CONTROL_BROKER,
            usage,
            common_name: "HubGate Access Control Broker".into(),
        });
    }
    out.push(Leaf {
        cert: layout.cos_cert(),
        key: layout.cos_key(),
        eui: COS_ID,
        role: role::TRANSITIONAL_COS,
        usage: Usage::DigitalSignature,
        common_name: "HubGate Transitional CoS Party".into(),
    });
    for user in layout.users() {
        for credential in Credential::ALL {
            out.push(Leaf {
                cert: layout.user_cert(&user.name, credential),
                key: layout.user_key(&user.name, credential),
                eui: user.id,
                role: credential.smki_role(user.smki_role),
                usage: credential.usage(),
                common_name: user.common_name.clone(),
            });
        }
    }
    out
}

/// Creates whatever is missing of the local test PKI under `layout` (see the module
/// documentation) and returns the files written.
///
/// # Errors
///
/// [`PkiError::Io`] when files cannot be read or written, [`PkiError::InvalidFile`] when an
/// existing file is not what it should be.
pub fn ensure(layout: &Layout) -> Result<Vec<PathBuf>, PkiError> {
    let mut created = Vec::new();
    let fresh = !layout.ca_cert().exists();
    let mut issuer = None;
    if fresh {
        let key = KeyPair::generate()?;
        let der = smki_ca(&key)?;
        files::write(&layout.ca_key(), key.pkcs8_pem().as_bytes(), true)?;
        files::write(
            &layout.ca_cert(),
            cert::pem("CERTIFICATE", &der).as_bytes(),
            false,
        )?;
        created.extend([layout.ca_cert(), layout.ca_key()]);
        issuer = Some(Issuer::from_certificate(&der, key)?);
    }
    let ca = read_certificate(&layout.ca_cert())?;
    for leaf in leaves(layout) {
        if !fresh && pair_is_usable(&leaf.cert, &leaf.key, &ca)? {
            continue;
        }
        let issuer = match issuer {
            Some(ref i) => i,
            None => issuer.insert(load_issuer(layout)?),
        };
        let key = KeyPair::generate()?;
        let der = issuer.issue(organisation_spec(&key, &leaf)?)?;
        files::write(&leaf.key, key.pkcs8_pem().as_bytes(), true)?;
        files::write(&leaf.cert, cert::pem("CERTIFICATE", &der).as_bytes(), false)?;
        created.extend([leaf.cert, leaf.key]);
    }
    Ok(created)
}

/// The self-signed SMKI-like CA certificate: `OU=07, CN=HubGate Test SMKI CA`.
fn smki_ca(key: &KeyPair) -> Result<Vec<u8>, PkiError> {
    let subject = Name::new()
        .printable(
            oids::ORGANIZATIONAL_UNIT,
            &role::ou(role::ISSUING_AUTHORITY),
        )
        .printable(oids::COMMON_NAME, CA_COMMON_NAME);
    let spec = CertSpec {
        serial: cert::random_serial()?,
        subject: subject.clone(),
        not_before: VALID_FROM,
        not_after: VALID_UNTIL,
        public_point: key.public_point().to_vec(),
        extensions: vec![
            Extension::basic_constraints(true),
            Extension::key_usage_ca(),
            Extension::subject_key_id(&cert::key_identifier(key.public_point(), 8)),
        ],
    };
    cert::sign_certificate(&spec, &subject.to_der(), key)
}

/// An organisation certificate in the SMKI profile: subject `CN, OU=<role>,
/// x500UniqueIdentifier=<EUI>`, critical keyUsage with the one usage, an 8-byte key
/// identifier and the critical SMKI certificate policy.
fn organisation_spec(key: &KeyPair, leaf: &Leaf) -> Result<CertSpec, PkiError> {
    Ok(CertSpec {
        serial: cert::random_serial()?,
        subject: Name::new()
            .utf8(oids::COMMON_NAME, &leaf.common_name)
            .utf8(oids::ORGANIZATIONAL_UNIT, &role::ou(leaf.role))
            .unique_identifier(&leaf.eui),
        not_before: VALID_FROM,
        not_after: VALID_UNTIL,
        public_point: key.public_point().to_vec(),
        extensions: vec![
            Extension::key_usage(leaf.usage),
            Extension::subject_key_id(&cert::key_identifier(key.public_point(), 8)),
            Extension::certificate_policy(oids::SMKI_ORGANISATION_POLICY),
        ],
    })
}

fn load_issuer(layout: &Layout) -> Result<Issuer, PkiError> {
    let key_path = layout.ca_key();
    if !key_path.exists() {
        return Err(PkiError::InvalidFile {
            path: key_path,
            reason: "the CA key is missing, so no certificate can be issued (delete the pki \
                     folder to start a new test PKI)"
                .into(),
        });
    }
    let key =
        KeyPair::from_pem_or_der(&files::read(&key_path)?).map_err(|e| invalid(&key_path, e))?;
    let cert_path = layout.ca_cert();
    let der = cert::certificate_der(&files::read(&cert_path)?)
        .ok_or_else(|| invalid(&cert_path, "no CERTIFICATE block"))?;
    Issuer::from_certificate(&der, key).map_err(|e| invalid(&cert_path, e))
}

/// True when both files exist and hold a matching certificate and key issued by `ca`;
/// false when either is missing; an error when they exist but are not usable.
pub(super) fn pair_is_usable(
    cert_path: &Path,
    key_path: &Path,
    ca: &Certificate,
) -> Result<bool, PkiError> {
    let Some(cert) = pair_matches(cert_path, key_path)? else {
        return Ok(false);
    };
    if cert.issuer() != ca.subject() {
        return Err(invalid(
            cert_path,
            format!(
                "issued by {:?}, not by the CA {:?} (delete it and its key to have them \
                 issued again)",
                cert.issuer(),
                ca.subject()
            ),
        ));
    }
    Ok(true)
}

/// The certificate when both files exist and the key matches it; `None` when either is
/// missing; an error when they exist but do not match or cannot be read.
pub(super) fn pair_matches(
    cert_path: &Path,
    key_path: &Path,
) -> Result<Option<Certificate>, PkiError> {
    if !cert_path.exists() || !key_path.exists() {
        return Ok(None);
    }
    let cert = read_certificate(cert_path)?;
    let key =
        KeyPair::from_pem_or_der(&files::read(key_path)?).map_err(|e| invalid(key_path, e))?;
    if key.public_point() != cert.public_point() {
        return Err(invalid(
            key_path,
            format!(
                "does not belong to {} (delete both files to have them issued again)",
                cert_path.display()
            ),
        ));
    }
    Ok(Some(cert))
}

/// Reads a PEM or DER certificate file with the protocol crate's SMKI reader.
pub(super) fn read_certificate(path: &Path) -> Result<Certificate, PkiError> {
    let bytes = files::read(path)?;
    let der = cert::certificate_der(&bytes).ok_or_else(|| invalid(path, "no CERTIFICATE"))?;
    Certificate::from_der(&der).map_err(|e| invalid(path, e))
}

pub(super) fn invalid(path: &Path, reason: impl std::fmt::Display) -> PkiError {
    PkiError::InvalidFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}

/// The `users.toml` summary written next to the certificates.
#[derive(Debug, Serialize)]
pub(super) struct Summary {
    /// A note for readers of the file.
    pub note: &'static str,
    /// The CA certificate, relative to the pki folder.
    pub ca: String,
    /// The DCC's EUI.
    pub dcc_id: String,
    /// The DSP XML-signing certificate.
    pub dsp_xml_signing: SummaryCredential,
    /// The Users.
    pub users: Vec<SummaryUser>,
}

/// One certificate and key in the summary.
#[derive(Debug, Serialize)]
pub(super) struct SummaryCredential {
    pub cert: String,
    pub key: String,
    pub serial: String,
}

/// One User in the summary.
#[derive(Debug, Serialize)]
pub(super) struct SummaryUser {
    pub name: String,
    pub id: String,
    pub roles: Vec<String>,
    pub xml_signing: SummaryCredential,
    pub ds: SummaryCredential,
    pub ka: SummaryCredential,
}

impl Summary {
    /// The file text.
    pub fn to_toml(&self) -> Result<String, PkiError> {
        let body = toml::to_string(self)
            .map_err(|e| PkiError::Internal(format!("writing users.toml: {e}")))?;
        Ok(format!(
            "# HubGate local test PKI: the demo Users. Written on every start from the \
             certificates;\n# edits are not read back.\n{body}"
        ))
    }
}

/// A summary entry for a certificate and key, with paths relative to the pki folder.
pub(super) fn summary_credential(
    layout: &Layout,
    cert_path: &Path,
    key_path: &Path,
    cert: &Certificate,
) -> SummaryCredential {
    let pki = layout.pki_dir();
    let rel = |p: &Path| {
        p.strip_prefix(&pki)
            .unwrap_or(p)
            .to_string_lossy()
            .replace('\\', "/")
    };
    SummaryCredential {
        cert: rel(cert_path),
        key: rel(key_path),
        serial: cert.serial_decimal().to_string(),
    }
}

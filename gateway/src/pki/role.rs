//! SMKI organisation roles (the subject OU of an organisation certificate) and the DUIS User
//! roles HubGate derives from them.
//!
//! The OU holds the role as two hex digits (`02` supplier, `87` = 135 User XML signing); one
//! legacy DCC Boxed certificate writes `137` in decimal. [`Certificate::role`] reads both.
//!
//! [`Certificate::role`]: hubgate_protocol::smki::Certificate::role

use hubgate_protocol::catalogue::Role;

/// Recovery (`01`).
pub const RECOVERY: u8 = 0x01;
/// Supplier (`02`).
pub const SUPPLIER: u8 = 0x02;
/// Network operator (`03`).
pub const NETWORK_OPERATOR: u8 = 0x03;
/// Access Control Broker (`04`).
pub const ACCESS_CONTROL_BROKER: u8 = 0x04;
/// Transitional Change of Supplier party (`05`).
pub const TRANSITIONAL_COS: u8 = 0x05;
/// WAN provider (`06`).
pub const WAN_PROVIDER: u8 = 0x06;
/// Issuing authority (`07`): the OU of the SMKI issuing CA, as in `OU=07, CN=Z1`.
pub const ISSUING_AUTHORITY: u8 = 0x07;
/// Load controller (`08`).
pub const LOAD_CONTROLLER: u8 = 0x08;
/// Other User (`7F` = 127).
pub const OTHER_USER: u8 = 0x7f;
/// User XML signing (`87` = 135): signs DUIS Service Requests.
pub const USER_XML_SIGNING: u8 = 0x87;
/// DSP XML signing (`89` = 137): the DCC signs DUIS responses and alerts with it.
pub const DSP_XML_SIGNING: u8 = 0x89;

/// The OU text for a role: two upper-case hex digits.
pub fn ou(role: u8) -> String {
    format!("{role:02X}")
}

/// The DUIS User roles of an organisation whose digital-signature or key-agreement
/// certificate carries `smki_role`:
///
/// | SMKI role (OU) | DUIS roles |
/// |---|---|
/// | `02` supplier | `IS`, `ES`, `GS` (SMKI does not say which fuel) |
/// | `03` network operator | `ED`, `GT` |
/// | `7F` other User | `OU` |
/// | anything else (recovery, ACB, CoS party, WAN provider, load controller, XML signing) | none |
///
/// No SMKI role maps to `RSA` (registered supplier agent): such a User needs its roles set
/// explicitly.
pub fn duis_roles(smki_role: u8) -> &'static [Role] {
    match smki_role {
        SUPPLIER => &[
            Role::ImportSupplier,
            Role::ExportSupplier,
            Role::GasSupplier,
        ],
        NETWORK_OPERATOR => &[Role::ElectricityDistributor, Role::GasTransporter],
        OTHER_USER => &[Role::OtherUser],
        _ => &[],
    }
}

/// A short name for a role, for summaries (`supplier`, `xml-signing (User)`…).
pub fn describe(smki_role: u8) -> &'static str {
    match smki_role {
        RECOVERY => "recovery",
        SUPPLIER => "supplier",
        NETWORK_OPERATOR => "network operator",
        ACCESS_CONTROL_BROKER => "access control broker",
        TRANSITIONAL_COS => "transitional CoS",
        WAN_PROVIDER => "WAN provider",
        ISSUING_AUTHORITY => "issuing authority",
        LOAD_CONTROLLER => "load controller",
        OTHER_USER => "other User",
        USER_XML_SIGNING => "User XML signing",
        DSP_XML_SIGNING => "DSP XML signing",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ou_is_two_hex_digits() {
        assert_eq!(ou(SUPPLIER), "02");
        assert_eq!(ou(USER_XML_SIGNING), "87");
        assert_eq!(ou(DSP_XML_SIGNING), "89");
        assert_eq!(ou(OTHER_USER), "7F");
        assert_eq!(USER_XML_SIGNING, 135);
        assert_eq!(DSP_XML_SIGNING, 137);
    }

    #[test]
    fn roles_follow_the_table() {
        assert_eq!(duis_roles(SUPPLIER).len(), 3);
        assert_eq!(
            duis_roles(NETWORK_OPERATOR),
            [Role::ElectricityDistributor, Role::GasTransporter]
        );
        assert_eq!(duis_roles(OTHER_USER), [Role::OtherUser]);
        assert!(duis_roles(ACCESS_CONTROL_BROKER).is_empty());
        assert!(duis_roles(USER_XML_SIGNING).is_empty());
    }
}

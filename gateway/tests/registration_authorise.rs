//! The registration-data check: which User Role needs which registration, on which dates.
#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use hubgate_gateway::registration::{
    Date, Fuel, Mpxn, NotRegistered, PartyRole, Reason, Registration, RegistrationData,
};
use hubgate_protocol::catalogue::Role;

const MPAN: &str = "1312345678111";
const MPRN: &str = "1000999888";

const LOSING: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x01];
const GAINING: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x02];
const EXPORT: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x03];
const DNO: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0x00, 0x01];
const GDN: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x02, 0x00, 0x02];
const GAS: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x04];
const AGENT_E: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x03, 0x00, 0x01];
const AGENT_G: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x03, 0x00, 0x02];
const OTHER: [u8; 8] = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x04, 0x00, 0x01];

fn d(s: &str) -> Date {
    s.parse().unwrap()
}

fn reg(mpxn: &str, role: PartyRole, party: [u8; 8], from: &str, to: Option<&str>) -> Registration {
    let mpxn: Mpxn = mpxn.parse().unwrap();
    Registration::new(mpxn, mpxn.fuel(), role, party, d(from), to.map(d)).unwrap()
}

/// The MPAN changes import supplier on 2024-07-01: the losing supplier's registration ends
/// on 2024-06-30 (inclusive), the gaining supplier's starts on 2024-07-01.
fn data() -> RegistrationData {
    use PartyRole::*;
    RegistrationData::from_records([
        reg(
            MPAN,
            ImportSupplier,
            LOSING,
            "2023-01-01",
            Some("2024-06-30"),
        ),
        reg(MPAN, ImportSupplier, GAINING, "2024-07-01", None),
        reg(
            MPAN,
            ExportSupplier,
            EXPORT,
            "2024-03-01",
            Some("2024-09-30"),
        ),
        reg(MPAN, ElectricityDistributor, DNO, "2000-01-01", None),
        reg(MPAN, SupplierAgent, AGENT_E, "2024-01-01", None),
        reg(MPRN, GasSupplier, GAS, "2024-01-01", Some("2024-12-31")),
        reg(MPRN, GasTransporter, GDN, "1999-01-01", None),
        reg(
            MPRN,
            SupplierAgent,
            AGENT_G,
            "2024-02-01",
            Some("2024-02-29"),
        ),
    ])
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Ok,
    Vacant,
    OtherParty,
    WrongFuel,
}

fn outcome(r: Result<(), NotRegistered>) -> Want {
    match r {
        Ok(()) => Want::Ok,
        Err(NotRegistered {
            reason: Reason::Vacant { .. },
        }) => Want::Vacant,
        Err(NotRegistered {
            reason: Reason::OtherParty { .. },
        }) => Want::OtherParty,
        Err(NotRegistered {
            reason: Reason::WrongFuel { .. },
        }) => Want::WrongFuel,
        Err(other) => panic!("unexpected {other:?}"),
    }
}

#[test]
fn mapping_table_before_within_and_after_effective_ranges() {
    use Role::*;
    use Want::*;
    let data = data();
    #[rustfmt::skip]
    let table: &[(Role, [u8; 8], &str, &str, Want)] = &[
        // IS: registered import supplier of the MPAN; losing until 30 June, gaining from 1 July.
        (ImportSupplier, LOSING, MPAN, "2022-12-31", Vacant),
        (ImportSupplier, LOSING, MPAN, "2023-01-01", Ok),
        (ImportSupplier, LOSING, MPAN, "2024-06-30", Ok),
        (ImportSupplier, LOSING, MPAN, "2024-07-01", OtherParty),
        (ImportSupplier, GAINING, MPAN, "2024-06-30", OtherParty),
        (ImportSupplier, GAINING, MPAN, "2024-07-01", Ok),
        (ImportSupplier, GAINING, MPAN, "2099-12-31", Ok),
        (ImportSupplier, OTHER, MPAN, "2024-05-01", OtherParty),
        (ImportSupplier, LOSING, MPRN, "2024-05-01", WrongFuel),
        // ES: export supplier, a closed range.
        (ExportSupplier, EXPORT, MPAN, "2024-02-29", Vacant),
        (ExportSupplier, EXPORT, MPAN, "2024-03-01", Ok),
        (ExportSupplier, EXPORT, MPAN, "2024-09-30", Ok),
        (ExportSupplier, EXPORT, MPAN, "2024-10-01", Vacant),
        (ExportSupplier, LOSING, MPAN, "2024-05-01", OtherParty),
        (ExportSupplier, EXPORT, MPRN, "2024-05-01", WrongFuel),
        // GS: gas supplier of the MPRN.
        (GasSupplier, GAS, MPRN, "2023-12-31", Vacant),
        (GasSupplier, GAS, MPRN, "2024-01-01", Ok),
        (GasSupplier, GAS, MPRN, "2024-12-31", Ok),
        (GasSupplier, GAS, MPRN, "2025-01-01", Vacant),
        (GasSupplier, GAS, MPAN, "2024-05-01", WrongFuel),
        (GasSupplier, LOSING, MPRN, "2024-05-01", OtherParty),
        // ED: network operator of the MPAN, open-ended.
        (ElectricityDistributor, DNO, MPAN, "1999-12-31", Vacant),
        (ElectricityDistributor, DNO, MPAN, "2000-01-01", Ok),
        (ElectricityDistributor, DNO, MPAN, "9999-12-31", Ok),
        (ElectricityDistributor, GDN, MPAN, "2024-05-01", OtherParty),
        (ElectricityDistributor, DNO, MPRN, "2024-05-01", WrongFuel),
        // GT: network operator of the MPRN.
        (GasTransporter, GDN, MPRN, "1998-12-31", Vacant),
        (GasTransporter, GDN, MPRN, "1999-01-01", Ok),
        (GasTransporter, GDN, MPRN, "2030-01-01", Ok),
        (GasTransporter, DNO, MPRN, "2024-05-01", OtherParty),
        (GasTransporter, GDN, MPAN, "2024-05-01", WrongFuel),
        // RSA: supplier agent, either fuel; the gas agent held the role for February only.
        (RegisteredSupplierAgent, AGENT_E, MPAN, "2023-12-31", Vacant),
        (RegisteredSupplierAgent, AGENT_E, MPAN, "2024-01-01", Ok),
        (RegisteredSupplierAgent, AGENT_E, MPAN, "2050-01-01", Ok),
        (RegisteredSupplierAgent, AGENT_G, MPAN, "2024-02-10", OtherParty),
        (RegisteredSupplierAgent, AGENT_G, MPRN, "2024-01-31", Vacant),
        (RegisteredSupplierAgent, AGENT_G, MPRN, "2024-02-01", Ok),
        (RegisteredSupplierAgent, AGENT_G, MPRN, "2024-02-29", Ok),
        (RegisteredSupplierAgent, AGENT_G, MPRN, "2024-03-01", Vacant),
        // The import supplier is not the agent, nor the agent a supplier.
        (RegisteredSupplierAgent, LOSING, MPAN, "2024-05-01", OtherParty),
        (ImportSupplier, AGENT_E, MPAN, "2024-05-01", OtherParty),
        // OU: no registration relationship needed.
        (OtherUser, OTHER, MPAN, "1990-01-01", Ok),
        (OtherUser, OTHER, MPRN, "2024-05-01", Ok),
    ];
    for &(role, user, mpxn, at, want) in table {
        let got = outcome(data.authorised(user, &[role], mpxn, d(at)));
        assert_eq!(got, want, "{} {user:02X?} {mpxn} {at}", role.code());
    }
}

#[test]
fn every_role_is_covered_by_the_table() {
    // Each role that needs a registration maps to a party role of the same code, and the
    // party role exists for the fuels the module docs say.
    for role in Role::ALL {
        match PartyRole::required_for(role) {
            None => assert_eq!(role, Role::OtherUser),
            Some(p) => {
                let fuel = match role {
                    Role::ImportSupplier | Role::ExportSupplier | Role::ElectricityDistributor => {
                        Some(Fuel::Electricity)
                    }
                    Role::GasSupplier | Role::GasTransporter => Some(Fuel::Gas),
                    _ => None,
                };
                assert_eq!(p.fuel(), fuel, "{}", role.code());
            }
        }
    }
}

#[test]
fn one_passing_role_is_enough_and_reasons_are_specific() {
    let data = data();
    let at = d("2024-05-01");
    // A User offering GS and IS for an MPAN passes on IS.
    let roles = [Role::GasSupplier, Role::ImportSupplier];
    assert_eq!(data.authorised(LOSING, &roles, MPAN, at), Ok(()));
    // The first role that applies to the fuel gives the reason.
    let err = data.authorised(OTHER, &roles, MPAN, at).unwrap_err();
    assert_eq!(
        err.reason,
        Reason::OtherParty {
            role: Role::ImportSupplier,
            at
        }
    );
    assert_eq!(err.response_code(), "E4");
    // The reason never names the registered party.
    let text = err.to_string().to_ascii_lowercase();
    assert!(!text.contains("90b3") && !text.contains("90-b3"), "{text}");
    let err = data
        .authorised(EXPORT, &[Role::GasSupplier, Role::GasTransporter], MPAN, at)
        .unwrap_err();
    assert_eq!(
        err.reason,
        Reason::WrongFuel {
            role: Role::GasSupplier,
            fuel: Fuel::Electricity
        }
    );

    assert_eq!(
        data.authorised(LOSING, &[], MPAN, at).unwrap_err().reason,
        Reason::NoRole
    );
    assert_eq!(
        data.authorised(LOSING, &[Role::ImportSupplier], "1312345678999", at)
            .unwrap_err()
            .reason,
        Reason::UnknownMpxn
    );
    assert!(matches!(
        data.authorised(LOSING, &[Role::ImportSupplier], "131234567811", at)
            .unwrap_err()
            .reason,
        Reason::InvalidMpxn(_)
    ));
    assert!(matches!(
        data.authorised(LOSING, &[Role::ImportSupplier], " 1312345678111", at)
            .unwrap_err()
            .reason,
        Reason::InvalidMpxn(_)
    ));
    // OU passes whatever the MPxN.
    assert_eq!(data.authorised(OTHER, &[Role::OtherUser], "x", at), Ok(()));
    // Empty data knows nothing.
    assert_eq!(
        RegistrationData::new()
            .authorised(LOSING, &[Role::ImportSupplier], MPAN, at)
            .unwrap_err()
            .reason,
        Reason::UnknownMpxn
    );
}

#[test]
fn change_of_supplier_is_or_will_be_the_supplier_on_the_execution_date() {
    let data = data();
    // Requested in June for execution on the change-over day: the gaining supplier will be
    // registered then; the losing one will not.
    assert_eq!(
        data.will_be_supplier(GAINING, MPAN, d("2024-07-01")),
        Ok(())
    );
    assert_eq!(
        data.will_be_supplier(GAINING, MPAN, d("2024-08-15")),
        Ok(())
    );
    assert!(
        data.will_be_supplier(GAINING, MPAN, d("2024-06-30"))
            .is_err()
    );
    assert!(
        data.will_be_supplier(LOSING, MPAN, d("2024-07-01"))
            .is_err()
    );
    // The current supplier "is" the supplier.
    assert_eq!(data.will_be_supplier(LOSING, MPAN, d("2024-06-30")), Ok(()));
    // Gas: the gas supplier of the MPRN.
    assert_eq!(data.will_be_supplier(GAS, MPRN, d("2024-12-31")), Ok(()));
    assert!(data.will_be_supplier(GAS, MPRN, d("2025-01-01")).is_err());
    // Neither the export supplier nor the network operator is "the supplier".
    assert!(
        data.will_be_supplier(EXPORT, MPAN, d("2024-05-01"))
            .is_err()
    );
    assert!(data.will_be_supplier(GDN, MPRN, d("2024-05-01")).is_err());
    assert!(matches!(
        data.will_be_supplier(GAS, "12", d("2024-05-01"))
            .unwrap_err()
            .reason,
        Reason::InvalidMpxn(_)
    ));
}

#[test]
fn a_later_registration_ends_an_open_ended_one() {
    // The provider left the losing supplier's record open; the gaining supplier's start
    // still ends it.
    let data = RegistrationData::from_records([
        reg(MPAN, PartyRole::ImportSupplier, LOSING, "2023-01-01", None),
        reg(MPAN, PartyRole::ImportSupplier, GAINING, "2024-07-01", None),
    ]);
    let is = [Role::ImportSupplier];
    assert_eq!(data.authorised(LOSING, &is, MPAN, d("2024-06-30")), Ok(()));
    assert!(data.authorised(LOSING, &is, MPAN, d("2024-07-01")).is_err());
    assert_eq!(data.authorised(GAINING, &is, MPAN, d("2024-07-01")), Ok(()));
    // A single-day registration covers exactly its day.
    let one_day = RegistrationData::from_records([reg(
        MPAN,
        PartyRole::ImportSupplier,
        LOSING,
        "2024-02-29",
        Some("2024-02-29"),
    )]);
    assert!(
        one_day
            .authorised(LOSING, &is, MPAN, d("2024-02-28"))
            .is_err()
    );
    assert_eq!(
        one_day.authorised(LOSING, &is, MPAN, d("2024-02-29")),
        Ok(())
    );
    assert!(
        one_day
            .authorised(LOSING, &is, MPAN, d("2024-03-01"))
            .is_err()
    );
    // A gap between registrations leaves the role vacant.
    let gap = RegistrationData::from_records([
        reg(
            MPAN,
            PartyRole::ImportSupplier,
            LOSING,
            "2023-01-01",
            Some("2024-06-29"),
        ),
        reg(MPAN, PartyRole::ImportSupplier, GAINING, "2024-07-01", None),
    ]);
    assert_eq!(
        gap.authorised(GAINING, &is, MPAN, d("2024-06-30"))
            .unwrap_err()
            .reason,
        Reason::Vacant {
            role: Role::ImportSupplier,
            at: d("2024-06-30")
        }
    );
}

#[test]
fn execution_time_in_utc_is_checked_on_the_gb_date() {
    let data = data();
    // 2024-06-30T23:30:00Z is 00:30 BST on 1 July: the gaining supplier's first day.
    let ms = d("2024-06-30").days_since_epoch() * 86_400_000 + 23 * 3_600_000 + 30 * 60_000;
    let at = Date::gb_from_unix_ms(ms).unwrap();
    assert_eq!(at, d("2024-07-01"));
    assert_eq!(data.will_be_supplier(GAINING, MPAN, at), Ok(()));
    assert!(
        data.will_be_supplier(GAINING, MPAN, Date::utc_from_unix_ms(ms).unwrap())
            .is_err()
    );
}

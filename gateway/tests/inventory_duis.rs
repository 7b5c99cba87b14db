//! The Smart Metering Inventory's rules (`gateway/src/inventory/rules.rs`) and every status
//! transition a DUIS service can cause, end to end through the DUIS interface: a real
//! `hubgate serve` seeded with an inventory (bulk import), requests built from the DUIS
//! conformance templates (8.2, 8.3, 8.4, 8.14.1–8.14.4, 12.1, 12.2, and device Service
//! Requests 4.1.1, 6.31, 7.1, 8.1.1, 11.2) by editing their fields, signed with
//! `hubgate duis sign` and posted over HTTPS. Each answer's ResponseCode is checked, and so is
//! the inventory afterwards, read back with a signed 8.2 Read Inventory: the device's status
//! and every field the `DSPInventory` carries, and which devices come with it (its
//! associations). A refused request must leave the device exactly as seeded.
//!
//! The expected outcomes come from this file's own copy of the lifecycle table and service
//! rules (see [`lifecycle_allows`] and [`expect`]), not from the gateway's code.
//!
//! # Where each rule is met here
//!
//! | rule (`RuleError`) | through |
//! |---|---|
//! | lifecycle (`IllegalTransition`), every from-status | 8.3, 8.4 (both status choices), 8.14.1–8.14.4, 12.2 |
//! | commissioning rule 1 (`NotOnInventory`) | 8.3, 8.4, 8.14.x on an unknown device (E19) |
//! | rule 2 (`NotCommissionable`) | 8.4 `UpdateDeviceStatusCH` Commissioned and 8.14.1, every status |
//! | rule 3 (`ChfNotCommissioned`) | 8.4 commissioning a GPF whose GSME's hub is not commissioned (E080406) |
//! | rule 4 (`MpxnHasCommissionedMeter`) | 8.4 `UpdateMPxN` on a commissioned meter (E080405); the import |
//! | rule 5 (`MeterNotCommissioned`) | 8.4 commissioning a GPF whose GSME is not commissioned (E080407) |
//! | `NoAssociation` | 8.4 commissioning a GPF with no GSME, or whose GSME has no hub (E080408) |
//! | `WrongDeviceType` | every service against every device type (E11) |
//! | `DeleteNotPending`, `HasAssociatedDevices` | 8.4 `DeleteDevice` (E5, E080410) |
//! | `InvalidField` | 8.4 `UpdateDeviceDetails` (E080411), 12.2 (E120204), the import |
//! | `AlreadyOnInventory` | 12.2 for every status but Withdrawn and Decommissioned (E120201) |
//! | `AssociationNotAllowed` | 12.2 `AssociatedGPFDeviceID` (E120203), the import |
//! | `NoMatch` | 8.2 by Device ID, MPxN, premises and UPRN (E080201) |
//! | `UnknownUprn`, `NoCoverage` | 12.1 (E120101, E120102) |
//! | check 5 of device SRs (E19, E11, E5) | 4.1.1, 6.31, 7.1, 8.1.1, 11.2 against every status and several types |
//!
//! # Covered by `inventory_services.rs` (and the unit tests in `rules.rs`) only
//!
//! - Commissioning a Smart Meter, a PPMID, an HCALCS or a Type 2 device (rules 3–5 and
//!   `NoAssociation` for them, rule 4 on commissioning), and `is_enrolled`: only device SR
//!   8.1.1 Commission Device, with the hub's responses, commissions those devices, and that
//!   work is not built — 8.1.1 passes check 5 and is acknowledged without touching the
//!   inventory. Over DUIS only a CHF (8.14.1, 8.4) and a GPF (8.4) can be commissioned, so
//!   those are tested here, and the meters' rules are checked here at import only.
//!   Enrolment is not visible in any DUIS answer.
//! - `AssociatedDeviceMissing`: the inventory never holds an association to a device that is
//!   not on it (the import checks each association; 8.4 `DeleteDevice` refuses a device
//!   others are associated with), so no request can meet it.
//! - `InvalidDeviceId`: the schema's pattern for `DeviceID` refuses a malformed ID at check 1
//!   (E31) before any service sees it; tested here as that.
//! - `AssociationNotAllowed` in 8.4 (E080409): 8.4 makes no associations; the device
//!   services' `Inventory::associate` does.
//!
//! Needs `curl` (see `common/mod.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{
    Answer, Gateway, SUPPLIER, Seeds, element_text, replace_element, set_target, set_text,
};

/// `sr:DeviceStatus`, in schema order.
/// Expected of a device request that passes every H4 check: acknowledged and sent (`I99`),
/// answered with its Pre-Command (`I0`, CV 4), or refused after the checks because the
/// gateway cannot build or send its command (`E100`: no transform for the use case, or no
/// certificate for a device that is only in the inventory). Never a check-5 refusal.
const PASSED: &str = "passed the device checks";

const STATUSES: [&str; 9] = [
    "Pending",
    "Whitelisted",
    "InstalledNotCommissioned",
    "Commissioned",
    "Decommissioned",
    "Withdrawn",
    "Suspended",
    "Recovery",
    "Recovered",
];

/// `sr:DeviceType`.
const TYPES: [&str; 8] = [
    "CHF", "ESME", "GSME", "GPF", "HCALCS", "PPMID", "IHD", "CAD",
];

const INC: &str = "InstalledNotCommissioned";
/// The `DateCommissioned` of every seeded device that has been commissioned.
const OLD_DATE: &str = "2020-01-01";
/// Stands, in an expected record, for the date of the request that changed it (the date of
/// its answer's `ResponseDateTime`, the gateway's "today").
const TODAY: &str = "<today>";
const POST_CODE: &str = "M22 0RR";
const ADDRESS: &str = "12";
/// The MPAN a hub install (8.14.1, 8.14.2) names in the transition table: a seeded ESME holds
/// it, so the install is answered I99 (not W081401).
const HUB_MPAN: &str = "1100000000001";

const WAN: &str = "postcode_prefix,csp_region,coverage,wan_technology,connectivity_likelihood,anticipated_coverage_date,auxiliary_equipment,additional_information\nM22,Central,true,4G,High,,,\n";

/// The lifecycle, as the module documentation of `rules.rs` states it: whether a device may
/// go from `from` to `to` (for `to` = Commissioned, the statuses commissioning accepts).
fn lifecycle_allows(from: &str, to: &str) -> bool {
    let allowed: &[&str] = match from {
        "Pending" => &["Whitelisted", INC, "Commissioned", "Decommissioned"],
        "Whitelisted" => &["Pending", INC, "Decommissioned"],
        "InstalledNotCommissioned" => &[
            "Pending",
            "Whitelisted",
            "Commissioned",
            "Withdrawn",
            "Decommissioned",
        ],
        "Commissioned" => &[INC, "Withdrawn", "Decommissioned", "Suspended", "Recovery"],
        "Withdrawn" => &["Pending", INC, "Decommissioned"],
        "Decommissioned" => &["Pending"],
        "Suspended" => &["Commissioned", "Withdrawn", "Decommissioned"],
        "Recovery" => &["Recovered", "Decommissioned"],
        "Recovered" => &["Commissioned", "Decommissioned"],
        other => panic!("not a status: {other}"),
    };
    allowed.contains(&to)
}

fn eui(group: u8, n: u8) -> String {
    format!("00-DB-12-34-56-78-{group:02X}-{n:02X}")
}

/// A seeded device.
#[derive(Debug, Clone)]
struct Dev {
    id: String,
    kind: &'static str,
    status: &'static str,
    model: String,
    mpxn: Option<String>,
    with: Option<String>,
    date: Option<&'static str>,
}

impl Dev {
    /// A device of type `kind` in `status`, at the test premises; one that has been
    /// commissioned carries [`OLD_DATE`].
    fn new(group: u8, n: u8, kind: &'static str, status: &'static str) -> Dev {
        let was_commissioned = matches!(
            status,
            "Commissioned" | "Suspended" | "Recovery" | "Recovered"
        );
        Dev {
            id: eui(group, n),
            kind,
            status,
            model: format!("{kind}-MODEL"),
            mpxn: None,
            with: None,
            date: was_commissioned.then_some(OLD_DATE),
        }
    }

    /// Associated with `parent`.
    fn on(mut self, parent: &Dev) -> Dev {
        self.with = Some(parent.id.clone());
        self
    }

    fn mpxn(mut self, m: &str) -> Dev {
        self.mpxn = Some(m.to_string());
        self
    }

    fn row(&self) -> String {
        format!(
            "{},{},{},AB01,{},{},{},{POST_CODE},{ADDRESS},{}",
            self.id,
            self.kind,
            self.status,
            self.model,
            self.date.unwrap_or_default(),
            self.mpxn.as_deref().unwrap_or_default(),
            self.with.as_deref().unwrap_or_default()
        )
    }

    /// The record as `DSPInventory` carries it.
    fn fields(&self) -> BTreeMap<String, String> {
        let mut m = BTreeMap::new();
        let mut put = |k: &str, v: &str| {
            m.insert(k.to_string(), v.to_string());
        };
        put("DeviceID", &self.id);
        put("DeviceType", self.kind);
        put("DeviceStatus", self.status);
        put("DeviceManufacturer", "AB01");
        put("DeviceModel", &self.model);
        if let Some(d) = self.date {
            put("DateCommissioned", d);
        }
        if let Some(x) = &self.mpxn {
            put("ImportMPxN", x);
        }
        put("PostCode", POST_CODE);
        put("AddressIdentifier", ADDRESS);
        m
    }

    /// The record with `changes` applied (`None` removes a field).
    fn changed(&self, changes: &[(&str, Option<&str>)]) -> BTreeMap<String, String> {
        let mut m = self.fields();
        for (k, v) in changes {
            match v {
                Some(v) => m.insert(k.to_string(), v.to_string()),
                None => m.remove(*k),
            };
        }
        m
    }

    /// What a read of this device by ID returns, with no other device associated with it:
    /// itself and the device it is associated with.
    fn related(&self) -> Vec<String> {
        let mut v = vec![self.id.clone()];
        v.extend(self.with.clone());
        v
    }
}

/// The inventory CSV for `devs`: hubs first, then meters, then the rest (each in the order
/// given), so that every row comes after the device it is associated with.
fn inventory_csv(devs: &[Dev]) -> String {
    let rank = |k: &str| match k {
        "CHF" => 0,
        "ESME" | "GSME" => 1,
        _ => 2,
    };
    let mut sorted: Vec<&Dev> = devs.iter().collect();
    sorted.sort_by_key(|d| rank(d.kind));
    let mut s = String::from(
        "device_id,device_type,device_status,manufacturer,model,date_commissioned,import_mpxn,post_code,address_identifier,associated_with\n",
    );
    for d in sorted {
        s += &d.row();
        s.push('\n');
    }
    s
}

/// Checks the import report the gateway printed at start.
fn assert_imported(gw: &Gateway, imported: usize, refused: usize) {
    let want = format!("{imported} imported, {refused} refused");
    assert!(
        gw.startup.contains(&want),
        "inventory seed: expected {want}:\n{}",
        gw.startup
    );
}

/// The request templates, loaded once.
struct Templates {
    read: String,
    decommission: String,
    update: String,
    install: String,
    install_no_wan: String,
    fault_return: String,
    no_fault_return: String,
    prenotify: String,
    wan: String,
}

impl Templates {
    fn load(gw: &Gateway) -> Templates {
        Templates {
            read: gw.template("8.2_READ_INVENTORY_REQUEST_DUIS.XML"),
            decommission: gw.template("8.3_DECOMMISSION_DEVICE_REQUEST_DUIS.XML"),
            update: gw.template("8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML"),
            install: gw.template(
                "8.14.1_COMMUNICATIONS_HUB_STATUS_UPDATE_INSTALL_SUCCESS_REQUEST_DUIS.XML",
            ),
            install_no_wan: gw.template(
                "8.14.2_COMMUNICATIONS_HUB_STATUS_UPDATE_INSTALL_NO_SM_WAN_REQUEST_DUIS.XML",
            ),
            fault_return: gw
                .template("8.14.3_COMMUNICATIONS_HUB_STATUS_UPDATE_FAULT_RETURN_REQUEST_DUIS.XML"),
            no_fault_return: gw.template(
                "8.14.4_COMMUNICATIONS_HUB_STATUS_UPDATE_NO_FAULT_RETURN_REQUEST_DUIS.XML",
            ),
            prenotify: gw.template("12.2_DEVICE_PRE_NOTIFICATION_REQUEST_DUIS.XML"),
            wan: gw.template("12.1_REQUEST_WAN_MATRIX_ADDRESS_REQUEST_DUIS.XML"),
        }
    }

    /// 8.2 by Device ID.
    fn read(&self, id: &str) -> String {
        set_text(&self.read, "DeviceID", id)
    }

    /// 8.2 by another criterion (`<sr:MPxN>…`, `<sr:UPRN>…`, `<sr:PropertyFilter>…`).
    fn read_by(&self, criterion: &str) -> String {
        replace_element(&self.read, "DeviceID", criterion)
    }

    fn decommission(&self, id: &str) -> String {
        set_text(&self.decommission, "DeviceID", id)
    }

    /// 8.4 with `choice` in place of the template's `DeleteDevice`.
    fn update(&self, id: &str, choice: &str) -> String {
        replace_element(
            &set_text(&self.update, "DeviceID", id),
            "DeleteDevice",
            choice,
        )
    }

    fn install(&self, id: &str, mpxn: &str) -> String {
        set_text(&set_text(&self.install, "DeviceID", id), "MPxN", mpxn)
    }

    fn install_no_wan(&self, id: &str, mpxn: &str) -> String {
        set_text(
            &set_text(&self.install_no_wan, "DeviceID", id),
            "MPxN",
            mpxn,
        )
    }

    fn fault_return(&self, id: &str) -> String {
        set_text(&self.fault_return, "DeviceID", id)
    }

    fn no_fault_return(&self, id: &str) -> String {
        set_text(&self.no_fault_return, "DeviceID", id)
    }

    /// 12.2 of `id` as a `kind`, with the template's other details, `ESMEVariant` `variant`
    /// and `AssociatedGPFDeviceID` `gpf`.
    fn prenotify(&self, id: &str, kind: &str, variant: Option<&str>, gpf: Option<&str>) -> String {
        let x = set_text(
            &set_text(&self.prenotify, "DeviceID", id),
            "DeviceType",
            kind,
        );
        let mut tail = String::new();
        if let Some(v) = variant {
            tail += &format!("<sr:ESMEVariant>{v}</sr:ESMEVariant>");
        }
        if let Some(g) = gpf {
            tail += &format!("<sr:AssociatedGPFDeviceID>{g}</sr:AssociatedGPFDeviceID>");
        }
        replace_element(&x, "ESMEVariant", &tail)
    }

    /// The record a successful 12.2 made with [`Templates::prenotify`] leaves: the notified
    /// details only, Pending.
    fn notified(&self, id: &str, kind: &str, variant: Option<&str>) -> BTreeMap<String, String> {
        let from = |name: &str| element_text(&self.prenotify, name).unwrap();
        let mut m = BTreeMap::new();
        m.insert("DeviceID".into(), id.to_string());
        m.insert("DeviceType".into(), kind.to_string());
        m.insert("DeviceStatus".into(), "Pending".into());
        m.insert("DeviceManufacturer".into(), from("DeviceManufacturer"));
        m.insert("DeviceModel".into(), from("DeviceModel"));
        m.insert("SMETSCHTSVersion".into(), from("SMETSCHTSVersion"));
        m.insert("DeviceFirmwareVersion".into(), from("FirmwareVersion"));
        if let Some(v) = variant {
            m.insert("ESMEVariant".into(), v.to_string());
        }
        m
    }

    fn wan_by_address(&self, post_code: &str) -> String {
        set_text(&self.wan, "PostCode", post_code)
    }

    fn wan_by_uprn(&self, uprn: u64) -> String {
        replace_element(
            &self.wan,
            "PartialAddress",
            &format!("<sr:UPRN>{uprn}</sr:UPRN>"),
        )
    }
}

fn except_ch(status: &str) -> String {
    format!("<sr:UpdateDeviceStatusExceptCH>{status}</sr:UpdateDeviceStatusExceptCH>")
}

fn ch(status: &str) -> String {
    format!("<sr:UpdateDeviceStatusCH>{status}</sr:UpdateDeviceStatusCH>")
}

fn update_mpxn(element: &str, value: &str) -> String {
    format!("<sr:UpdateMPxN><sr:{element}>{value}</sr:{element}></sr:UpdateMPxN>")
}

const DELETE: &str = "<sr:DeleteDevice/>";

/// A service applied to one device, in the tables.
#[derive(Debug, Clone)]
enum Op {
    /// 8.3.
    Decommission,
    /// 8.4 `UpdateDeviceStatusExceptCH`.
    ExceptCh(&'static str),
    /// 8.4 `UpdateDeviceStatusCH`.
    Ch(&'static str),
    /// 8.14.1 naming [`HUB_MPAN`].
    Install,
    /// 8.14.2 naming [`HUB_MPAN`].
    InstallNoWan,
    /// 8.14.3.
    FaultReturn,
    /// 8.14.4.
    NoFaultReturn,
    /// 12.2 as an ESME with the template's details.
    Prenotify,
    /// 8.4 `UpdateMPxN` (element, value).
    Mpxn(&'static str, &'static str),
}

impl Op {
    fn label(&self) -> String {
        match self {
            Op::Decommission => "8.3 Decommission Device".into(),
            Op::ExceptCh(s) => format!("8.4 UpdateDeviceStatusExceptCH={s}"),
            Op::Ch(s) => format!("8.4 UpdateDeviceStatusCH={s}"),
            Op::Install => "8.14.1 Install Success".into(),
            Op::InstallNoWan => "8.14.2 Install Success (no SM WAN)".into(),
            Op::FaultReturn => "8.14.3 Fault Return".into(),
            Op::NoFaultReturn => "8.14.4 No Fault Return".into(),
            Op::Prenotify => "12.2 Device Pre-notification".into(),
            Op::Mpxn(e, v) => format!("8.4 UpdateMPxN {e}={v}"),
        }
    }

    fn request(&self, t: &Templates, id: &str) -> String {
        match self {
            Op::Decommission => t.decommission(id),
            Op::ExceptCh(s) => t.update(id, &except_ch(s)),
            Op::Ch(s) => t.update(id, &ch(s)),
            Op::Install => t.install(id, HUB_MPAN),
            Op::InstallNoWan => t.install_no_wan(id, HUB_MPAN),
            Op::FaultReturn => t.fault_return(id),
            Op::NoFaultReturn => t.no_fault_return(id),
            Op::Prenotify => t.prenotify(id, "ESME", Some("AD"), None),
            Op::Mpxn(e, v) => t.update(id, &update_mpxn(e, v)),
        }
    }

    /// The device types the service applies to (E11 for the others).
    fn applies_to(&self, kind: &str) -> bool {
        let hub = matches!(kind, "CHF" | "GPF");
        match self {
            Op::Decommission | Op::ExceptCh(_) => !hub,
            Op::Ch(_) => hub,
            Op::Install | Op::InstallNoWan | Op::FaultReturn | Op::NoFaultReturn => kind == "CHF",
            Op::Prenotify => true,
            Op::Mpxn("ImportMPxN", _) => matches!(kind, "ESME" | "GSME"),
            Op::Mpxn(..) => kind == "ESME",
        }
    }

    /// The status the service moves a device to, if it changes the status.
    fn target(&self) -> Option<&'static str> {
        match self {
            Op::Decommission | Op::FaultReturn | Op::NoFaultReturn => Some("Decommissioned"),
            Op::ExceptCh(s) | Op::Ch(s) => Some(s),
            Op::Install => Some("Commissioned"),
            Op::InstallNoWan => Some(INC),
            Op::Prenotify => Some("Pending"),
            Op::Mpxn(..) => None,
        }
    }
}

/// What a table case must produce.
struct Expected {
    code: &'static str,
    /// The record afterwards.
    after: BTreeMap<String, String>,
    /// The devices a read of it returns.
    related: Vec<String>,
    /// The transition or rule, for messages.
    rule: String,
}

/// The outcome of `op` on `dev` (whose prerequisites for commissioning, if any, hold).
fn expect(op: &Op, dev: &Dev, t: &Templates) -> Expected {
    let unchanged = |code: &'static str, rule: String| Expected {
        code,
        after: dev.fields(),
        related: dev.related(),
        rule,
    };
    if !op.applies_to(dev.kind) {
        return unchanged("E11", format!("not for a {} (WrongDeviceType)", dev.kind));
    }
    let from = dev.status;
    match op {
        Op::Prenotify if matches!(from, "Withdrawn" | "Decommissioned") => Expected {
            code: "I99",
            after: t.notified(&dev.id, "ESME", Some("AD")),
            related: vec![dev.id.clone()],
            rule: format!("re-notification {from} → Pending, record replaced"),
        },
        Op::Prenotify => unchanged("E120201", format!("{from}: AlreadyOnInventory")),
        Op::Mpxn(e, v) => Expected {
            code: "I99",
            after: dev.changed(&[(*e, Some(*v))]),
            related: dev.related(),
            rule: format!("{e} recorded"),
        },
        _ => {
            let to = op.target().unwrap();
            if !lifecycle_allows(from, to) {
                let why = if to == "Commissioned" {
                    "NotCommissionable"
                } else {
                    "IllegalTransition"
                };
                return unchanged("E5", format!("{from} → {to} refused ({why})"));
            }
            let mut changes = vec![("DeviceStatus", Some(to))];
            if to == "Commissioned" && matches!(from, "Pending" | INC) {
                changes.push(("DateCommissioned", Some(TODAY)));
            }
            if matches!(op, Op::Install | Op::InstallNoWan) {
                changes.push(("ImportMPxN", Some(HUB_MPAN)));
            }
            Expected {
                code: "I99",
                after: dev.changed(&changes),
                related: dev.related(),
                rule: format!("{from} → {to}"),
            }
        }
    }
}

/// A run of requests against one gateway, collecting every mismatch.
struct Run<'a> {
    gw: &'a Gateway,
    t: Templates,
    failures: Vec<String>,
    checks: usize,
    /// The date of the last request that was not a read-back.
    today: String,
}

impl<'a> Run<'a> {
    fn new(gw: &'a Gateway) -> Run<'a> {
        Run {
            gw,
            t: Templates::load(gw),
            failures: Vec::new(),
            checks: 0,
            today: String::new(),
        }
    }

    fn fail(&mut self, msg: String) {
        self.failures.push(msg);
    }

    /// Sends `xml` as the supplier and checks the ResponseCode.
    fn send(&mut self, what: &str, xml: &str, code: &str) -> Answer {
        let a = self.gw.submit(xml, SUPPLIER);
        self.today = a.date().to_string();
        self.checks += 1;
        // Non-device services (CV 8) that pass are always answered I99.
        let non_device = element_text(xml, "CommandVariant").as_deref() == Some("8");
        let passed_gate = code == PASSED
            && if non_device {
                a.code == "I99"
            } else {
                matches!(a.code.as_str(), "I99" | "I0" | "E100")
            };
        if a.code != code && !passed_gate {
            self.fail(format!(
                "{what}: answered {} (HTTP {}), expected {code}",
                a.code, a.http
            ));
        }
        a
    }

    /// Reads the device `want["DeviceID"]` back: its record must be `want` ([`TODAY`] standing
    /// for the date of the last request) and the read must return exactly `related`.
    fn state(&mut self, what: &str, want: &BTreeMap<String, String>, related: &[String]) {
        let id = &want["DeviceID"];
        let a = self.gw.submit(&self.t.read(id), SUPPLIER);
        self.checks += 1;
        if a.code != "I0" {
            self.fail(format!("{what}: reading {id} back answered {}", a.code));
            return;
        }
        let devices = a.devices();
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, v)| {
                let v = if v == TODAY {
                    self.today.clone()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect();
        if devices.first() != Some(&want) {
            self.fail(format!(
                "{what}: {id} afterwards differs: {}",
                diff(&want, devices.first().unwrap_or(&BTreeMap::new()))
            ));
        }
        let mut got: Vec<&str> = devices.iter().map(|d| d["DeviceID"].as_str()).collect();
        let mut want_ids: Vec<&str> = related.iter().map(String::as_str).collect();
        got.sort_unstable();
        want_ids.sort_unstable();
        if got != want_ids {
            self.fail(format!(
                "{what}: reading {id} returned devices {got:?}, expected {want_ids:?}"
            ));
        }
    }

    /// The record of `want["DeviceID"]` is `want` (whatever is associated with it).
    fn record(&mut self, what: &str, want: &BTreeMap<String, String>) {
        let id = &want["DeviceID"];
        let a = self.gw.submit(&self.t.read(id), SUPPLIER);
        self.checks += 1;
        let devices = a.devices();
        if a.code != "I0" || devices.first() != Some(want) {
            self.fail(format!(
                "{what}: {id} afterwards differs ({}): {}",
                a.code,
                diff(want, devices.first().unwrap_or(&BTreeMap::new()))
            ));
        }
    }

    /// `dev` is still exactly as seeded.
    fn unchanged(&mut self, what: &str, dev: &Dev) {
        self.state(what, &dev.fields(), &dev.related());
    }

    /// `id` is not on the inventory: 8.2 finds nothing (E080201).
    fn absent(&mut self, what: &str, id: &str) {
        let a = self.gw.submit(&self.t.read(id), SUPPLIER);
        self.checks += 1;
        if a.code != "E080201" {
            self.fail(format!(
                "{what}: {id} should not be on the inventory, 8.2 answered {}",
                a.code
            ));
        }
    }

    /// One table case: `op` on `dev`, then the record read back.
    fn case(&mut self, op: &Op, dev: &Dev) {
        let e = expect(op, dev, &self.t);
        let what = format!(
            "{} on {} {} ({}): {}",
            op.label(),
            dev.kind,
            dev.id,
            dev.status,
            e.rule
        );
        self.send(&what, &op.request(&self.t, &dev.id), e.code);
        self.state(&what, &e.after, &e.related);
    }

    fn finish(self) {
        println!("{} checks", self.checks);
        assert!(
            self.failures.is_empty(),
            "{} of {} checks failed:\n{}",
            self.failures.len(),
            self.checks,
            self.failures.join("\n")
        );
    }
}

/// The fields that differ between `want` and `got`.
fn diff(want: &BTreeMap<String, String>, got: &BTreeMap<String, String>) -> String {
    let mut keys: Vec<&String> = want.keys().chain(got.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| want.get(*k) != got.get(*k))
        .map(|k| format!("{k}: expected {:?}, found {:?}", want.get(k), got.get(k)))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Every service that changes a status, applied to a device in each of the nine statuses:
/// the lifecycle table, the commissioning status rule (rule 2), `DateCommissioned` (set when
/// commissioned from Pending or InstalledNotCommissioned, kept on reinstatement), and 12.2
/// re-notification.
#[test]
fn every_status_transition_a_service_can_cause() {
    let schema: Vec<&str> = hubgate_gateway::inventory::DeviceStatus::ALL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(schema, STATUSES, "the table covers every status");

    let hub = Dev::new(0x30, 1, "CHF", "Commissioned");
    let hub_esme = Dev::new(0x30, 2, "ESME", "Commissioned")
        .on(&hub)
        .mpxn(HUB_MPAN);
    let hub_gsme = Dev::new(0x30, 3, "GSME", "Commissioned").on(&hub);
    // The GPFs' GSME and hub are commissioned, so commissioning a GPF depends on its status
    // alone here.
    let groups: [(Op, &str, Option<&Dev>); 12] = [
        (Op::Decommission, "ESME", Some(&hub)),
        // Withdrawn and Decommissioned → Pending are in the lifecycle table for
        // re-notification (12.2, which resets the record); 8.4 takes them too, keeping the
        // record as it was.
        (Op::ExceptCh("Pending"), "ESME", Some(&hub)),
        (Op::ExceptCh(INC), "ESME", Some(&hub)),
        (Op::Ch("Commissioned"), "CHF", None),
        (Op::Ch("Commissioned"), "GPF", Some(&hub_gsme)),
        (Op::Ch("Withdrawn"), "CHF", None),
        (Op::Ch(INC), "CHF", None),
        (Op::Install, "CHF", None),
        (Op::InstallNoWan, "CHF", None),
        (Op::FaultReturn, "CHF", None),
        (Op::NoFaultReturn, "CHF", None),
        (Op::Prenotify, "ESME", Some(&hub)),
    ];
    let mut devs = vec![hub.clone(), hub_esme.clone(), hub_gsme.clone()];
    let mut cases = Vec::new();
    for (g, (op, kind, parent)) in groups.iter().enumerate() {
        for (n, status) in STATUSES.iter().enumerate() {
            let mut d = Dev::new(0x31 + g as u8, n as u8 + 1, kind, status);
            if let Some(p) = parent {
                d = d.on(p);
            }
            devs.push(d.clone());
            cases.push((op.clone(), d));
        }
    }
    let csv = inventory_csv(&devs);
    let gw = Gateway::start(
        "inv-transitions",
        Seeds {
            inventory: Some(&csv),
            ..Seeds::default()
        },
    );
    assert_imported(&gw, devs.len(), 0);
    let mut run = Run::new(&gw);
    for (op, d) in &cases {
        run.case(op, d);
    }
    // Nothing else moved.
    for d in [&hub, &hub_esme, &hub_gsme] {
        run.record("the devices the cases are associated with", &d.fields());
    }
    run.finish();
}

/// Each service against each device type (all Pending, so that the status allows it): the
/// types it applies to change, the others get E11 and change nothing; a device not on the
/// inventory gets E19; 12.2 of each type; the schema's DeviceID pattern.
#[test]
fn each_service_applies_to_its_device_types() {
    let ops = [
        Op::Decommission,
        Op::ExceptCh(INC),
        Op::Ch(INC),
        Op::Install,
        Op::InstallNoWan,
        Op::FaultReturn,
        Op::NoFaultReturn,
        Op::Mpxn("ImportMPxN", "1100000000077"),
        Op::Mpxn("SecondaryImportMPAN", "1100000000078"),
        Op::Mpxn("ExportMPAN", "1100000000079"),
    ];
    let mut devs = Vec::new();
    let mut cases = Vec::new();
    for (g, op) in ops.iter().enumerate() {
        for (n, kind) in TYPES.iter().enumerate() {
            let d = Dev::new(0x40 + g as u8, n as u8 + 1, kind, "Pending");
            devs.push(d.clone());
            cases.push((op.clone(), d));
        }
    }
    let lower = Dev::new(0x4F, 1, "ESME", "Pending");
    devs.push(lower.clone());
    // The meter whose MPAN the hub installs name (so that they are answered I99).
    devs.push(Dev::new(0x4F, 2, "ESME", "Pending").mpxn(HUB_MPAN));
    let csv = inventory_csv(&devs);
    let gw = Gateway::start(
        "inv-types",
        Seeds {
            inventory: Some(&csv),
            ..Seeds::default()
        },
    );
    assert_imported(&gw, devs.len(), 0);
    let mut run = Run::new(&gw);
    for (op, d) in &cases {
        run.case(op, d);
    }

    // Rule 1: not on the inventory.
    let unknown = eui(0x4F, 0xEE);
    for op in &ops {
        let what = format!("{} on unknown {unknown} (NotOnInventory)", op.label());
        run.send(&what, &op.request(&run.t, &unknown), "E19");
    }
    let what = "8.4 UpdateDeviceStatusCH=Commissioned on an unknown device (rule 1)";
    let xml = run.t.update(&unknown, &ch("Commissioned"));
    run.send(what, &xml, "E19");
    let xml = run.t.update(&unknown, DELETE);
    run.send("8.4 DeleteDevice on an unknown device", &xml, "E19");
    run.absent("8.2 by Device ID, unknown (NoMatch)", &unknown);

    // 12.2 of each type: the template's ESMEVariant only fits an ESME (InvalidField, nothing
    // written); without it any type is added, Pending.
    for (n, kind) in TYPES.iter().enumerate() {
        let id = eui(0x4E, n as u8 + 1);
        let xml = run.t.prenotify(&id, kind, Some("AD"), None);
        if *kind == "ESME" {
            run.send("12.2 of an ESME with ESMEVariant", &xml, "I99");
            let want = run.t.notified(&id, kind, Some("AD"));
            run.state("12.2 of an ESME with ESMEVariant", &want, &[id]);
            continue;
        }
        let what = format!("12.2 of a {kind} with ESMEVariant (InvalidField)");
        run.send(&what, &xml, "E120204");
        run.absent(&what, &id);
        let what = format!("12.2 of a {kind}");
        run.send(&what, &run.t.prenotify(&id, kind, None, None), "I99");
        let want = run.t.notified(&id, kind, None);
        run.state(&what, &want, std::slice::from_ref(&id));
    }

    // The schema's pattern refuses a Device ID that is not an EUI-64 before any service runs
    // (so the services' InvalidDeviceId is not reachable over DUIS); hex digits of either
    // case name the same device.
    let bad = "00-DB-12-34-56-78-4F-0G";
    run.send(
        "8.3 with a malformed Device ID (check 1)",
        &run.t.decommission(bad),
        "E31",
    );
    let what = "8.4 UpdateDeviceStatusExceptCH with a lower-case Device ID";
    let xml = run.t.update(&lower.id.to_lowercase(), &except_ch(INC));
    run.send(what, &xml, "I99");
    run.state(
        what,
        &lower.changed(&[("DeviceStatus", Some(INC))]),
        &lower.related(),
    );
    run.finish();
}

/// The commissioning rules through 8.4 and 8.14.1 (a GPF: rules 2, 3, 5 and its
/// associations; a hub), the hub returns' effect on the hub's GPF, 8.4 DeleteDevice,
/// UpdateMPxN (rule 4) and UpdateDeviceDetails, 12.2's GPF association rules, 8.2 and 12.1
/// refusals; and, at start, the import refusing rows that break a rule.
#[test]
fn commissioning_rules_and_record_changes() {
    const MPAN_A: &str = "1100000000101";
    const MPAN_B: &str = "1100000000102";
    const MPAN_C: &str = "1100000000103";
    const MPAN_D: &str = "1100000000104";
    const MPAN_E: &str = "1100000000105";
    const MPAN_F: &str = "1100000000106";
    const MPAN_G: &str = "1100000000107";

    // Commissioning a GPF.
    let h1 = Dev::new(0x60, 1, "CHF", "Commissioned");
    let g1 = Dev::new(0x60, 2, "GSME", "Commissioned").on(&h1);
    let p1 = Dev::new(0x60, 3, "GPF", "Pending").on(&g1);
    let g2 = Dev::new(0x60, 4, "GSME", "Pending").on(&h1);
    let p2 = Dev::new(0x60, 5, "GPF", "Pending").on(&g2);
    let h3 = Dev::new(0x60, 6, "CHF", INC);
    let g3 = Dev::new(0x60, 7, "GSME", "Pending").on(&h3);
    let p3 = Dev::new(0x60, 8, "GPF", "Pending").on(&g3);
    let p4 = Dev::new(0x60, 9, "GPF", "Pending");
    let g5 = Dev::new(0x60, 10, "GSME", "Pending");
    let p5 = Dev::new(0x60, 11, "GPF", "Pending").on(&g5);
    let h6 = Dev::new(0x61, 1, "CHF", "Commissioned");
    let g6 = Dev::new(0x61, 2, "GSME", "Commissioned").on(&h6);
    let p6 = Dev::new(0x61, 3, "GPF", "Pending").on(&g6);
    let g7 = Dev::new(0x62, 1, "GSME", "Commissioned").on(&h1);
    let p7 = Dev::new(0x62, 2, "GPF", "Suspended").on(&g7);
    let g8 = Dev::new(0x62, 3, "GSME", "Commissioned").on(&h1);
    let p8 = Dev::new(0x62, 4, "GPF", "Recovered").on(&g8);
    let g9 = Dev::new(0x62, 5, "GSME", "Commissioned").on(&h1);
    let p9 = Dev::new(0x62, 6, "GPF", "Recovery").on(&g9);
    // Hub returns.
    let h10 = Dev::new(0x63, 1, "CHF", "Commissioned");
    let g10 = Dev::new(0x63, 2, "GSME", "Commissioned").on(&h10);
    let p10 = Dev::new(0x63, 3, "GPF", "Commissioned").on(&g10);
    let e10 = Dev::new(0x63, 4, "ESME", "Commissioned")
        .on(&h10)
        .mpxn(MPAN_G);
    let q10 = Dev::new(0x63, 5, "PPMID", "Pending").on(&e10);
    let h11 = Dev::new(0x63, 6, "CHF", "Commissioned");
    let g11 = Dev::new(0x63, 7, "GSME", "Pending").on(&h11);
    let p11 = Dev::new(0x63, 8, "GPF", "Decommissioned").on(&g11);
    let p11b = Dev::new(0x63, 9, "GPF", "Withdrawn").on(&g11);
    let h12 = Dev::new(0x63, 10, "CHF", "Pending");
    // DeleteDevice.
    let d1 = Dev::new(0x64, 1, "PPMID", "Pending");
    let d2 = Dev::new(0x64, 2, "GSME", "Pending").on(&h1);
    let d3 = Dev::new(0x64, 3, "GPF", "Pending").on(&d2);
    let d4 = Dev::new(0x64, 4, "CHF", "Pending");
    let not_pending: Vec<Dev> = STATUSES[1..]
        .iter()
        .enumerate()
        .map(|(n, s)| Dev::new(0x65, n as u8 + 1, "ESME", s).on(&h1))
        .collect();
    // MPxNs and details.
    let m1 = Dev::new(0x66, 1, "ESME", "Commissioned")
        .on(&h1)
        .mpxn(MPAN_A);
    let m2 = Dev::new(0x66, 2, "ESME", "Commissioned")
        .on(&h1)
        .mpxn(MPAN_B);
    let m3 = Dev::new(0x66, 3, "ESME", "Pending").on(&h1).mpxn(MPAN_C);
    let m4 = Dev::new(0x66, 4, "ESME", "Decommissioned")
        .on(&h1)
        .mpxn(MPAN_E);
    let mut devs = vec![
        h1.clone(),
        g1.clone(),
        p1.clone(),
        g2.clone(),
        p2.clone(),
        h3.clone(),
        g3.clone(),
        p3.clone(),
        p4.clone(),
        g5.clone(),
        p5.clone(),
        h6.clone(),
        g6.clone(),
        p6.clone(),
        g7.clone(),
        p7.clone(),
        g8.clone(),
        p8.clone(),
        g9.clone(),
        p9.clone(),
        h10.clone(),
        g10.clone(),
        p10.clone(),
        e10.clone(),
        q10.clone(),
        h11.clone(),
        g11.clone(),
        p11.clone(),
        p11b.clone(),
        h12.clone(),
        d1.clone(),
        d2.clone(),
        d3.clone(),
        d4.clone(),
        m1.clone(),
        m2.clone(),
        m3.clone(),
        m4.clone(),
    ];
    devs.extend(not_pending.iter().cloned());
    let good = devs.len();

    // Rows the import must refuse, each breaking one rule (the reason as the rule states it).
    let mut long_model = Dev::new(0x68, 8, "GSME", "Pending");
    long_model.model = "M".repeat(31);
    let mut duplicate = h1.clone();
    duplicate.status = "Pending";
    let bad: Vec<(Dev, &str)> = vec![
        (
            Dev::new(0x68, 1, "ESME", "Commissioned").on(&h3),
            "is InstalledNotCommissioned, not Commissioned",
        ),
        (
            Dev::new(0x68, 2, "ESME", "Commissioned")
                .on(&h1)
                .mpxn(MPAN_A),
            "already has the commissioned Smart Meter",
        ),
        (
            Dev::new(0x68, 3, "PPMID", "Commissioned").on(&g2),
            "its Smart Meter",
        ),
        (
            Dev::new(0x68, 4, "GPF", "Pending").on(&m1),
            "cannot be associated",
        ),
        (
            Dev::new(0x68, 5, "ESME", "Pending").on(&Dev::new(0x68, 0x99, "CHF", "Pending")),
            "not on the inventory",
        ),
        (
            Dev::new(0x68, 6, "PPMID", "Pending").on(&m4),
            "Decommissioned",
        ),
        (
            Dev::new(0x68, 7, "ESME", "Commissioned"),
            "no associated Communications Hub Function",
        ),
        (long_model, "DeviceModel"),
        (duplicate, "already on the inventory"),
    ];
    devs.extend(bad.iter().map(|(d, _)| d.clone()));
    let csv = inventory_csv(&devs);
    let gw = Gateway::start(
        "inv-rules",
        Seeds {
            inventory: Some(&csv),
            wan_matrix: Some(WAN),
            ..Seeds::default()
        },
    );
    assert_imported(&gw, good, bad.len());
    let mut run = Run::new(&gw);
    for (d, reason) in &bad {
        let line = csv
            .lines()
            .position(|l| l == d.row())
            .map(|i| i + 1)
            .unwrap();
        let refused = gw
            .startup
            .lines()
            .find(|l| l.starts_with(&format!("  line {line}: ")));
        match refused {
            Some(l) if l.contains(reason) && l.contains(&d.id) => {}
            other => run.fail(format!(
                "import of {} (line {line}) should be refused with \"{reason}\": {other:?}",
                d.id
            )),
        }
    }
    for (d, _) in &bad[..bad.len() - 1] {
        run.absent("a row the import refused", &d.id);
    }
    run.record("a duplicate row does not replace the device", &h1.fields());

    // Commissioning a GPF (8.4 UpdateDeviceStatusCH=Commissioned).
    let commission = ch("Commissioned");
    let what = "GPF with its GSME and hub commissioned (rules 2, 3, 5 hold)";
    run.send(what, &run.t.update(&p1.id, &commission), "I99");
    let want = p1.changed(&[
        ("DeviceStatus", Some("Commissioned")),
        ("DateCommissioned", Some(TODAY)),
    ]);
    run.state(what, &want, &p1.related());
    let what = "GPF whose GSME is Pending (rule 5, MeterNotCommissioned)";
    run.send(what, &run.t.update(&p2.id, &commission), "E080407");
    run.unchanged(what, &p2);
    let what = "GPF whose GSME's hub is InstalledNotCommissioned (rule 3 before rule 5)";
    run.send(what, &run.t.update(&p3.id, &commission), "E080406");
    run.unchanged(what, &p3);
    let what = "GPF associated with no GSME (NoAssociation)";
    run.send(what, &run.t.update(&p4.id, &commission), "E080408");
    run.unchanged(what, &p4);
    let what = "GPF whose GSME has no hub (NoAssociation)";
    run.send(what, &run.t.update(&p5.id, &commission), "E080408");
    run.unchanged(what, &p5);
    let what = "Suspended GPF reinstated: DateCommissioned kept";
    run.send(what, &run.t.update(&p7.id, &commission), "I99");
    run.state(
        what,
        &p7.changed(&[("DeviceStatus", Some("Commissioned"))]),
        &p7.related(),
    );
    let what = "Recovered GPF reinstated: DateCommissioned kept";
    run.send(what, &run.t.update(&p8.id, &commission), "I99");
    run.state(
        what,
        &p8.changed(&[("DeviceStatus", Some("Commissioned"))]),
        &p8.related(),
    );
    let what = "GPF in Recovery (rule 2, NotCommissionable)";
    run.send(what, &run.t.update(&p9.id, &commission), "E5");
    run.unchanged(what, &p9);

    // A hub withdrawn through 8.4, re-installed through 8.4 and 8.14.1: its GPF can be
    // commissioned only once the hub is commissioned again.
    let what = "8.4 UpdateDeviceStatusCH=Withdrawn on a commissioned hub";
    run.send(what, &run.t.update(&h6.id, &ch("Withdrawn")), "I99");
    let h6_withdrawn = h6.changed(&[("DeviceStatus", Some("Withdrawn"))]);
    let h6_related = [h6.id.clone(), g6.id.clone(), p6.id.clone()];
    run.state(what, &h6_withdrawn, &h6_related);
    let what = "GPF whose hub is Withdrawn (rule 3, ChfNotCommissioned)";
    run.send(what, &run.t.update(&p6.id, &commission), "E080406");
    run.unchanged(what, &p6);
    let what = "8.4 UpdateDeviceStatusCH=InstalledNotCommissioned on the Withdrawn hub";
    run.send(what, &run.t.update(&h6.id, &ch(INC)), "I99");
    run.state(
        what,
        &h6.changed(&[("DeviceStatus", Some(INC))]),
        &h6_related,
    );
    let what = "GPF whose hub is InstalledNotCommissioned (rule 3)";
    run.send(what, &run.t.update(&p6.id, &commission), "E080406");
    run.unchanged(what, &p6);
    let what = "8.14.1 on the InstalledNotCommissioned hub: commissioned again, dated today";
    run.send(what, &run.t.install(&h6.id, MPAN_G), "I99");
    let want = h6.changed(&[
        ("DeviceStatus", Some("Commissioned")),
        ("DateCommissioned", Some(TODAY)),
        ("ImportMPxN", Some(MPAN_G)),
    ]);
    run.state(what, &want, &h6_related);
    let what = "GPF once its hub is commissioned again";
    run.send(what, &run.t.update(&p6.id, &commission), "I99");
    let want = p6.changed(&[
        ("DeviceStatus", Some("Commissioned")),
        ("DateCommissioned", Some(TODAY)),
    ]);
    run.state(what, &want, &p6.related());

    // 8.14.1 naming an MPxN no Smart Meter holds: done, with a warning.
    let what = "8.14.1 at an MPxN no meter holds (W081401)";
    run.send(what, &run.t.install(&h12.id, "5500000000005"), "W081401");
    let want = h12.changed(&[
        ("DeviceStatus", Some("Commissioned")),
        ("DateCommissioned", Some(TODAY)),
        ("ImportMPxN", Some("5500000000005")),
    ]);
    run.state(what, &want, &h12.related());

    // Hub returns decommission the hub and its GPF, nothing else.
    let h10_related = [
        h10.id.clone(),
        g10.id.clone(),
        e10.id.clone(),
        p10.id.clone(),
        q10.id.clone(),
    ];
    let what = "8.14.3 on a hub with a gas and an electricity system";
    run.send(what, &run.t.fault_return(&h10.id), "I99");
    let gone = [("DeviceStatus", Some("Decommissioned"))];
    run.state(what, &h10.changed(&gone), &h10_related);
    run.state(
        "8.14.3: the hub's GPF goes with it",
        &p10.changed(&gone),
        &[p10.id.clone(), g10.id.clone()],
    );
    let g10_related = [g10.id.clone(), p10.id.clone(), h10.id.clone()];
    run.state("8.14.3: the GSME stays", &g10.fields(), &g10_related);
    let e10_related = [e10.id.clone(), q10.id.clone(), h10.id.clone()];
    run.state("8.14.3: the ESME stays", &e10.fields(), &e10_related);
    run.unchanged("8.14.3: the PPMID stays", &q10);
    let what = "8.14.4 on the returned hub (Decommissioned → Decommissioned)";
    run.send(what, &run.t.no_fault_return(&h10.id), "E5");
    run.state(what, &h10.changed(&gone), &h10_related);
    let what = "8.14.4 on a hub whose GPFs are Decommissioned and Withdrawn";
    run.send(what, &run.t.no_fault_return(&h11.id), "I99");
    let h11_related = [
        h11.id.clone(),
        g11.id.clone(),
        p11.id.clone(),
        p11b.id.clone(),
    ];
    run.state(what, &h11.changed(&gone), &h11_related);
    let p11_related = [p11.id.clone(), g11.id.clone()];
    run.state(what, &p11.fields(), &p11_related);
    let p11b_related = [p11b.id.clone(), g11.id.clone()];
    run.state(what, &p11b.changed(&gone), &p11b_related);

    // 8.4 DeleteDevice: only a Pending device nothing is associated with.
    let what = "DeleteDevice of a Pending PPMID";
    run.send(what, &run.t.update(&d1.id, DELETE), "I99");
    run.absent(what, &d1.id);
    let what = "DeleteDevice of a device already deleted";
    run.send(what, &run.t.update(&d1.id, DELETE), "E19");
    let what = "DeleteDevice of a GSME with a GPF (HasAssociatedDevices)";
    run.send(what, &run.t.update(&d2.id, DELETE), "E080410");
    let d2_related = [d2.id.clone(), d3.id.clone(), h1.id.clone()];
    run.state(what, &d2.fields(), &d2_related);
    run.state(what, &d3.fields(), &[d3.id.clone(), d2.id.clone()]);
    let what = "DeleteDevice of the GPF, then of its GSME";
    run.send(what, &run.t.update(&d3.id, DELETE), "I99");
    run.send(what, &run.t.update(&d2.id, DELETE), "I99");
    run.absent(what, &d3.id);
    run.absent(what, &d2.id);
    let what = "DeleteDevice of a Pending hub";
    run.send(what, &run.t.update(&d4.id, DELETE), "I99");
    run.absent(what, &d4.id);
    for d in &not_pending {
        let what = format!("DeleteDevice of a {} ESME (DeleteNotPending)", d.status);
        run.send(&what, &run.t.update(&d.id, DELETE), "E5");
        run.unchanged(&what, d);
    }

    // 8.4 UpdateMPxN: a commissioned meter cannot take an MPxN that has another commissioned
    // meter (rule 4).
    for element in ["ImportMPxN", "SecondaryImportMPAN", "ExportMPAN"] {
        let what = format!("{element} of a commissioned ESME held by another (rule 4)");
        run.send(
            &what,
            &run.t.update(&m2.id, &update_mpxn(element, MPAN_A)),
            "E080405",
        );
        run.unchanged(&what, &m2);
    }
    let what = "ImportMPxN of a Pending ESME held by a commissioned one (rule 4 not checked)";
    run.send(
        what,
        &run.t.update(&m3.id, &update_mpxn("ImportMPxN", MPAN_A)),
        "I99",
    );
    run.state(
        what,
        &m3.changed(&[("ImportMPxN", Some(MPAN_A))]),
        &m3.related(),
    );
    let what = "ImportMPxN of a commissioned ESME held by a Decommissioned one";
    run.send(
        what,
        &run.t.update(&m2.id, &update_mpxn("ImportMPxN", MPAN_E)),
        "I99",
    );
    let m2_now = m2.changed(&[("ImportMPxN", Some(MPAN_E))]);
    run.state(what, &m2_now, &m2.related());
    let what = "ExportMPAN of a commissioned ESME, free";
    run.send(
        what,
        &run.t.update(&m2.id, &update_mpxn("ExportMPAN", MPAN_F)),
        "I99",
    );
    let mut m2_export = m2_now.clone();
    m2_export.insert("ExportMPAN".into(), MPAN_F.into());
    run.state(what, &m2_export, &m2.related());
    let what = "ImportMPxN of a commissioned ESME, free";
    run.send(
        what,
        &run.t.update(&m1.id, &update_mpxn("ImportMPxN", MPAN_D)),
        "I99",
    );
    run.state(
        what,
        &m1.changed(&[("ImportMPxN", Some(MPAN_D))]),
        &m1.related(),
    );
    let what = "8.2 by MPxN follows UpdateMPxN";
    let a = run.send(
        what,
        &run.t.read_by(&format!("<sr:MPxN>{MPAN_A}</sr:MPxN>")),
        "I0",
    );
    let found: Vec<String> = a.devices().iter().map(|d| d["DeviceID"].clone()).collect();
    if found != [m3.id.clone(), h1.id.clone()] {
        run.fail(format!("{what}: MPxN {MPAN_A} found {found:?}"));
    }
    let what = "ImportMPxN of a commissioned GSME";
    run.send(
        what,
        &run.t
            .update(&g1.id, &update_mpxn("ImportMPxN", "1234567890")),
        "I99",
    );
    let g1_related = [g1.id.clone(), p1.id.clone(), h1.id.clone()];
    run.state(
        what,
        &g1.changed(&[("ImportMPxN", Some("1234567890"))]),
        &g1_related,
    );

    // 8.4 UpdateDeviceDetails: the given fields replaced, under the schema's and the type's
    // constraints.
    let what = "UpdateDeviceDetails of an ESME";
    let details = "<sr:UpdateDeviceDetails><sr:DeviceModel>NEWMODEL</sr:DeviceModel><sr:FirmwareVersion>00030000</sr:FirmwareVersion><sr:ESMEVariant>B</sr:ESMEVariant></sr:UpdateDeviceDetails>";
    run.send(what, &run.t.update(&m3.id, details), "I99");
    let want = m3.changed(&[
        ("ImportMPxN", Some(MPAN_A)),
        ("DeviceModel", Some("NEWMODEL")),
        ("DeviceFirmwareVersion", Some("00030000")),
        ("ESMEVariant", Some("B")),
    ]);
    run.state(what, &want, &m3.related());
    let what = "UpdateDeviceDetails with ESMEVariant on a GSME (InvalidField)";
    let details =
        "<sr:UpdateDeviceDetails><sr:ESMEVariant>B</sr:ESMEVariant></sr:UpdateDeviceDetails>";
    run.send(what, &run.t.update(&g2.id, details), "E080411");
    let g2_related = [g2.id.clone(), p2.id.clone(), h1.id.clone()];
    run.state(what, &g2.fields(), &g2_related);

    // 12.2: a GSME's AssociatedGPFDeviceID.
    let n = |k: u8| eui(0x67, k);
    let what = "12.2 of a new ESME";
    run.send(
        what,
        &run.t.prenotify(&n(1), "ESME", Some("AD"), None),
        "I99",
    );
    run.state(what, &run.t.notified(&n(1), "ESME", Some("AD")), &[n(1)]);
    let what = "12.2 of it again (AlreadyOnInventory)";
    run.send(what, &run.t.prenotify(&n(1), "ESME", None, None), "E120201");
    run.state(what, &run.t.notified(&n(1), "ESME", Some("AD")), &[n(1)]);
    let what = "12.2 of a GSME naming a GPF not on the inventory (AssociationNotAllowed)";
    run.send(
        what,
        &run.t.prenotify(&n(3), "GSME", None, Some(&n(4))),
        "E120203",
    );
    run.absent(what, &n(3));
    run.send(
        "12.2 of a GPF",
        &run.t.prenotify(&n(4), "GPF", None, None),
        "I99",
    );
    let what = "12.2 of a GSME naming that GPF: the GPF is associated with it";
    run.send(
        what,
        &run.t.prenotify(&n(3), "GSME", None, Some(&n(4))),
        "I99",
    );
    run.state(what, &run.t.notified(&n(3), "GSME", None), &[n(3), n(4)]);
    run.state(what, &run.t.notified(&n(4), "GPF", None), &[n(4), n(3)]);
    for (k, kind, gpf, why) in [
        (
            5,
            "GSME",
            n(4),
            "a GPF already associated with a GSME in service",
        ),
        (6, "ESME", n(4), "an ESME naming a GPF"),
        (7, "GSME", q10.id.clone(), "a GSME naming a PPMID"),
        (
            8,
            "GSME",
            p10.id.clone(),
            "a GSME naming a Decommissioned GPF",
        ),
    ] {
        let what = format!("12.2: {why} (AssociationNotAllowed)");
        run.send(
            &what,
            &run.t.prenotify(&n(k), kind, None, Some(&gpf)),
            "E120203",
        );
        run.absent(&what, &n(k));
    }
    run.state(
        "the GPF stays with its GSME",
        &run.t.notified(&n(4), "GPF", None),
        &[n(4), n(3)],
    );
    let what = "12.2 of a GSME taking a GPF whose GSME was decommissioned";
    run.send(what, &run.t.decommission(&g2.id), "I99");
    run.send(
        what,
        &run.t.prenotify(&n(9), "GSME", None, Some(&p2.id)),
        "I99",
    );
    run.state(
        what,
        &run.t.notified(&n(9), "GSME", None),
        &[n(9), p2.id.clone()],
    );
    run.state(what, &p2.fields(), &[p2.id.clone(), n(9)]);

    // 8.2 and 12.1 refusals.
    for (criterion, why) in [
        ("<sr:MPxN>9999999999</sr:MPxN>".to_string(), "an MPxN no meter holds"),
        ("<sr:UPRN>42</sr:UPRN>".to_string(), "an unknown UPRN"),
        (
            "<sr:PropertyFilter><sr:PostCode>ZZ1 1ZZ</sr:PostCode><sr:AddressIdentifier>1</sr:AddressIdentifier></sr:PropertyFilter>".to_string(),
            "premises with no devices",
        ),
    ] {
        let what = format!("8.2 by {why} (NoMatch)");
        run.send(&what, &run.t.read_by(&criterion), "E080201");
    }
    run.send(
        "12.1 for a covered post code",
        &run.t.wan_by_address(POST_CODE),
        "I0",
    );
    run.send(
        "12.1 for an unknown UPRN (UnknownUprn)",
        &run.t.wan_by_uprn(42),
        "E120101",
    );
    run.send(
        "12.1 for a post code with no coverage data (NoCoverage)",
        &run.t.wan_by_address("SW1A 1AA"),
        "E120102",
    );
    run.finish();
}

/// Check 5 for device Service Requests: E19 for a device not on the inventory, E11 for a
/// device type the SRV does not address (before the status), E5 for a status that does not
/// allow the SRV; and the gate following the statuses that 8.3, 8.4, 8.14.1 and 12.2 set.
///
/// Local delivery (CV 3) is refused only by the status gate: the gate lets through only
/// InstalledNotCommissioned and Commissioned devices, which local delivery also accepts, so
/// its own refusal (E17) is never the answer.
#[test]
fn device_service_requests_pass_the_status_gate() {
    let hub = Dev::new(0x70, 1, "CHF", "Commissioned");
    let hub2 = Dev::new(0x70, 2, "CHF", "Commissioned");
    let gsme = Dev::new(0x70, 3, "GSME", "Commissioned")
        .on(&hub)
        .mpxn("2000000001");
    let gsme_pending = Dev::new(0x70, 4, "GSME", "Pending").on(&hub);
    let hub_pending = Dev::new(0x70, 6, "CHF", "Pending");
    let meters: Vec<Dev> = STATUSES
        .iter()
        .enumerate()
        .map(|(n, s)| {
            Dev::new(0x71, n as u8 + 1, "ESME", s)
                .on(&hub)
                .mpxn(&format!("11000000002{n:02}"))
        })
        .collect();
    let commissioned = meters[3].clone();
    assert_eq!(commissioned.status, "Commissioned");
    let ihd = Dev::new(0x70, 5, "IHD", "Commissioned").on(&commissioned);
    let mut devs = vec![
        hub.clone(),
        hub2.clone(),
        gsme.clone(),
        gsme_pending.clone(),
        hub_pending.clone(),
        ihd.clone(),
    ];
    devs.extend(meters.iter().cloned());
    let mut registration = String::from("mpxn,fuel,role,party,effective_from,effective_to\n");
    for m in &meters {
        let mpan = m.mpxn.as_deref().unwrap();
        registration += &format!("{mpan},electricity,IS,{SUPPLIER},2000-01-01,\n");
    }
    registration += &format!("2000000001,gas,GS,{SUPPLIER},2000-01-01,\n");
    let csv = inventory_csv(&devs);
    let gw = Gateway::start(
        "inv-gate",
        Seeds {
            inventory: Some(&csv),
            registration: Some(&registration),
            ..Seeds::default()
        },
    );
    assert_imported(&gw, devs.len(), 0);
    let mut run = Run::new(&gw);
    let read_registers = gw.template("ECS17b_4.1.1_SINGLE_SUCCESS_REQUEST_DUIS.XML");
    let read_firmware = gw.template("ECS52_11.2_SUCCESS_REQUEST_DUIS.XML");
    let commission = gw.template("ECS70Commission_8.1.1_SUCCESS_REQUEST_DUIS.XML");
    let enable_supply = gw.template("ECS42_7.1_SUCCESS_REQUEST_DUIS.XML");
    let sub_ghz = gw.template("DBCH01_6.31_SUCCESS_REQUEST_DUIS.XML");
    let local_read = set_text(&read_registers, "CommandVariant", "3");
    let to = |template: &str, d: &str| set_target(template, d);

    // Every status against SRVs that need Commissioned and SRVs used while installing.
    let before_commissioning = |s: &str| matches!(s, "Commissioned" | INC);
    for m in &meters {
        let only_commissioned = if m.status == "Commissioned" {
            PASSED
        } else {
            "E5"
        };
        let installing = if before_commissioning(m.status) {
            PASSED
        } else {
            "E5"
        };
        for (srv, template, want) in [
            ("4.1.1", &read_registers, only_commissioned),
            (
                "4.1.1 CV 3 (local delivery)",
                &local_read,
                only_commissioned,
            ),
            ("11.2", &read_firmware, installing),
            ("8.1.1", &commission, installing),
        ] {
            let what = format!("{srv} to a {} ESME", m.status);
            run.send(&what, &to(template, &m.id), want);
        }
    }
    // Device SRs do not change the inventory.
    for m in &meters {
        let mut related = m.related();
        if m.id == commissioned.id {
            related.push(ihd.id.clone());
        }
        run.state("after device SRs", &m.fields(), &related);
    }

    // Types, checked before the status.
    for (what, template, target, want) in [
        (
            "4.1.1 to a commissioned GSME",
            &read_registers,
            &gsme.id,
            PASSED,
        ),
        (
            "7.1 to a GSME (electricity only)",
            &enable_supply,
            &gsme.id,
            "E11",
        ),
        (
            "7.1 to a Pending GSME: type before status",
            &enable_supply,
            &gsme_pending.id,
            "E11",
        ),
        ("4.1.1 to a hub", &read_registers, &hub.id, "E11"),
        (
            "4.1.1 to a Pending hub",
            &read_registers,
            &hub_pending.id,
            "E11",
        ),
        ("11.2 to an IHD (Type 2)", &read_firmware, &ihd.id, "E11"),
        ("6.31 to a commissioned hub", &sub_ghz, &hub.id, PASSED),
        ("6.31 to an ESME", &sub_ghz, &commissioned.id, "E11"),
        ("6.31 to a Pending hub", &sub_ghz, &hub_pending.id, "E5"),
    ] {
        run.send(what, &to(template, target), want);
    }
    let unknown = eui(0x70, 0xEE);
    for (what, template) in [
        ("4.1.1 to an unknown device", &read_registers),
        ("6.31 to an unknown device", &sub_ghz),
        ("8.1.1 to an unknown device", &commission),
    ] {
        run.send(what, &to(template, &unknown), "E19");
    }

    // The gate follows what the non-device services do.
    let t = Templates::load(&gw);
    run.send(
        "8.4 hub back to InstalledNotCommissioned",
        &t.update(&hub2.id, &ch(INC)),
        PASSED,
    );
    run.send(
        "6.31 to an InstalledNotCommissioned hub",
        &to(&sub_ghz, &hub2.id),
        "E5",
    );
    let mpan = commissioned.mpxn.clone().unwrap();
    run.send(
        "8.14.1 hub commissioned",
        &t.install(&hub2.id, &mpan),
        PASSED,
    );
    run.send(
        "6.31 to the hub commissioned again",
        &to(&sub_ghz, &hub2.id),
        PASSED,
    );
    run.send(
        "8.3 of the commissioned ESME",
        &t.decommission(&commissioned.id),
        PASSED,
    );
    run.send(
        "4.1.1 to the decommissioned ESME",
        &to(&read_registers, &commissioned.id),
        "E5",
    );
    run.send(
        "11.2 to the decommissioned ESME",
        &to(&read_firmware, &commissioned.id),
        "E5",
    );
    let new = eui(0x72, 1);
    run.send(
        "12.2 of a new ESME",
        &t.prenotify(&new, "ESME", Some("AD"), None),
        PASSED,
    );
    run.send("11.2 to the Pending ESME", &to(&read_firmware, &new), "E5");
    run.send(
        "8.4 ESME to InstalledNotCommissioned",
        &t.update(&new, &except_ch(INC)),
        PASSED,
    );
    run.send(
        "11.2 to the InstalledNotCommissioned ESME",
        &to(&read_firmware, &new),
        PASSED,
    );
    run.send(
        "4.1.1 to the InstalledNotCommissioned ESME",
        &to(&read_registers, &new),
        "E5",
    );
    run.finish();
}

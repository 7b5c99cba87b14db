//! Check 5 against the Smart Metering Inventory, and the non-device services, for the
//! pipeline.
//!
//! Which device types an SRV addresses comes from its GBCS use cases (catalogue): `ECS…`
//! electricity meters, `GCS…` gas meters and the gas proxy, `CCS…`/`DBCH…` the hub,
//! `CS01a`/`CS01b` electricity/gas top-ups, `PCS…` the PPMID, and the generic `CS…` security,
//! firmware and join services any Type 1 device; `ECS26i`/`ECS26n` (identity reads) go to the
//! hub function, as the RTDS corpus shows. Type 2 devices (IHD, CAD) take no device
//! Service Requests.
//!
//! Which statuses allow an SRV: every device SR needs the device `Commissioned`, except the
//! services used while installing and commissioning, which also accept
//! `InstalledNotCommissioned`: commissioning (8.1.1), credentials (6.15.x, 6.17, 6.21, 6.23,
//! 6.24.x), joining and the device log (8.7.x, 8.8.x, 8.9, 8.11, 8.12.x), firmware (11.x),
//! clock synchronisation (6.11) and configuration/firmware reads (6.2.x, 11.2). Local delivery
//! (CV 2, 3, 6, 7) is refused (E17) unless the device is `InstalledNotCommissioned` or
//! `Commissioned`.

use std::sync::Arc;

use hubgate_protocol::catalogue::Catalogue;
use hubgate_protocol::duis::model::request::Request;
use hubgate_protocol::duis::model::response::{ResponseCode, ResponsePayload};
use hubgate_protocol::duis::model::xsd::Date;
use hubgate_protocol::hex;

use super::codes::Rejection;
use super::pipeline::{DeviceDirectory, DeviceFacts};
use crate::inventory::{DeviceStatus, DeviceType, Eui, Inventory, WanMatrix};

/// The inventory-backed [`DeviceDirectory`].
#[derive(Debug)]
pub struct InventoryDirectory {
    inventory: Arc<Inventory>,
    wan: WanMatrix,
    schedules: Option<Arc<crate::schedules::Schedules>>,
}

impl InventoryDirectory {
    /// Over an inventory, with an empty WAN coverage table.
    pub fn new(inventory: Arc<Inventory>) -> Self {
        InventoryDirectory {
            inventory,
            wan: WanMatrix::new(),
            schedules: None,
        }
    }

    /// With DSP schedules: 5.1–5.3 are answered by them, and they learn of devices
    /// withdrawn or decommissioned by the inventory services.
    pub fn with_schedules(mut self, schedules: Arc<crate::schedules::Schedules>) -> Self {
        self.schedules = Some(schedules);
        self
    }

    /// With a WAN coverage table for 12.1.
    pub fn with_wan_matrix(mut self, wan: WanMatrix) -> Self {
        self.wan = wan;
        self
    }
}

/// The device types the GBCS use case `name` addresses.
fn types_of_use_case(name: &str) -> &'static [DeviceType] {
    use DeviceType::*;
    const TYPE1: &[DeviceType] = &[Esme, Gsme, Gpf, Chf, Ppmid, Hcalcs];
    // Reads of device identity that the RTDS corpus addresses to the hub function.
    if matches!(name, "ECS26i" | "ECS26n") {
        &[Chf]
    } else if name.starts_with("ECS") {
        &[Esme]
    } else if name.starts_with("GCS") {
        &[Gsme, Gpf]
    } else if name.starts_with("CCS") || name.starts_with("DBCH") {
        &[Chf]
    } else if name.starts_with("CS01a") {
        &[Esme]
    } else if name.starts_with("CS01b") {
        &[Gsme]
    } else if name.starts_with("PCS") {
        &[Ppmid]
    } else {
        TYPE1
    }
}

/// Whether an SRV may address a device of type `t`.
pub fn type_fits(srv: &str, t: DeviceType) -> bool {
    Catalogue::get().srv(srv).is_some_and(|s| {
        s.use_cases
            .iter()
            .any(|u| types_of_use_case(&u.name).contains(&t))
    })
}

/// Whether an SRV accepts a device that is installed but not yet commissioned.
fn allowed_before_commissioning(srv: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "8.1.", "6.15.", "6.17", "6.21", "6.23", "6.24.", "8.7.", "8.8.", "8.9", "8.11", "8.12.",
        "11.", "6.11", "6.2.",
    ];
    PREFIXES
        .iter()
        .any(|p| srv == p.trim_end_matches('.') || srv.starts_with(p))
}

/// Whether a device in `status` may receive `srv`.
pub fn status_allows(srv: &str, status: DeviceStatus) -> bool {
    match status {
        DeviceStatus::Commissioned => true,
        DeviceStatus::InstalledNotCommissioned => allowed_before_commissioning(srv),
        _ => false,
    }
}

impl DeviceDirectory for InventoryDirectory {
    fn check_device(&self, target: &[u8; 8], srv: &str, cv: u8) -> Result<DeviceFacts, Rejection> {
        let device = self
            .inventory
            .device(&Eui(*target))
            .map_err(|e| Rejection::Busy(format!("inventory: {e}")))?
            .ok_or_else(|| Rejection::UnknownDevice(hex::eui_duis(target)))?;
        if !type_fits(srv, device.device_type) {
            return Err(Rejection::DeviceType {
                device_type: device.device_type.to_string(),
                srv: srv.into(),
            });
        }
        if !status_allows(srv, device.status) {
            return Err(Rejection::DeviceStatus {
                status: device.status.to_string(),
                srv: srv.into(),
            });
        }
        if matches!(cv, 2 | 3 | 6 | 7)
            && !matches!(
                device.status,
                DeviceStatus::InstalledNotCommissioned | DeviceStatus::Commissioned
            )
        {
            return Err(Rejection::LocalDelivery(format!(
                "device status {}",
                device.status
            )));
        }
        // The MPxNs registration data is checked against: the device's own, else those of the
        // meter it is associated with.
        let mut mpxns: Vec<String> = device
            .import_mpxn
            .iter()
            .chain(&device.export_mpan)
            .cloned()
            .collect();
        if mpxns.is_empty()
            && let Some(meter) = device.associated_with
            && let Ok(Some(m)) = self.inventory.device(&meter)
        {
            mpxns.extend(m.import_mpxn.iter().chain(&m.export_mpan).cloned());
        }
        use hubgate_protocol::transform::DeviceType as T;
        let device_type = match device.device_type {
            DeviceType::Esme => Some(T::Esme),
            DeviceType::Gsme => Some(T::Gsme),
            DeviceType::Gpf => Some(T::Gpf),
            DeviceType::Chf => Some(T::Chf),
            DeviceType::Ppmid => Some(T::Ppmid),
            DeviceType::Hcalcs => Some(T::Hcalcs),
            DeviceType::Ihd | DeviceType::Cad => None,
        };
        // Variants B (twin element) and its derivatives carry a secondary element; variant C
        // and its derivatives are polyphase.
        let variant = |c| {
            device
                .esme_variant
                .as_deref()
                .is_some_and(|v| v.starts_with(c))
        };
        Ok(DeviceFacts {
            mpxns,
            device_type,
            twin_element: variant('B'),
            polyphase: variant('C'),
            gbcs_version: device.device_gbcs_version.clone(),
        })
    }

    fn non_device(
        &self,
        request: &Request,
        now_ms: i64,
    ) -> Result<(ResponseCode, Option<ResponsePayload>), Rejection> {
        let (y, m, d) = crate::clock::civil_from_days(now_ms.div_euclid(86_400_000));
        let today =
            Date::new(&format!("{y:04}-{m:02}-{d:02}")).map_err(|e| Rejection::Busy(e.0))?;
        if let Some(answer) = self
            .schedules
            .as_ref()
            .and_then(|s| s.handle(request, now_ms))
        {
            return answer;
        }
        match crate::inventory::handle(&self.inventory, &self.wan, &request.body, &today) {
            Ok(Some(outcome)) => {
                if let Some(s) = &self.schedules {
                    s.device_status_changed(&outcome.changes, now_ms);
                }
                Ok((outcome.code, outcome.payload))
            }
            Ok(None) => Err(Rejection::NotProvided(format!(
                "SRV {} is a non-device service this gateway does not provide",
                request.header.service_reference_variant
            ))),
            Err(e) => Err(Rejection::Busy(format!("inventory: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_esme_variant_says_twin_element_or_polyphase() {
        use crate::inventory::import::{ImportOptions, import_csv};
        let dir = std::env::temp_dir().join(format!("hubgate-variant-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = Arc::new(crate::store::Store::open(&dir).expect("store"));
        let inventory = Arc::new(Inventory::open(Arc::clone(&store)).expect("inventory"));
        let csv = "device_id,device_type,device_status,manufacturer,model,import_mpxn,export_mpan,post_code,address_identifier,associated_with,esme_variant\n\
             00-DB-55-00-00-00-00-00,CHF,Commissioned,106C,433100AC,,,EM1 1AA,1,,\n\
             00-DB-55-00-00-00-00-01,ESME,Commissioned,EE01,010A030B,1900000000111,,EM1 1AA,1,00-DB-55-00-00-00-00-00,A\n\
             00-DB-55-00-00-00-00-02,ESME,Commissioned,EE01,010A030B,1900000000222,,EM1 1AA,1,00-DB-55-00-00-00-00-00,BDE\n\
             00-DB-55-00-00-00-00-03,ESME,Commissioned,EE01,010A030B,1900000000333,,EM1 1AA,1,00-DB-55-00-00-00-00-00,CDF\n";
        let report =
            import_csv(&inventory, csv.as_bytes(), ImportOptions::default()).expect("import");
        assert_eq!(report.imported, 4, "{report:?}");
        let directory = InventoryDirectory::new(inventory);
        let facts = |n: u8| {
            let f = directory
                .check_device(&[0x00, 0xDB, 0x55, 0, 0, 0, 0, n], "4.10", 1)
                .expect("a commissioned ESME");
            (f.twin_element, f.polyphase)
        };
        assert_eq!(facts(1), (false, false), "variant A");
        assert_eq!(facts(2), (true, false), "variant BDE");
        assert_eq!(facts(3), (false, true), "variant CDF");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn srvs_address_the_right_device_types() {
        assert!(type_fits("4.1.1", DeviceType::Esme));
        assert!(type_fits("4.1.1", DeviceType::Gsme));
        assert!(!type_fits("4.1.1", DeviceType::Chf));
        assert!(type_fits("7.1", DeviceType::Esme));
        assert!(!type_fits("7.1", DeviceType::Gsme));
        assert!(type_fits("6.31", DeviceType::Chf));
        assert!(type_fits("11.2", DeviceType::Ppmid));
        assert!(!type_fits("11.2", DeviceType::Ihd));
        assert!(!type_fits("9.9.9", DeviceType::Esme));
    }

    #[test]
    fn statuses_allow_what_installation_needs() {
        assert!(status_allows("4.1.1", DeviceStatus::Commissioned));
        assert!(!status_allows(
            "4.1.1",
            DeviceStatus::InstalledNotCommissioned
        ));
        assert!(status_allows(
            "8.1.1",
            DeviceStatus::InstalledNotCommissioned
        ));
        assert!(status_allows(
            "6.15.1",
            DeviceStatus::InstalledNotCommissioned
        ));
        assert!(status_allows(
            "11.2",
            DeviceStatus::InstalledNotCommissioned
        ));
        assert!(!status_allows(
            "6.20.1",
            DeviceStatus::InstalledNotCommissioned
        ));
        assert!(!status_allows("8.1.1", DeviceStatus::Pending));
        assert!(!status_allows("4.1.1", DeviceStatus::Decommissioned));
    }
}

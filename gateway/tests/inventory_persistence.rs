//! The store keeps what was committed: write through the inventory services and the counter
//! table, drop the store, reopen the same folder, and read everything back (records,
//! indexes, counters); a transaction that failed leaves nothing behind.

#![allow(clippy::unwrap_used)] // tests fail loudly on unexpected errors

use std::sync::Arc;

use hubgate_gateway::inventory::import::{ImportOptions, import_csv};
use hubgate_gateway::inventory::model::Premises;
use hubgate_gateway::inventory::{
    Device, DeviceStatus, DeviceType, Eui, Inventory, InventoryView, RuleError, WanMatrix, handle,
};
use hubgate_gateway::store::{FILE_NAME, Store};
use hubgate_protocol::duis::model::Body;
use hubgate_protocol::duis::model::body::{DecommissionDevice, ReadInventory};
use hubgate_protocol::duis::model::xsd::Date;

fn eui(s: &str) -> Eui {
    s.parse().unwrap()
}

#[test]
fn everything_survives_a_reopen() {
    let dir = std::env::temp_dir().join(format!("hubgate-persist-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let today = Date::new("2025-12-28").unwrap();
    let user = [0x90, 0xB3, 0xD5, 0x1F, 0x30, 0x01, 0x00, 0x00];
    let chf = eui("00-DB-12-34-56-78-90-A1");
    let esme = eui("00-DB-12-34-56-78-90-A0");
    let ppmid = eui("00-DB-12-34-56-78-90-C0");
    let written: Vec<Device>;
    {
        let store = Arc::new(Store::open(&dir).unwrap());
        assert!(store.counter_accept(user, 41).unwrap());
        let inv = Inventory::open(store.clone()).unwrap();
        let csv = "device_id,device_type,device_status,manufacturer,model,import_mpxn,uprn,post_code,address_identifier,associated_with\n\
                   00-DB-12-34-56-78-90-A1,CHF,Commissioned,106C,433100AC,,123456789012,M22 0RR,12,\n\
                   00-DB-12-34-56-78-90-A0,ESME,Pending,AB01,010A030B,1100000000001,123456789012,M22 0RR,12,00-DB-12-34-56-78-90-A1\n\
                   00-DB-12-34-56-78-90-C0,PPMID,Pending,AB01,P,,,,,00-DB-12-34-56-78-90-A0\n";
        let r = import_csv(&inv, csv.as_bytes(), ImportOptions::default()).unwrap();
        assert_eq!(r.imported, 3, "{:?}", r.errors);
        inv.change_status(&esme, DeviceStatus::Commissioned, &today)
            .unwrap();
        let o = handle(
            &inv,
            &WanMatrix::new(),
            &Body::DecommissionDevice(Box::new(DecommissionDevice {
                device_id: ppmid.to_string(),
            })),
            &today,
        )
        .unwrap()
        .unwrap();
        assert_eq!(o.code.as_str(), "I99");
        // A refused change writes nothing.
        let mut bad = Device::new(eui("00-DB-12-34-56-78-90-D0"), DeviceType::Esme, "a", "b");
        bad.status = DeviceStatus::Commissioned;
        bad.associated_with = Some(chf);
        bad.import_mpxn = Some("1100000000001".into());
        bad.premises = Some(Premises {
            post_code: "M22 0RR".into(),
            address_identifier: "12".into(),
        });
        assert!(matches!(
            inv.insert(&bad),
            Err(hubgate_gateway::inventory::InventoryError::Rule(
                RuleError::MpxnHasCommissionedMeter { .. }
            ))
        ));
        written = inv.read(|v| v.all()).unwrap();
        assert_eq!(written.len(), 3);
        drop(inv);
        drop(store);
    }
    assert!(dir.join(FILE_NAME).is_file());

    let store = Arc::new(Store::open(&dir).unwrap());
    assert_eq!(store.counter_last(user).unwrap(), Some(41));
    assert!(
        !store.counter_accept(user, 41).unwrap(),
        "replay after restart"
    );
    assert!(store.counter_accept(user, 42).unwrap());
    let inv = Inventory::open(store).unwrap();
    assert_eq!(inv.read(|v| v.all()).unwrap(), written, "records identical");
    let e = inv.get(&esme).unwrap().unwrap();
    assert_eq!(e.status, DeviceStatus::Commissioned);
    assert_eq!(e.date_commissioned.as_deref(), Some("2025-12-28"));
    assert_eq!(
        inv.get(&ppmid).unwrap().unwrap().status,
        DeviceStatus::Decommissioned
    );
    assert!(inv.is_enrolled(&esme).unwrap());
    // Indexes survived too.
    let (by_mpxn, by_uprn, here, children) = inv
        .read(|v| {
            Ok((
                v.with_mpxn("1100000000001")?,
                v.with_uprn(123_456_789_012)?,
                v.at_premises("m220rr", "12")?,
                v.associated_to(&chf)?,
            ))
        })
        .unwrap();
    assert_eq!(by_mpxn, vec![esme]);
    assert_eq!(by_uprn, vec![esme, chf]);
    assert_eq!(here, vec![esme, chf]);
    assert_eq!(children, vec![esme]);
    assert!(inv.get(&eui("00-DB-12-34-56-78-90-D0")).unwrap().is_none());
    let o = handle(
        &inv,
        &WanMatrix::new(),
        &Body::ReadInventory(Box::new(ReadInventory::MPxN("1100000000001".into()))),
        &today,
    )
    .unwrap()
    .unwrap();
    assert_eq!(o.code.as_str(), "I0");
    drop(inv);
    let _ = std::fs::remove_dir_all(&dir);
}

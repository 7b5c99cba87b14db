//! The DCC's XML answers to inventory services, as [`Element`] subtrees in the `sr`
//! namespace for [`ResponsePayload::Dsp`]: `DSPInventory` (8.2) and `DSPWANMatrix` (12.1).
//! The DUIS writer emits them as held; the element order follows the V5.4 schema.

use hubgate_protocol::duis::NS_SR;
use hubgate_protocol::duis::model::ResponsePayload;
use hubgate_protocol::duis::xml::Element;

use crate::inventory::model::Device;

/// Most `Device` elements one `DSPInventory` may hold (schema `maxOccurs`).
pub const MAX_INVENTORY_DEVICES: usize = 17;

/// An `sr:<name>` element.
pub fn sr(name: &str) -> Element {
    Element::new(Some("sr"), name, Some(NS_SR))
}

/// An `sr:<name>` element holding `text`.
pub fn leaf(name: &str, text: &str) -> Element {
    sr(name).with_text(text)
}

fn opt(el: Element, name: &str, v: Option<&str>) -> Element {
    match v {
        Some(v) => el.with_child(leaf(name, v)),
        None => el,
    }
}

/// One `sr:Device` of a `DSPInventory`.
pub fn device_element(d: &Device) -> Element {
    let mut e = sr("Device")
        .with_child(leaf("DeviceID", &d.id.to_string()))
        .with_child(leaf("DeviceType", d.device_type.as_str()))
        .with_child(leaf("DeviceStatus", d.status.as_str()))
        .with_child(leaf("DeviceManufacturer", &d.manufacturer))
        .with_child(leaf("DeviceModel", &d.model));
    e = opt(e, "SMETSCHTSVersion", d.smets_chts_version.as_deref());
    e = opt(e, "DeviceFirmwareVersion", d.firmware_version.as_deref());
    e = opt(
        e,
        "DeviceFirmwareVersionStatus",
        d.firmware_version_status.map(|s| s.as_str()),
    );
    e = opt(e, "CPLStatus", d.cpl_status.map(|s| s.as_str()));
    e = opt(e, "DateCommissioned", d.date_commissioned.as_deref());
    e = opt(e, "ImportMPxN", d.import_mpxn.as_deref());
    e = opt(e, "SecondaryImportMPAN", d.secondary_import_mpan.as_deref());
    e = opt(e, "ExportMPAN", d.export_mpan.as_deref());
    e = opt(e, "ESMEVariant", d.esme_variant.as_deref());
    e = opt(e, "UPRN", d.uprn.map(|u| u.to_string()).as_deref());
    if let Some(p) = &d.premises {
        e = e.with_child(
            sr("PropertyFilter")
                .with_child(leaf("PostCode", &p.post_code))
                .with_child(leaf("AddressIdentifier", &p.address_identifier)),
        );
    }
    e = opt(e, "CSPRegion", d.csp_region.map(|s| s.as_str()));
    e = opt(e, "DeviceGBCSVersion", d.device_gbcs_version.as_deref());
    e = opt(e, "HANVariant", d.han_variant.as_deref());
    e = opt(e, "S1SP", d.s1sp.as_deref());
    opt(e, "Connectivity", d.connectivity.map(|s| s.as_str()))
}

/// `sr:DSPInventory` holding the first [`MAX_INVENTORY_DEVICES`] of `devices`.
pub fn dsp_inventory(devices: &[Device]) -> Element {
    devices
        .iter()
        .take(MAX_INVENTORY_DEVICES)
        .fold(sr("DSPInventory"), |e, d| e.with_child(device_element(d)))
}

/// Wraps a `DSP…` element as a response payload.
pub fn payload(xml: Element) -> ResponsePayload {
    ResponsePayload::Dsp {
        element: xml.local.clone(),
        xml,
    }
}

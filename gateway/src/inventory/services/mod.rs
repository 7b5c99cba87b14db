//! The non-device services that act on the Smart Metering Inventory, one file each. Each
//! takes the typed DUIS body and returns a [`ServiceOutcome`]: the response code, the
//! payload (`DSPInventory`, `DSPWANMatrix`) if any, and the status changes made.
//!
//! | SRV | body | file | success |
//! |---|---|---|---|
//! | 8.2 Read Inventory | `ReadInventory` | [`read_inventory`] | I0 + `DSPInventory` |
//! | 8.3 Decommission Device | `DecommissionDevice` | [`decommission`] | I99 |
//! | 8.4 Update Inventory | `UpdateInventory` | [`update_inventory`] | I99 |
//! | 8.14.1–8.14.4 CH Status Update | `CHF…` | [`ch_status`] | I99 (W081401, see there) |
//! | 12.1 Request WAN Matrix | `RequestWANMatrix` | [`crate::inventory::wan_matrix`] | I0 + `DSPWANMatrix` |
//! | 12.2 Device Pre-notification | `DevicePrenotification` | [`prenotification`] | I99 |
//!
//! I99 answers a successful non-device request with no specific data (PROTOCOLS.md §2.3).
//! Each service runs in one write transaction (or a read snapshot for 8.2 and 12.1): a
//! request that breaks a rule changes nothing. Who may call which service (User Roles,
//! eligibility for the device) is checked by the ingress before; here only the inventory's
//! own rules are.

pub mod ch_status;
pub mod decommission;
pub mod prenotification;
pub mod read_inventory;
pub mod update_inventory;

use hubgate_protocol::duis::model::xsd::Date;
use hubgate_protocol::duis::model::{
    Body, RequestHeader, ResponseCode, ResponseMessage, ResponsePayload,
};

use crate::inventory::db::Inventory;
use crate::inventory::error::InventoryError;
use crate::inventory::model::Eui;
use crate::inventory::rules::{InventoryService, RuleError, StatusChange};
use crate::inventory::wan_matrix::{self, WanMatrix};

/// What a service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceOutcome {
    /// The service.
    pub service: InventoryService,
    /// The `ResponseCode`.
    pub code: ResponseCode,
    /// The payload of the `ResponseMessage`, if any.
    pub payload: Option<ResponsePayload>,
    /// Status changes applied (empty when refused).
    pub changes: Vec<StatusChange>,
    /// The rule the request broke, when refused.
    pub rejection: Option<RuleError>,
}

impl ServiceOutcome {
    /// A success.
    pub fn success(
        service: InventoryService,
        code: ResponseCode,
        payload: Option<ResponsePayload>,
        changes: Vec<StatusChange>,
    ) -> ServiceOutcome {
        ServiceOutcome {
            service,
            code,
            payload,
            changes,
            rejection: None,
        }
    }

    /// A success with no data: I99.
    pub fn acknowledged(service: InventoryService, changes: Vec<StatusChange>) -> ServiceOutcome {
        ServiceOutcome::success(service, ResponseCode::I99, None, changes)
    }

    /// A refusal, with the code [`RuleError::response_code`] gives for `service`.
    pub fn rejected(service: InventoryService, error: RuleError) -> ServiceOutcome {
        ServiceOutcome {
            service,
            code: error.response_code(service),
            payload: None,
            changes: Vec::new(),
            rejection: Some(error),
        }
    }

    /// The `ResponseMessage` answering the request with `header`.
    pub fn response_message(&self, header: &RequestHeader) -> ResponseMessage {
        ResponseMessage {
            service_reference: header.service_reference,
            service_reference_variant: header.service_reference_variant,
            payload: self.payload.clone(),
        }
    }
}

/// Turns a rule failure into a refusal; other errors (ours) stay errors.
///
/// # Errors
///
/// [`InventoryError::Store`] and [`InventoryError::Corrupt`].
pub fn settle(
    service: InventoryService,
    r: Result<ServiceOutcome, InventoryError>,
) -> Result<ServiceOutcome, InventoryError> {
    match r {
        Err(InventoryError::Rule(e)) => {
            tracing::debug!(?service, error = %e, "inventory request refused");
            Ok(ServiceOutcome::rejected(service, e))
        }
        other => other,
    }
}

/// The inventory service a body asks for, if it is one.
pub fn service_of(body: &Body) -> Option<InventoryService> {
    Some(match body {
        Body::ReadInventory(_) => InventoryService::ReadInventory,
        Body::DecommissionDevice(_) => InventoryService::DecommissionDevice,
        Body::UpdateInventory(_) => InventoryService::UpdateInventory,
        Body::CHFInstallSuccessSMWAN(_)
        | Body::CHFInstallSuccessNoSMWAN(_)
        | Body::CHFFaultReturn(_)
        | Body::CHFNoFaultReturn(_) => InventoryService::ChStatusUpdate,
        Body::RequestWANMatrix(_) => InventoryService::RequestWanMatrix,
        Body::DevicePrenotification(_) => InventoryService::DevicePrenotification,
        _ => return None,
    })
}

/// Runs the inventory service `body` asks for. `None` if `body` is not one of them; rule
/// failures come back as refusals ([`ServiceOutcome::rejection`]).
///
/// # Errors
///
/// Our own failures: [`InventoryError::Store`], [`InventoryError::Corrupt`].
pub fn handle(
    inventory: &Inventory,
    matrix: &WanMatrix,
    body: &Body,
    today: &Date,
) -> Result<Option<ServiceOutcome>, InventoryError> {
    let Some(service) = service_of(body) else {
        return Ok(None);
    };
    let r = match body {
        Body::ReadInventory(b) => read_inventory::read_inventory(inventory, b),
        Body::DecommissionDevice(b) => decommission::decommission_device(inventory, b, today),
        Body::UpdateInventory(b) => update_inventory::update_inventory(inventory, b, today),
        Body::CHFInstallSuccessSMWAN(b) => ch_status::install_success(inventory, b, today),
        Body::CHFInstallSuccessNoSMWAN(b) => ch_status::install_success_no_wan(inventory, b, today),
        Body::CHFFaultReturn(b) => ch_status::fault_return(inventory, b, today),
        Body::CHFNoFaultReturn(b) => ch_status::no_fault_return(inventory, b, today),
        Body::RequestWANMatrix(b) => wan_matrix::request_wan_matrix(inventory, matrix, b),
        Body::DevicePrenotification(b) => prenotification::device_prenotification(inventory, b),
        _ => return Ok(None),
    };
    settle(service, r).map(Some)
}

/// Parses a Device ID of a request body.
///
/// # Errors
///
/// [`RuleError::InvalidDeviceId`].
pub fn parse_id(s: &str) -> Result<Eui, InventoryError> {
    s.parse::<Eui>()
        .map_err(|_| RuleError::InvalidDeviceId(s.to_owned()).into())
}

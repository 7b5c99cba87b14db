//! [`InventoryView`]: the lookups the rules and the services need, over any representation
//! of the inventory (a redb snapshot or write transaction, or an in-memory map in tests).

use std::collections::BTreeMap;

use crate::inventory::error::InventoryError;
use crate::inventory::model::{Device, Eui, Premises};

/// Read access to the inventory. Lists come back in EUI order.
pub trait InventoryView {
    /// The device with `id`, if it is on the inventory.
    ///
    /// # Errors
    ///
    /// [`InventoryError::Store`] or [`InventoryError::Corrupt`].
    fn device(&self, id: &Eui) -> Result<Option<Device>, InventoryError>;

    /// Devices recording `mpxn` as import, secondary import or export MPxN.
    ///
    /// # Errors
    ///
    /// As [`InventoryView::device`].
    fn with_mpxn(&self, mpxn: &str) -> Result<Vec<Eui>, InventoryError>;

    /// Devices recording `uprn`.
    ///
    /// # Errors
    ///
    /// As [`InventoryView::device`].
    fn with_uprn(&self, uprn: u64) -> Result<Vec<Eui>, InventoryError>;

    /// Devices at the premises (compared by [`Premises::match_key`]).
    ///
    /// # Errors
    ///
    /// As [`InventoryView::device`].
    fn at_premises(
        &self,
        post_code: &str,
        address_identifier: &str,
    ) -> Result<Vec<Eui>, InventoryError>;

    /// Devices Associated with `id` (whose [`Device::associated_with`] is `id`).
    ///
    /// # Errors
    ///
    /// As [`InventoryView::device`].
    fn associated_to(&self, id: &Eui) -> Result<Vec<Eui>, InventoryError>;

    /// The devices with these ids that are on the inventory, in the given order.
    ///
    /// # Errors
    ///
    /// As [`InventoryView::device`].
    fn devices(&self, ids: &[Eui]) -> Result<Vec<Device>, InventoryError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(d) = self.device(id)? {
                out.push(d);
            }
        }
        Ok(out)
    }
}

/// A plain map is a (scanning) view: handy for unit tests of the rules.
impl InventoryView for BTreeMap<Eui, Device> {
    fn device(&self, id: &Eui) -> Result<Option<Device>, InventoryError> {
        Ok(self.get(id).cloned())
    }

    fn with_mpxn(&self, mpxn: &str) -> Result<Vec<Eui>, InventoryError> {
        Ok(self
            .values()
            .filter(|d| d.mpxns().any(|m| m == mpxn))
            .map(|d| d.id)
            .collect())
    }

    fn with_uprn(&self, uprn: u64) -> Result<Vec<Eui>, InventoryError> {
        Ok(self
            .values()
            .filter(|d| d.uprn == Some(uprn))
            .map(|d| d.id)
            .collect())
    }

    fn at_premises(
        &self,
        post_code: &str,
        address_identifier: &str,
    ) -> Result<Vec<Eui>, InventoryError> {
        let key = Premises::match_key(post_code, address_identifier);
        Ok(self
            .values()
            .filter(|d| {
                d.premises.as_ref().is_some_and(|p| {
                    Premises::match_key(&p.post_code, &p.address_identifier) == key
                })
            })
            .map(|d| d.id)
            .collect())
    }

    fn associated_to(&self, id: &Eui) -> Result<Vec<Eui>, InventoryError> {
        Ok(self
            .values()
            .filter(|d| d.associated_with == Some(*id))
            .map(|d| d.id)
            .collect())
    }
}

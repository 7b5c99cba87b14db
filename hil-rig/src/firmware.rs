//! Firmware images: the Communications Hub's receipt of an image in chunks and its transfer to
//! a device (SR 11.1), and the device's activation of it (CS06, SR 11.3).
//!
//! # Transfer (the CHF side)
//!
//! The gateway offers a hub an image for one of its devices in chunks
//! ([`ImageReceiver::chunk`]): each chunk names the transfer (the 11.1 RequestID and the
//! device), the image's total length and firmware version, and the chunk's offset. The hub
//! keeps one partial image per (transfer, device) and answers with the offset it expects
//! next, so a sender that lost track (a restarted gateway, a hub that lost its buffer) resumes
//! from where the hub is, never from where it believes it is. A chunk at another offset
//! changes nothing. A chunk for a device the image cannot reach ends the transfer at once,
//! before anything is buffered:
//!
//! - the device is not behind this hub: `FileTransferFailure`;
//! - the device is not an ESME or GSME (the devices SR 11.1 updates): `HardwareVersionMismatch`.
//!
//! When the last byte is in, the hub hands the image over its HAN to the device and answers
//! the outcome with the DUIS `TransferResponseCode` it stands for ([`TransferOutcome`]): the
//! device stores the image as its pending firmware ([`PendingFirmware`], with the SHA-256 of
//! the whole image as the hash CS06 names): `FileTransferSuccess`. An image received earlier
//! and not activated is replaced.
//!
//! A hub holds at most [`MAX_IMAGE_BYTES`] per image (a larger transfer is refused:
//! `FileTransferFailure`). A device has at most one transfer in progress: the first chunk of a
//! new transfer for a device drops that device's other partial image (an abandoned or
//! superseded transfer), and a dropped transfer that comes back starts again from offset 0
//! (its chunk is answered with `Next(0)`). So a hub never holds more than one partial image
//! per ESME or GSME behind it, whatever transfers it is offered.
//!
//! # Activation (CS06, the device side)
//!
//! `SEQUENCE { OCTET STRING hash, INTEGER counter [, GeneralizedTime] }`, answered with the
//! RTDS layout `SEQUENCE { INTEGER result, OCTET STRING firmware version }`: result 0 and the
//! new version when the hash is that of the pending image (which becomes the active firmware:
//! the 11.2 reads return its version), result 1 and the unchanged version otherwise (the
//! RTDS error response's value). The counter must be the command's own. A future-dated
//! activation (with an execution time) is not emulated: refused as unsupported.
//!
//! # What the tests prove
//!
//! The unit tests below: a chunked transfer in order and out of order, the refusal of a
//! wrong device or kind at the first chunk, the size bound, a new transfer replacing a
//! device's earlier partial image, and a CS06 payload activating the received image or
//! refusing a wrong hash.
//! `gateway/tests/firmware.rs` drives the same code from a real gateway.

use std::collections::BTreeMap;

use hubgate_protocol::gbcs::payload::asn1::{Node, universal};

use crate::cs::{integer, is};
use crate::der;
use crate::device::Ctx;
use crate::error::{DeviceError, bad};
use crate::fleet::Hub;
use crate::state::{DeviceKind, DeviceState, PendingFirmware};

/// The largest image a hub accepts (the DUIS `FirmwareImage` bound).
pub const MAX_IMAGE_BYTES: u64 = 10_240_000;

/// How a finished transfer ended (the DUIS `TransferResponseCode` values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferOutcome {
    /// The device holds the image.
    FileTransferSuccess,
    /// The device discarded the image.
    FirmwareImageDiscarded,
    /// The image is not for this kind of device.
    HardwareVersionMismatch,
    /// The transfer failed.
    FileTransferFailure,
}

impl TransferOutcome {
    /// The DUIS `TransferResponseCode`.
    pub fn as_str(self) -> &'static str {
        match self {
            TransferOutcome::FileTransferSuccess => "FileTransferSuccess",
            TransferOutcome::FirmwareImageDiscarded => "FirmwareImageDiscarded",
            TransferOutcome::HardwareVersionMismatch => "HardwareVersionMismatch",
            TransferOutcome::FileTransferFailure => "FileTransferFailure",
        }
    }
}

/// What the hub answers to a chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkAnswer {
    /// Send the bytes from this offset next.
    Next(u64),
    /// The transfer ended.
    Done(TransferOutcome),
}

/// One chunk of an image offered to a hub.
#[derive(Debug, Clone, Copy)]
pub struct Chunk<'a> {
    /// The transfer (the 11.1 RequestID).
    pub transfer: &'a str,
    /// The target device.
    pub device: [u8; 8],
    /// The whole image's length.
    pub total: u64,
    /// The firmware version the image brings (four bytes).
    pub version: &'a [u8],
    /// Where `data` starts in the image.
    pub offset: u64,
    /// The bytes.
    pub data: &'a [u8],
}

/// The partial images a hub holds.
#[derive(Debug, Default)]
pub struct ImageReceiver {
    partial: BTreeMap<(String, [u8; 8]), Vec<u8>>,
}

impl ImageReceiver {
    /// Takes one chunk for a device of `hub` (see the module documentation).
    pub fn chunk(&mut self, hub: &mut Hub, c: &Chunk<'_>) -> ChunkAnswer {
        let key = (c.transfer.to_string(), c.device);
        if c.total > MAX_IMAGE_BYTES || c.total == 0 {
            self.partial.remove(&key);
            return ChunkAnswer::Done(TransferOutcome::FileTransferFailure);
        }
        // Refused at once, so that nothing is buffered for a device the image cannot reach.
        match hub.device_mut(&c.device).map(|d| d.kind()) {
            None => return ChunkAnswer::Done(TransferOutcome::FileTransferFailure),
            Some(DeviceKind::Esme | DeviceKind::Gsme) => {}
            Some(_) => return ChunkAnswer::Done(TransferOutcome::HardwareVersionMismatch),
        }
        if !self.partial.contains_key(&key) {
            // A new transfer: the device's earlier one is over.
            self.partial.retain(|(_, device), _| *device != c.device);
        }
        let buf = self.partial.entry(key.clone()).or_default();
        let have = buf.len() as u64;
        if c.offset != have {
            return ChunkAnswer::Next(have);
        }
        let room = c.total.saturating_sub(have);
        let take = usize::try_from(room.min(c.data.len() as u64)).unwrap_or(0);
        buf.extend_from_slice(&c.data[..take]);
        let have = buf.len() as u64;
        if have < c.total {
            return ChunkAnswer::Next(have);
        }
        let image = self.partial.remove(&key).unwrap_or_default();
        ChunkAnswer::Done(hand_over(hub, c.device, c.version, &image))
    }

    /// Partial images held.
    pub fn len(&self) -> usize {
        self.partial.len()
    }

    /// Whether none is held.
    pub fn is_empty(&self) -> bool {
        self.partial.is_empty()
    }

    /// Whether a partial image of `transfer` for `device` is held.
    pub fn holds(&self, transfer: &str, device: &[u8; 8]) -> bool {
        self.partial.contains_key(&(transfer.to_string(), *device))
    }
}

/// The hub passes a complete image to `device` over its HAN ([`ImageReceiver::chunk`] has
/// checked that it is an ESME or GSME behind the hub).
fn hand_over(hub: &mut Hub, device: [u8; 8], version: &[u8], image: &[u8]) -> TransferOutcome {
    let Some(d) = hub.device_mut(&device) else {
        return TransferOutcome::FileTransferFailure;
    };
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, image);
    d.state_mut().pending_firmware = Some(PendingFirmware {
        hash: hash.as_ref().to_vec(),
        version: version.to_vec(),
        size: image.len() as u64,
    });
    TransferOutcome::FileTransferSuccess
}

/// CS06 on an ESME or GSME (see the module documentation).
pub(crate) fn activate(
    state: &mut DeviceState,
    ctx: &Ctx,
    node: &Node<'_>,
) -> Result<Vec<u8>, DeviceError> {
    let c = &node.children;
    let (Some(hash), Some(counter)) = (
        c.first().filter(|n| is(n, universal::OCTET_STRING)),
        c.get(1).and_then(integer),
    ) else {
        return Err(bad(
            ctx.code,
            "CS06: SEQUENCE { OCTET STRING, INTEGER, … } expected",
        ));
    };
    if u64::try_from(counter).ok() != Some(ctx.counter) {
        return Err(bad(ctx.code, "CS06: the counter is not the command's"));
    }
    if c.len() > 2 {
        return Err(DeviceError::Unsupported(ctx.code));
    }
    let matches = state
        .pending_firmware
        .as_ref()
        .is_some_and(|p| p.hash == hash.value);
    if ctx.fault || !matches {
        return Ok(der::seq(&[
            der::int(1),
            der::octets(&state.firmware_version),
        ]));
    }
    if let Some(p) = state.pending_firmware.take() {
        state.firmware_version = p.version;
    }
    Ok(der::seq(&[
        der::int(0),
        der::octets(&state.firmware_version),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::Fleet;

    fn hub() -> Hub {
        let fleet = Fleet::builder().hubs(1).build().expect("fleet");
        fleet.hubs.into_iter().next().expect("one hub")
    }

    fn offer(
        r: &mut ImageReceiver,
        hub: &mut Hub,
        device: [u8; 8],
        image: &[u8],
        offset: u64,
        len: usize,
    ) -> ChunkAnswer {
        let start = usize::try_from(offset).expect("offset");
        let end = (start + len).min(image.len());
        r.chunk(
            hub,
            &Chunk {
                transfer: "t1",
                device,
                total: image.len() as u64,
                version: &[0, 0, 0, 2],
                offset,
                data: &image[start..end],
            },
        )
    }

    #[test]
    fn chunks_in_order_reach_the_device_and_a_wrong_offset_is_told_where_to_resume() {
        let mut h = hub();
        let esme = h.esme.eui();
        let image: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut r = ImageReceiver::default();
        assert_eq!(
            offer(&mut r, &mut h, esme, &image, 0, 300),
            ChunkAnswer::Next(300)
        );
        assert_eq!(
            offer(&mut r, &mut h, esme, &image, 600, 300),
            ChunkAnswer::Next(300)
        );
        assert_eq!(
            offer(&mut r, &mut h, esme, &image, 300, 300),
            ChunkAnswer::Next(600)
        );
        assert_eq!(
            offer(&mut r, &mut h, esme, &image, 600, 400),
            ChunkAnswer::Done(TransferOutcome::FileTransferSuccess)
        );
        let p = h
            .esme
            .state()
            .pending_firmware
            .clone()
            .expect("pending image");
        let want = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &image);
        assert_eq!(p.hash, want.as_ref());
        assert_eq!(p.version, vec![0, 0, 0, 2]);
        assert!(r.is_empty());
    }

    #[test]
    fn wrong_kind_unknown_device_and_oversize_are_refused() {
        let mut h = hub();
        let ihd = h.ihd.eui();
        let mut r = ImageReceiver::default();
        assert_eq!(
            offer(&mut r, &mut h, ihd, &[1, 2, 3], 0, 3),
            ChunkAnswer::Done(TransferOutcome::HardwareVersionMismatch)
        );
        assert_eq!(
            offer(&mut r, &mut h, [9; 8], &[1, 2, 3], 0, 3),
            ChunkAnswer::Done(TransferOutcome::FileTransferFailure)
        );
        // The first chunk of a longer image already ends it: nothing is held.
        assert_eq!(
            offer(&mut r, &mut h, [9; 8], &[7; 30], 0, 3),
            ChunkAnswer::Done(TransferOutcome::FileTransferFailure)
        );
        assert_eq!(
            offer(&mut r, &mut h, ihd, &[7; 30], 0, 3),
            ChunkAnswer::Done(TransferOutcome::HardwareVersionMismatch)
        );
        assert!(r.is_empty());
        let esme = h.esme.eui();
        let big = Chunk {
            transfer: "t2",
            device: esme,
            total: MAX_IMAGE_BYTES + 1,
            version: &[0; 4],
            offset: 0,
            data: &[0; 10],
        };
        assert_eq!(
            r.chunk(&mut h, &big),
            ChunkAnswer::Done(TransferOutcome::FileTransferFailure)
        );
        assert!(h.esme.state().pending_firmware.is_none());
    }

    /// The first chunk (`len` bytes of a `total`-byte image) of `transfer` for `device`.
    fn start(
        r: &mut ImageReceiver,
        hub: &mut Hub,
        transfer: &str,
        device: [u8; 8],
        total: u64,
    ) -> ChunkAnswer {
        r.chunk(
            hub,
            &Chunk {
                transfer,
                device,
                total,
                version: &[0, 0, 0, 3],
                offset: 0,
                data: &[7; 10],
            },
        )
    }

    #[test]
    fn a_new_transfer_for_a_device_drops_its_earlier_partial_image() {
        let mut h = hub();
        let (esme, gsme) = (h.esme.eui(), h.gsme.eui());
        let mut r = ImageReceiver::default();
        assert_eq!(
            start(&mut r, &mut h, "old", esme, 100),
            ChunkAnswer::Next(10)
        );
        assert_eq!(
            start(&mut r, &mut h, "other", gsme, 100),
            ChunkAnswer::Next(10)
        );
        assert_eq!(r.len(), 2);
        assert_eq!(
            start(&mut r, &mut h, "new", esme, 100),
            ChunkAnswer::Next(10)
        );
        assert_eq!(r.len(), 2);
        assert!(!r.holds("old", &esme), "the superseded transfer is dropped");
        assert!(r.holds("new", &esme) && r.holds("other", &gsme));
        // The old transfer, if it comes back, starts again from the beginning.
        let resumed = r.chunk(
            &mut h,
            &Chunk {
                transfer: "old",
                device: esme,
                total: 100,
                version: &[0, 0, 0, 3],
                offset: 10,
                data: &[7; 10],
            },
        );
        assert_eq!(resumed, ChunkAnswer::Next(0));
    }
}

//! The SMWAN link between the gateway and a rig, over QUIC.
//!
//! The gateway listens; a rig connects as a QUIC client with mutual TLS (both certificates
//! issued by the gateway's local TLS CA, ALPN [`ALPN`]), opens **one bidirectional stream**
//! and carries length-prefixed frames on it, multiplexing all the hubs it hosts:
//!
//! | frame | direction | body after the type byte |
//! |---|---|---|
//! | [`Frame::Register`] `0x01` | rig → gateway, first frame | version `u8` (1 to [`VERSION`]), count `u16`, count × hub EUI (8 bytes) |
//! | [`Frame::Registered`] `0x02` | gateway → rig, answer to it | count `u16` of hubs taken |
//! | [`Frame::Command`] `0x10` | gateway → rig | hub EUI, device EUI, GBCS bytes |
//! | [`Frame::FromHub`] `0x11` | rig → gateway | hub EUI, GBCS bytes (a response or an alert) |
//! | [`Frame::ImageChunk`] `0x12` (version 2) | gateway → rig | sequence `u32`, hub EUI, device EUI, image length `u64`, offset `u64`, version length `u8` and bytes, transfer ID length `u8` and UTF-8 bytes, image bytes (at most [`MAX_CHUNK`]) |
//! | [`Frame::ChunkAnswer`] `0x13` (version 2) | rig → gateway | sequence `u32`, hub EUI, then `0x00` and the next offset `u64`, or `0x01` and the outcome `u8` (0 `FileTransferSuccess`, 1 `FirmwareImageDiscarded`, 2 `HardwareVersionMismatch`, 3 `FileTransferFailure`) |
//!
//! Each frame is a big-endian `u32` length (of type byte and body) and then that many bytes,
//! at most [`MAX_FRAME`]. A frame that is too long, truncated, of an unknown type or with a
//! body of the wrong shape is a [`FrameError`]: the peer closes the connection with a reason,
//! nothing panics.
//!
//! Why one multiplexed stream rather than one stream per hub or datagrams: a rig is a single
//! process on one network path, so a stream per hub buys no independence from loss that one
//! connection does not already share, and it would need a stream-to-hub binding frame anyway;
//! one stream keeps each hub's commands and answers in order and makes registration atomic
//! with the connection. Datagrams are unreliable and bounded by the path MTU (about 1200
//! bytes), while GBCS commands (firmware, tariffs) are larger and must not be lost silently.

pub mod rig;

use quinn::{RecvStream, SendStream};

use crate::firmware::{Chunk, ChunkAnswer, TransferOutcome};

/// The ALPN protocol name of the SMWAN link.
pub const ALPN: &[u8] = b"hubgate-smwan/1";
/// The protocol version carried in [`Frame::Register`] (2: image chunks).
pub const VERSION: u8 = 2;
/// The first version with [`Frame::ImageChunk`] and [`Frame::ChunkAnswer`].
pub const IMAGE_VERSION: u8 = 2;
/// Largest frame (type byte and body), in bytes.
pub const MAX_FRAME: usize = 64 * 1024;
/// Largest image chunk in one [`Frame::ImageChunk`], in bytes (its header takes at most 548
/// bytes more, within [`MAX_FRAME`]).
pub const MAX_CHUNK: usize = 60 * 1024;
/// Most hubs one rig may register.
pub const MAX_HUBS: usize = 4096;

/// A hub or device EUI.
pub type Eui = [u8; 8];

/// One frame of the SMWAN link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The hubs a rig hosts (its first frame).
    Register {
        /// The link version the rig speaks (1 to [`VERSION`]).
        version: u8,
        /// Hub EUIs.
        hubs: Vec<Eui>,
    },
    /// The gateway took the registration.
    Registered {
        /// Hubs taken.
        count: u16,
    },
    /// A GBCS command for a device behind a hub.
    Command {
        /// The hub.
        hub: Eui,
        /// The device behind it.
        device: Eui,
        /// GBCS bytes.
        bytes: Vec<u8>,
    },
    /// A GBCS response or alert from a hub.
    FromHub {
        /// The hub.
        hub: Eui,
        /// GBCS bytes.
        bytes: Vec<u8>,
    },
    /// A chunk of a firmware image for a device behind a hub (SR 11.1).
    ImageChunk {
        /// Matches the [`Frame::ChunkAnswer`].
        seq: u32,
        /// The hub.
        hub: Eui,
        /// The chunk (its data at most [`MAX_CHUNK`] bytes).
        chunk: OwnedChunk,
    },
    /// The hub's answer to a [`Frame::ImageChunk`].
    ChunkAnswer {
        /// The chunk's sequence number.
        seq: u32,
        /// The hub.
        hub: Eui,
        /// Next offset, or the outcome.
        answer: ChunkAnswer,
    },
}

/// An image chunk that owns its bytes (the link form of [`Chunk`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedChunk {
    /// The transfer (the 11.1 RequestID; at most 255 bytes).
    pub transfer: String,
    /// The target device.
    pub device: Eui,
    /// The whole image's length.
    pub total: u64,
    /// The firmware version the image brings (at most 255 bytes).
    pub version: Vec<u8>,
    /// Where `data` starts in the image.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

impl OwnedChunk {
    /// A copy of `c`, its data cut to [`MAX_CHUNK`] bytes.
    pub fn from_chunk(c: &Chunk<'_>) -> OwnedChunk {
        OwnedChunk {
            transfer: c.transfer.to_string(),
            device: c.device,
            total: c.total,
            version: c.version.to_vec(),
            offset: c.offset,
            data: c.data[..c.data.len().min(MAX_CHUNK)].to_vec(),
        }
    }

    /// The borrowed form the hubs take.
    pub fn as_chunk(&self) -> Chunk<'_> {
        Chunk {
            transfer: &self.transfer,
            device: self.device,
            total: self.total,
            version: &self.version,
            offset: self.offset,
            data: &self.data,
        }
    }
}

const OUTCOMES: [TransferOutcome; 4] = [
    TransferOutcome::FileTransferSuccess,
    TransferOutcome::FirmwareImageDiscarded,
    TransferOutcome::HardwareVersionMismatch,
    TransferOutcome::FileTransferFailure,
];

fn u32_at(b: &[u8], at: usize) -> Result<u32, FrameError> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or(FrameError::Malformed("short sequence number"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, FrameError> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or(FrameError::Malformed("short length or offset"))
}

/// A `u8`-length-prefixed field at `at`: its bytes and where the next field starts.
fn short_field(b: &[u8], at: usize) -> Result<(&[u8], usize), FrameError> {
    let n = *b
        .get(at)
        .ok_or(FrameError::Malformed("short field length"))? as usize;
    let v = b
        .get(at + 1..at + 1 + n)
        .ok_or(FrameError::Malformed("short field"))?;
    Ok((v, at + 1 + n))
}

/// Why a frame could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The peer finished the stream between frames.
    #[error("stream finished")]
    Finished,
    /// The stream failed (connection lost, reset).
    #[error("stream: {0}")]
    Stream(String),
    /// A length above [`MAX_FRAME`] (or zero).
    #[error("frame length {0} out of range (1..={MAX_FRAME})")]
    Length(usize),
    /// A frame that is not what the protocol allows.
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

fn eui_at(b: &[u8], at: usize) -> Result<Eui, FrameError> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .ok_or(FrameError::Malformed("short EUI"))
}

impl Frame {
    /// The frame as sent: length prefix, type byte, body.
    ///
    /// # Errors
    ///
    /// [`FrameError::Length`] when it would exceed [`MAX_FRAME`], [`FrameError::Malformed`]
    /// for a registration of more than [`MAX_HUBS`] hubs.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        let mut body = Vec::new();
        match self {
            Frame::Register { version, hubs } => {
                if hubs.len() > MAX_HUBS {
                    return Err(FrameError::Malformed("too many hubs"));
                }
                body.push(0x01);
                body.push(*version);
                body.extend_from_slice(&(hubs.len() as u16).to_be_bytes());
                for h in hubs {
                    body.extend_from_slice(h);
                }
            }
            Frame::Registered { count } => {
                body.push(0x02);
                body.extend_from_slice(&count.to_be_bytes());
            }
            Frame::Command { hub, device, bytes } => {
                body.push(0x10);
                body.extend_from_slice(hub);
                body.extend_from_slice(device);
                body.extend_from_slice(bytes);
            }
            Frame::FromHub { hub, bytes } => {
                body.push(0x11);
                body.extend_from_slice(hub);
                body.extend_from_slice(bytes);
            }
            Frame::ImageChunk { seq, hub, chunk } => {
                if chunk.data.len() > MAX_CHUNK {
                    return Err(FrameError::Malformed("image chunk too long"));
                }
                let version = u8::try_from(chunk.version.len())
                    .map_err(|_| FrameError::Malformed("version too long"))?;
                let transfer = u8::try_from(chunk.transfer.len())
                    .map_err(|_| FrameError::Malformed("transfer ID too long"))?;
                body.push(0x12);
                body.extend_from_slice(&seq.to_be_bytes());
                body.extend_from_slice(hub);
                body.extend_from_slice(&chunk.device);
                body.extend_from_slice(&chunk.total.to_be_bytes());
                body.extend_from_slice(&chunk.offset.to_be_bytes());
                body.push(version);
                body.extend_from_slice(&chunk.version);
                body.push(transfer);
                body.extend_from_slice(chunk.transfer.as_bytes());
                body.extend_from_slice(&chunk.data);
            }
            Frame::ChunkAnswer { seq, hub, answer } => {
                body.push(0x13);
                body.extend_from_slice(&seq.to_be_bytes());
                body.extend_from_slice(hub);
                match answer {
                    ChunkAnswer::Next(offset) => {
                        body.push(0x00);
                        body.extend_from_slice(&offset.to_be_bytes());
                    }
                    ChunkAnswer::Done(o) => {
                        body.push(0x01);
                        let code = OUTCOMES.iter().position(|x| x == o).unwrap_or(3);
                        body.push(code as u8);
                    }
                }
            }
        }
        if body.len() > MAX_FRAME {
            return Err(FrameError::Length(body.len()));
        }
        let mut out = Vec::with_capacity(4 + body.len());
        out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Reads a frame body (type byte first, no length prefix).
    ///
    /// # Errors
    ///
    /// [`FrameError::Malformed`] for an unknown type or a body of the wrong shape.
    pub fn decode(b: &[u8]) -> Result<Frame, FrameError> {
        let (&kind, rest) = b.split_first().ok_or(FrameError::Malformed("empty"))?;
        match kind {
            0x01 => {
                let (&version, rest) = rest
                    .split_first()
                    .ok_or(FrameError::Malformed("no version"))?;
                if version == 0 || version > VERSION {
                    return Err(FrameError::Malformed("unsupported version"));
                }
                let n = rest
                    .get(..2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]) as usize)
                    .ok_or(FrameError::Malformed("no hub count"))?;
                if n > MAX_HUBS || rest.len() != 2 + 8 * n {
                    return Err(FrameError::Malformed("hub count does not match"));
                }
                let hubs = (0..n)
                    .map(|i| eui_at(rest, 2 + 8 * i))
                    .collect::<Result<_, _>>()?;
                Ok(Frame::Register { version, hubs })
            }
            0x02 if rest.len() == 2 => Ok(Frame::Registered {
                count: u16::from_be_bytes([rest[0], rest[1]]),
            }),
            0x10 => Ok(Frame::Command {
                hub: eui_at(rest, 0)?,
                device: eui_at(rest, 8)?,
                bytes: rest[16..].to_vec(),
            }),
            0x11 => Ok(Frame::FromHub {
                hub: eui_at(rest, 0)?,
                bytes: rest[8..].to_vec(),
            }),
            0x12 => {
                let seq = u32_at(rest, 0)?;
                let hub = eui_at(rest, 4)?;
                let device = eui_at(rest, 12)?;
                let total = u64_at(rest, 20)?;
                let offset = u64_at(rest, 28)?;
                let (version, at) = short_field(rest, 36)?;
                let (transfer, at) = short_field(rest, at)?;
                let transfer = std::str::from_utf8(transfer)
                    .map_err(|_| FrameError::Malformed("transfer ID is not UTF-8"))?;
                let data = &rest[at..];
                if data.len() > MAX_CHUNK {
                    return Err(FrameError::Malformed("image chunk too long"));
                }
                Ok(Frame::ImageChunk {
                    seq,
                    hub,
                    chunk: OwnedChunk {
                        transfer: transfer.to_string(),
                        device,
                        total,
                        version: version.to_vec(),
                        offset,
                        data: data.to_vec(),
                    },
                })
            }
            0x13 => {
                let seq = u32_at(rest, 0)?;
                let hub = eui_at(rest, 4)?;
                let answer = match rest.get(12..) {
                    Some([0x00, tail @ ..]) if tail.len() == 8 => {
                        ChunkAnswer::Next(u64_at(tail, 0)?)
                    }
                    Some([0x01, code]) => ChunkAnswer::Done(
                        *OUTCOMES
                            .get(*code as usize)
                            .ok_or(FrameError::Malformed("unknown transfer outcome"))?,
                    ),
                    _ => return Err(FrameError::Malformed("chunk answer shape")),
                };
                Ok(Frame::ChunkAnswer { seq, hub, answer })
            }
            0x02 => Err(FrameError::Malformed("registered frame length")),
            _ => Err(FrameError::Malformed("unknown frame type")),
        }
    }
}

/// Reads the next frame from `recv`.
///
/// # Errors
///
/// [`FrameError::Finished`] at a clean end between frames, otherwise what went wrong.
pub async fn read_frame(recv: &mut RecvStream) -> Result<Frame, FrameError> {
    let mut len = [0u8; 4];
    match recv.read_exact(&mut len).await {
        Ok(()) => {}
        Err(quinn::ReadExactError::FinishedEarly(0)) => return Err(FrameError::Finished),
        Err(e) => return Err(FrameError::Stream(e.to_string())),
    }
    let n = u32::from_be_bytes(len) as usize;
    if n == 0 || n > MAX_FRAME {
        return Err(FrameError::Length(n));
    }
    let mut body = vec![0u8; n];
    recv.read_exact(&mut body)
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))?;
    Frame::decode(&body)
}

/// Writes `frame` to `send`.
///
/// # Errors
///
/// When it cannot be encoded or the stream fails.
pub async fn write_frame(send: &mut SendStream, frame: &Frame) -> Result<(), FrameError> {
    let bytes = frame.encode()?;
    send.write_all(&bytes)
        .await
        .map_err(|e| FrameError::Stream(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_survive_a_round_trip() {
        let frames = [
            Frame::Register {
                version: VERSION,
                hubs: vec![[1; 8], [2; 8]],
            },
            Frame::Register {
                version: 1,
                hubs: vec![[1; 8]],
            },
            Frame::ImageChunk {
                seq: 7,
                hub: [1; 8],
                chunk: OwnedChunk {
                    transfer: "90-B3-D5-1F-30-01-00-00:00-00-00-00-00-00-00-00:1001".into(),
                    device: [3; 8],
                    total: 100_000,
                    version: vec![0, 0, 0, 2],
                    offset: 61_440,
                    data: vec![0xab; MAX_CHUNK],
                },
            },
            Frame::ChunkAnswer {
                seq: 7,
                hub: [1; 8],
                answer: ChunkAnswer::Next(100_000),
            },
            Frame::ChunkAnswer {
                seq: u32::MAX,
                hub: [1; 8],
                answer: ChunkAnswer::Done(TransferOutcome::HardwareVersionMismatch),
            },
            Frame::Registered { count: 2 },
            Frame::Command {
                hub: [1; 8],
                device: [3; 8],
                bytes: vec![0xdd, 0, 1],
            },
            Frame::FromHub {
                hub: [2; 8],
                bytes: Vec::new(),
            },
        ];
        for f in frames {
            let wire = f.encode().unwrap_or_default();
            let n = u32::from_be_bytes([wire[0], wire[1], wire[2], wire[3]]) as usize;
            assert_eq!(n, wire.len() - 4);
            assert_eq!(Frame::decode(&wire[4..]).ok(), Some(f));
        }
    }

    #[test]
    fn bad_frames_are_errors() {
        for bad in [
            &[][..],
            &[0x7f],
            &[0x01, 0, 0, 0],
            &[0x01, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8],
            &[0x02, 1],
            &[0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            &[0x11, 1, 2, 3],
            &[0x01, 3, 0, 0],
            &[0x12, 0, 0, 0, 1, 1, 2, 3],
            // An image chunk whose transfer ID runs past the end.
            &[
                0x12, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 0, 0, 0, 0, 0, 0,
                0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, b'x',
            ],
            &[0x13, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x01, 4],
            &[0x13, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x00, 0, 0],
            &[0x13, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x02],
        ] {
            assert!(
                matches!(Frame::decode(bad), Err(FrameError::Malformed(_))),
                "{bad:?}"
            );
        }
        let big = Frame::FromHub {
            hub: [0; 8],
            bytes: vec![0; MAX_FRAME],
        };
        assert!(matches!(big.encode(), Err(FrameError::Length(_))));
        // An image chunk frame carrying `len` bytes of data.
        let chunk_frame = |len: usize| Frame::ImageChunk {
            seq: 1,
            hub: [0; 8],
            chunk: OwnedChunk {
                transfer: "t".into(),
                device: [0; 8],
                total: 1,
                version: Vec::new(),
                offset: 0,
                data: vec![0; len],
            },
        };
        let long = chunk_frame(MAX_CHUNK + 1);
        assert!(matches!(long.encode(), Err(FrameError::Malformed(_))));
        let mut wire = chunk_frame(MAX_CHUNK).encode().unwrap_or_default();
        wire.push(0);
        assert!(matches!(
            Frame::decode(&wire[4..]),
            Err(FrameError::Malformed(_))
        ));
    }

    #[test]
    fn a_long_chunk_is_cut_to_the_frame_bound() {
        let data = vec![1u8; MAX_CHUNK + 10];
        let c = Chunk {
            transfer: "t",
            device: [2; 8],
            total: data.len() as u64,
            version: &[0, 0, 0, 2],
            offset: 0,
            data: &data,
        };
        let owned = OwnedChunk::from_chunk(&c);
        assert_eq!(owned.data.len(), MAX_CHUNK);
        let f = Frame::ImageChunk {
            seq: 3,
            hub: [1; 8],
            chunk: owned,
        };
        let wire = f.encode().unwrap_or_default();
        assert!(wire.len() - 4 <= MAX_FRAME);
        assert_eq!(Frame::decode(&wire[4..]).ok(), Some(f));
    }
}

//! The SMWAN link between the gateway and a rig, over QUIC.
//!
//! The gateway listens; a rig connects as a QUIC client with mutual TLS (both certificates
//! issued by the gateway's local TLS CA, ALPN [`ALPN`]), opens **one bidirectional stream**
//! and carries length-prefixed frames on it, multiplexing all the hubs it hosts:
//!
//! | frame | direction | body after the type byte |
//! |---|---|---|
//! | [`Frame::Register`] `0x01` | rig → gateway, first frame | version `u8` (= [`VERSION`]), count `u16`, count × hub EUI (8 bytes) |
//! | [`Frame::Registered`] `0x02` | gateway → rig, answer to it | count `u16` of hubs taken |
//! | [`Frame::Command`] `0x10` | gateway → rig | hub EUI, device EUI, GBCS bytes |
//! | [`Frame::FromHub`] `0x11` | rig → gateway | hub EUI, GBCS bytes (a response or an alert) |
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

/// The ALPN protocol name of the SMWAN link.
pub const ALPN: &[u8] = b"hubgate-smwan/1";
/// The protocol version carried in [`Frame::Register`].
pub const VERSION: u8 = 1;
/// Largest frame (type byte and body), in bytes.
pub const MAX_FRAME: usize = 64 * 1024;
/// Most hubs one rig may register.
pub const MAX_HUBS: usize = 4096;

/// A hub or device EUI.
pub type Eui = [u8; 8];

/// One frame of the SMWAN link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The hubs a rig hosts (its first frame).
    Register {
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
            Frame::Register { hubs } => {
                if hubs.len() > MAX_HUBS {
                    return Err(FrameError::Malformed("too many hubs"));
                }
                body.push(0x01);
                body.push(VERSION);
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
                if version != VERSION {
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
                Ok(Frame::Register { hubs })
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
                hubs: vec![[1; 8], [2; 8]],
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
            &[0x01, 2, 0, 0],
            &[0x01, 1, 0, 2, 1, 2, 3, 4, 5, 6, 7, 8],
            &[0x02, 1],
            &[0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9],
            &[0x11, 1, 2, 3],
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
    }
}

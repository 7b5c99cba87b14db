"""A bridged GBCS device on a CAN bus, for the `hil-rig run` CAN port tests.

The CAN side is python-can's own `slcan` interface (its Lawicel line codec) on a PTY; the
ISO-TP segmentation is a small implementation on python-can messages, written for these
tests (normal addressing, classic 8-byte frames). The device receives GBCS frames on RX_ID
and answers on TX_ID with the frame reversed and b"ANSWER" appended, so the test can tell an
answer from an echo.

usage: gbcs_can_peer.py PTY [--silent] [--bs N] [--stmin-ms N]
  prints `ready` once the bus is open, then for each message from the rig
  `frame <hex> frames=<n> padded=<0xNN|none>`; with --silent it never answers.
"""
import argparse
import time

import can

RX_ID, TX_ID = 0x7E0, 0x7E8


def recv(bus, timeout=None):
    """The next data frame on RX_ID (None on time-out)."""
    end = None if timeout is None else time.monotonic() + timeout
    while True:
        left = None if end is None else max(0.0, end - time.monotonic())
        m = bus.recv(timeout=left if left is not None else 1.0)
        if m is None:
            if end is not None and time.monotonic() >= end:
                return None
            continue
        if m.arbitration_id == RX_ID and not m.is_extended_id and not m.is_remote_frame:
            return m


def send(bus, data):
    bus.send(can.Message(arbitration_id=TX_ID, data=bytes(data), is_extended_id=False))


def padding_of(frames):
    """The fill byte when every frame was 8 bytes long (the rig pads), else None."""
    if all(len(f) == 8 for f in frames):
        return frames[-1][-1]
    return None


def receive(bus, bs, stmin_ms):
    """One ISO-TP message from the rig, with the raw frames it came in."""
    first = bytes(recv(bus).data)
    frames = [first]
    pci = first[0] >> 4
    if pci == 0:
        return first[1 : 1 + (first[0] & 0xF)], frames
    if pci != 1:
        raise SystemExit(f"peer: expected a single or first frame, got {first.hex()}")
    total = ((first[0] & 0xF) << 8) | first[1]
    data = bytearray(first[2:8])
    sn = 1
    while len(data) < total:
        send(bus, [0x30, bs, stmin_ms])
        n = 0
        while len(data) < total and (bs == 0 or n < bs):
            m = recv(bus, timeout=2.0)
            if m is None:
                raise SystemExit("peer: consecutive frame missing")
            cf = bytes(m.data)
            frames.append(cf)
            if cf[0] != 0x20 | sn:
                raise SystemExit(f"peer: consecutive frame {cf.hex()}, sequence {sn} expected")
            data += cf[1 : 1 + min(7, total - len(data))]
            sn = (sn + 1) & 0xF
            n += 1
    return bytes(data[:total]), frames


def answer(bus, msg):
    """Sends `msg` to the rig, paced by the rig's flow control."""
    if len(msg) <= 7:
        send(bus, [len(msg)] + list(msg))
        return
    send(bus, [0x10 | (len(msg) >> 8), len(msg) & 0xFF] + list(msg[:6]))
    pos, sn = 6, 1
    while pos < len(msg):
        m = recv(bus, timeout=2.0)
        if m is None:
            raise SystemExit("peer: no flow control from the rig")
        fc = bytes(m.data)
        if fc[0] == 0x31:  # WAIT
            continue
        if fc[0] != 0x30:
            raise SystemExit(f"peer: unexpected flow control {fc.hex()}")
        bs, stmin = fc[1], fc[2]
        gap = stmin / 1000.0 if stmin <= 0x7F else (stmin - 0xF0) / 10000.0
        n = 0
        while pos < len(msg) and (bs == 0 or n < bs):
            if n:
                time.sleep(gap)
            send(bus, [0x20 | sn] + list(msg[pos : pos + 7]))
            pos += 7
            sn = (sn + 1) & 0xF
            n += 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pty")
    ap.add_argument("--silent", action="store_true")
    ap.add_argument("--bs", type=int, default=8)
    ap.add_argument("--stmin-ms", type=int, default=1)
    a = ap.parse_args()
    bus = can.Bus(interface="slcan", channel=a.pty, bitrate=500000, sleep_after_open=0)
    print("ready", flush=True)
    try:
        while True:
            msg, frames = receive(bus, a.bs, a.stmin_ms)
            fill = padding_of(frames)
            shown = "none" if fill is None else f"0x{fill:02x}"
            print(f"frame {msg.hex()} frames={len(frames)} padded={shown}", flush=True)
            if not a.silent:
                answer(bus, msg[::-1] + b"ANSWER")
    finally:
        bus.shutdown()


if __name__ == "__main__":
    main()

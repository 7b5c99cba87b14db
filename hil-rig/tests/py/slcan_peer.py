"""CAN peer for the rig's SLCAN and ISO-TP tests.

The CAN side is python-can's own `slcan` interface (its Lawicel line codec) on a PTY; the
ISO-TP segmentation here is a small independent implementation on python-can messages,
written for these tests. Prints `ready` once the bus is open, then one line per event.

usage: slcan_peer.py PTY MODE [ARGS]
  frames              receive 4 frames from the rig and print them; send 6 back
  isotp BS STMIN_MS   receive a message on 0x7E0 (flow control BS/STmin on 0x7E8), check
                      the sender's pacing, then send the message reversed back on 0x7E8
  isotp-bad-sn        send a first frame and a consecutive frame with sequence number 2
  cantools DBC        receive METER_ENERGY and METER_GRID and print cantools' decoding
"""
import json
import sys
import time

import can

RX, TX = 0x7E0, 0x7E8


def show(m):
    return {
        "id": m.arbitration_id,
        "extended": m.is_extended_id,
        "rtr": m.is_remote_frame,
        "dlc": m.dlc,
        "data": bytes(m.data).hex() if not m.is_remote_frame else "",
        "fd": m.is_fd,
        "brs": m.bitrate_switch,
    }


def recv(bus, timeout=5.0, ident=None):
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            sys.exit(f"peer: nothing received within {timeout} s")
        m = bus.recv(timeout=left)
        if m is not None and (ident is None or m.arbitration_id == ident):
            return m


def send(bus, ident, data):
    bus.send(can.Message(arbitration_id=ident, data=bytes(data), is_extended_id=False))


def frames(bus):
    for _ in range(4):
        print("got", json.dumps(show(recv(bus))), flush=True)
    send(bus, 0x123, [0x11, 0x22, 0x33])
    bus.send(can.Message(arbitration_id=0x18FF50E5, data=bytes(range(1, 9)), is_extended_id=True))
    bus.send(can.Message(arbitration_id=0x7FF, is_remote_frame=True, dlc=2, is_extended_id=False))
    bus.send(can.Message(arbitration_id=0x1ABCDEF0, is_remote_frame=True, dlc=0, is_extended_id=True))
    send(bus, 0x000, [])
    bus.send(can.Message(arbitration_id=0x456, data=bytes(range(12)), is_fd=True, bitrate_switch=True,
                         is_extended_id=False))
    print("sent", flush=True)


def receive_message(bus, bs, stmin_ms):
    """ISO-TP receiver: returns the message; checks block size and STmin on the way."""
    first = recv(bus, ident=RX)
    d = bytes(first.data)
    if d[0] >> 4 == 0:
        return d[1 : 1 + (d[0] & 0xF)]
    if d[0] >> 4 != 1:
        sys.exit(f"peer: expected a first frame, got {d.hex()}")
    total = ((d[0] & 0xF) << 8) | d[1]
    if total == 0:
        total = int.from_bytes(d[2:6], "big")
        buf = bytearray(d[6:])
    else:
        buf = bytearray(d[2:])
    sn = 1
    problems = []
    blocks = 0
    while len(buf) < total:
        fc_at = time.monotonic()
        send(bus, TX, [0x30, bs, stmin_ms])
        blocks += 1
        arrivals = []
        while len(buf) < total and (bs == 0 or len(arrivals) < bs):
            cf = bytes(recv(bus, ident=RX).data)
            arrivals.append(time.monotonic())
            if cf[0] != 0x20 | sn:
                sys.exit(f"peer: bad consecutive frame {cf.hex()} (sequence {sn} expected)")
            buf += cf[1 : 1 + min(7, total - len(buf))]
            sn = (sn + 1) & 0xF
        # The first CF may follow the FC at once; each later one at least STmin after the
        # one before, so the last arrival is at least (n-1) * STmin after the FC was sent.
        need = (len(arrivals) - 1) * stmin_ms / 1000.0
        if arrivals[-1] - fc_at < need * 0.95:
            problems.append(f"block {blocks}: {arrivals[-1] - fc_at:.4f}s < {need:.4f}s")
        if len(buf) < total:
            # The sender must now wait for our next flow control.
            early = bus.recv(timeout=0.03)
            if early is not None and early.arbitration_id == RX:
                problems.append(f"frame before flow control after block {blocks}: {early}")
                sys.exit("peer: " + "; ".join(problems))
    print(f"timing {'ok' if not problems else 'violated: ' + '; '.join(problems)} blocks={blocks}",
          flush=True)
    return bytes(buf)


def send_message(bus, msg):
    """ISO-TP sender honouring the receiver's flow control; prints each flow control."""
    total = len(msg)
    if total <= 7:
        send(bus, TX, [total] + list(msg))
        return
    if total <= 0xFFF:
        send(bus, TX, [0x10 | (total >> 8), total & 0xFF] + list(msg[:6]))
        pos = 6
    else:
        send(bus, TX, [0x10, 0x00] + list(total.to_bytes(4, "big")) + list(msg[:2]))
        pos = 2
    sn = 1
    while pos < total:
        fc = bytes(recv(bus, ident=RX).data)
        print("fc", fc.hex(), flush=True)
        if fc[0] != 0x30:
            sys.exit(f"peer: unexpected flow control {fc.hex()}")
        bs, stmin = fc[1], fc[2]
        gap = stmin / 1000.0 if stmin <= 0x7F else (stmin - 0xF0) / 10000.0
        n = 0
        while pos < total and (bs == 0 or n < bs):
            if n:
                time.sleep(gap)
            send(bus, TX, [0x20 | sn] + list(msg[pos : pos + 7]))
            pos += 7
            sn = (sn + 1) & 0xF
            n += 1


def isotp(bus, bs, stmin_ms):
    msg = receive_message(bus, bs, stmin_ms)
    print("received", len(msg), msg.hex(), flush=True)
    send_message(bus, msg[::-1])
    print("sent", flush=True)


def bad_sn(bus):
    send(bus, TX, [0x10, 20, 1, 2, 3, 4, 5, 6])
    fc = bytes(recv(bus, ident=RX).data)
    print("fc", fc.hex(), flush=True)
    send(bus, TX, [0x22, 7, 8, 9, 10, 11, 12, 13])
    print("sent", flush=True)


def cantools_decode(bus, dbc):
    import cantools

    db = cantools.database.load_file(dbc)
    for _ in range(2):
        m = recv(bus)
        # cantools keys extended-id messages with bit 31 set: force_extended_id finds them.
        decoded = db.decode_message(m.arbitration_id, bytes(m.data),
                                    force_extended_id=m.is_extended_id)
        name = db.get_message_by_frame_id(
            m.arbitration_id | (0x80000000 if m.is_extended_id else 0)).name
        values = {k: (str(v) if not isinstance(v, (int, float)) else v) for k, v in decoded.items()}
        print("decoded", name, json.dumps(values, sort_keys=True), flush=True)


def main():
    path, mode = sys.argv[1], sys.argv[2]
    bus = can.Bus(interface="slcan", channel=path, bitrate=500000, sleep_after_open=0)
    print("ready", flush=True)
    try:
        if mode == "frames":
            frames(bus)
        elif mode == "isotp":
            isotp(bus, int(sys.argv[3]), int(sys.argv[4]))
        elif mode == "isotp-bad-sn":
            bad_sn(bus)
        elif mode == "cantools":
            cantools_decode(bus, sys.argv[3])
        else:
            sys.exit(f"peer: unknown mode {mode}")
        # Let the last lines drain through the PTY before the port closes.
        time.sleep(0.2)
    finally:
        bus.shutdown()
    print("done", flush=True)


if __name__ == "__main__":
    main()

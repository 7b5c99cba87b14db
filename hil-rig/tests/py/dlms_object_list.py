"""Reads the Association LN object list (0.0.40.0.0.255 attribute 2) of a DLMS server over
TCP with HDLC framing, using the gurux client with a small PDU size, so that the server must
answer with data blocks (and with HDLC segments where its information field is small).

usage: dlms_object_list.py HOST:PORT PDU_SIZE
prints the HDLC parameters gurux read from the UA ('ua ...'), one 'object <class> <obis>' line
per entry, the number of request frames and of continuations (RR and get-next), then 'OK'."""
import socket
import sys

from gurux_dlms import GXByteBuffer, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType
from gurux_dlms.secure import GXDLMSSecureClient

host, port = sys.argv[1].rsplit(":", 1)
pdu = int(sys.argv[2])

cl = GXDLMSSecureClient(True, 16, 1, Authentication.NONE, None, InterfaceType.HDLC)
cl.maxReceivePDUSize = pdu
sock = socket.create_connection((host, int(port)), timeout=5)
stats = {"frames": 0, "rr": 0}


def trace(what, data):
    print(what, bytes(data).hex(), file=sys.stderr, flush=True)


def roundtrip(frame, reply):
    """Sends one HDLC frame and feeds received bytes to gurux until it has a whole frame."""
    sock.sendall(bytes(frame))
    trace("TX", frame)
    buf = GXByteBuffer()
    notify = GXReplyData()
    while not cl.getData(buf, reply, notify):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("server closed the connection")
        trace("RX", chunk)
        buf.set(chunk)
    stats["frames"] += 1


def call(frames, reply):
    if isinstance(frames, (bytes, bytearray)):
        frames = [frames]
    for f in frames:
        roundtrip(f, reply)
        while reply.isMoreData():
            stats["rr"] += 1
            roundtrip(cl.receiverReady(reply), reply)


r = GXReplyData()
roundtrip(cl.snrmRequest(), r)
cl.parseUAResponse(r.data)
h = cl.settings.hdlc
# The client's view of the UA parameters: what it may send, what the server sends.
print(f"ua client_tx {h.maxInfoTX} client_rx {h.maxInfoRX} window_tx {h.windowSizeTX} window_rx {h.windowSizeRX}")
r.clear()
call(cl.aarqRequest(), r)
cl.parseAareResponse(r.data)
r.clear()
call(cl.getObjectsRequest(), r)
objs = cl.parseObjects(r.data, False)
for o in objs:
    print(f"object {int(o.objectType)} {o.logicalName}")
print(f"frames {stats['frames']} continuations {stats['rr']}")
r.clear()
call(cl.releaseRequest(), r)
r.clear()
roundtrip(cl.disconnectRequest(), r)
sock.close()
print("OK")

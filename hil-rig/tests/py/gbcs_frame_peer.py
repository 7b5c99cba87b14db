"""A stand-in for a device that speaks GBCS itself, behind a TCP port.

Frames are a big-endian u32 length and then the bytes (the rig's bridged framing).
For each frame received it prints 'frame <hex>' on stdout; unless --silent, it answers
with the frame's bytes reversed followed by b'ANSWER', so that the test can check that
both directions pass untouched.  Prints 'ready <port>' once listening."""
import argparse, socket, struct, sys


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--silent", action="store_true")
    a = ap.parse_args()
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(1)
    print(f"ready {a.port}", flush=True)
    while True:
        conn, _ = ls.accept()
        print("connected", flush=True)
        while True:
            head = recv_exact(conn, 4)
            if head is None:
                break
            (n,) = struct.unpack(">I", head)
            body = recv_exact(conn, n)
            if body is None:
                break
            print("frame " + body.hex(), flush=True)
            if not a.silent:
                answer = body[::-1] + b"ANSWER"
                conn.sendall(struct.pack(">I", len(answer)) + answer)
        conn.close()


if __name__ == "__main__":
    sys.exit(main())

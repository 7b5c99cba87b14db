#!/usr/bin/env bash
# Seeds the fuzz corpora from the shared conformance data:
#   fuzz/corpus/gbcs_parse/  the binary bytes of every RTDS GBCS message (gbcs/rtds/**/*.HEX)
#   fuzz/corpus/duis_read/   the DUIS templates and XML-DSig signing vectors
#   fuzz/corpus/duis_transform/  the DUIS request templates
#   fuzz/corpus/meter_command/  the RTDS commands and Pre-Commands (*COMMAND*.HEX)
#   fuzz/corpus/registration_ingest/  a registration CSV and a JSON body (below)
#   fuzz/corpus/rig_wire/    a few peer frames to start from, at least one per decoder (below)
#   fuzz/corpus/answer_scan/ the DUIS signing vectors (responses, and requests to refuse)
# Files are named by their SHA-1, as libFuzzer names its own, so re-running adds nothing
# twice and keeps what the fuzzer has found. --clean empties every corpus first.
#
# Usage: fuzz/seed.sh [--clean]   (HUBGATE_CONFORMANCE defaults to ../shared/conformance,
# relative to the repository root)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conformance="${HUBGATE_CONFORMANCE:-$root/../shared/conformance}"
if [[ ! -d "$conformance/gbcs/rtds" || ! -d "$conformance/duis" ]]; then
    echo "seed.sh: no conformance data at $conformance (set HUBGATE_CONFORMANCE)" >&2
    exit 1
fi

corpus="$root/fuzz/corpus"
targets=(gbcs_parse duis_read duis_transform meter_command registration_ingest rig_wire answer_scan)
for t in "${targets[@]}"; do
    if [[ "${1:-}" == "--clean" ]]; then
        rm -rf "${corpus:?}/$t"
    fi
    mkdir -p "$corpus/$t"
done

python3 - "$conformance" "$corpus" <<'PY'
import hashlib
import pathlib
import sys

conformance, corpus = map(pathlib.Path, sys.argv[1:])


def put(target, data):
    (corpus / target / hashlib.sha1(data).hexdigest()).write_bytes(data)


hexes = sorted(p for p in (conformance / "gbcs" / "rtds").rglob("*") if p.suffix.upper() == ".HEX")
for p in hexes:
    put("gbcs_parse", bytes.fromhex("".join(p.read_text().split())))
    if "COMMAND" in p.name.upper():
        put("meter_command", bytes.fromhex("".join(p.read_text().split())))

# rig_wire: the first byte picks the decoder (see fuzz_targets/rig_wire.rs).
rig = [
    # SMWAN link: Register, version 1, one hub; Command to a device.
    "00" "01" "01" "0001" "00db550000000000",
    "00" "10" "00db550000000000" "00db550000000001" "dd00",
    # HDLC: SNRM from client 0x10 to server 1, flags and FCS included; then its body alone.
    "01" "7ea00a00020023219318717e",
    "02" "a00a00020023219318",
    # DLMS: a GET-Request-Normal of 0-0:1.0.0.255 attribute 2.
    "03" "c001c1000800000100ff0200",
    # SLCAN: a standard data frame.
    "04" "7431323332" "31323334",
    # ZCL: Read Attributes of the Metering cluster (0x0702), attribute 0x0000.
    "05" "0702" "00010000" "00",
    # ZNP: an SRSP SYS_PING frame as sent on the wire.
    "06" "fe02610179" "07" "1f",
    # EZSP: a legacy version command.
    "07" "000000" "08",
    # ASH: RST as an unstuffed frame, and on the wire.
    "08" "c038bc",
    "09" "1ac038bc7e",
    # A-XDR: a structure of an unsigned and an octet-string.
    "0a" "020211050903010203",
    # HDLC parameter negotiation block.
    "0b" "818012050180060180070400000001080400000001",
]
for h in rig:
    put("rig_wire", bytes.fromhex(h))

# registration_ingest: the first byte picks the format (0 CSV, 1 JSON) and max_rejects.
put("registration_ingest", b"\x04" + (
    "mpxn,fuel,role,party,effective_from,effective_to\n"
    "1100000000001,electricity,IS,90-B3-D5-1F-30-01-00-00,2000-01-01,\n"
    "1100000000001,electricity,ED,90-B3-D5-1F-30-02-00-00,2000-01-01,2030-12-31\n"
    "1000999888,gas,gas_supplier,90B3D51F30010000,2001-02-03,\n").encode())
put("registration_ingest", b"\x05" + (
    '[{"mpxn":"1100000000001","fuel":"electricity","role":"import_supplier",'
    '"party":"90-B3-D5-1F-30-01-00-00","effective_from":"2000-01-01","effective_to":null},'
    '{"mpxn":"1000999888","fuel":"gas","role":"GT","party":"90-B3-D5-1F-30-02-00-00",'
    '"effective_from":"2000-01-01","effective_to":"2040-01-01"}]').encode())

xmls = sorted(
    p
    for d in ("templates", "signing-vectors")
    for p in (conformance / "duis" / d).rglob("*")
    if p.is_file() and p.suffix.upper() == ".XML"
)
for p in xmls:
    put("duis_read", p.read_bytes())
    if "templates" in p.parts:
        put("duis_transform", p.read_bytes())
    else:
        put("answer_scan", p.read_bytes())

print(f"gbcs_parse: {len(hexes)} RTDS messages; duis_read: {len(xmls)} XML documents; "
      f"rig_wire: {len(rig)} peer frames")
PY
for t in "${targets[@]}"; do
    echo "fuzz/corpus/$t: $(find "$corpus/$t" -type f | wc -l) files"
done

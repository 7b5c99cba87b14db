#!/usr/bin/env bash
# Seeds the fuzz corpora from the shared conformance data:
#   fuzz/corpus/gbcs_parse/  the binary bytes of every RTDS GBCS message (gbcs/rtds/**/*.HEX)
#   fuzz/corpus/duis_read/   the DUIS templates and XML-DSig signing vectors
# Files are named by their SHA-1, as libFuzzer names its own, so re-running adds nothing
# twice and keeps what the fuzzer has found. --clean empties both corpora first.
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
if [[ "${1:-}" == "--clean" ]]; then
    rm -rf "$corpus/gbcs_parse" "$corpus/duis_read"
fi
mkdir -p "$corpus/gbcs_parse" "$corpus/duis_read"

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

xmls = sorted(
    p
    for d in ("templates", "signing-vectors")
    for p in (conformance / "duis" / d).rglob("*")
    if p.is_file() and p.suffix.upper() == ".XML"
)
for p in xmls:
    put("duis_read", p.read_bytes())

print(f"gbcs_parse: {len(hexes)} RTDS messages; duis_read: {len(xmls)} XML documents")
PY
for t in gbcs_parse duis_read; do
    echo "fuzz/corpus/$t: $(find "$corpus/$t" -type f | wc -l) files"
done

#!/usr/bin/env python3
"""Generate srv_catalogue.json from the shared conformance corpus and SERVICES.md.

Run once by hand (the output is checked in and reviewed):

    python3 protocol/data/gen_catalogue.py [SHARED_ROOT] > protocol/data/srv_catalogue.json

SHARED_ROOT defaults to ../shared beside the workspace. Sources:
  * conformance/duis/duis-request-matrix.json: SRV attributes and roles;
  * conformance/duis/templates/*.XML: SRV -> body element, CommandVariants seen, use-case
    name prefixes of the file names;
  * docs/SERVICES.md: body element and use-case list per SRV (cross-checked);
  * conformance/gbcs/expected.csv + rtds/<SRV>_<UseCase>/: message code per use case;
  * conformance/gbcs/use-case-table.json: title and message type per GBCS use case.
"""
import collections
import csv
import glob
import json
import os
import re
import sys
from xml.etree import ElementTree as ET

SR = "{http://www.dccinterface.co.uk/ServiceUserGateway}"


def srv_key(s):
    return [int(p) for p in s.split(".") if p]


def norm(s):
    return " ".join(s.split())


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    shared = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "..", "..", "shared")
    conf = os.path.join(shared, "conformance")

    matrix = json.load(open(os.path.join(conf, "duis", "duis-request-matrix.json")))

    # Templates: SRV -> body element(s), CVs, use-case prefixes.
    tpl_elements = collections.defaultdict(set)
    tpl_cvs = collections.defaultdict(set)
    tpl_use_cases = collections.defaultdict(set)
    tpl_service_refs = collections.defaultdict(set)
    for path in sorted(glob.glob(os.path.join(conf, "duis", "templates", "*.XML"))):
        root = ET.parse(path).getroot()
        header = root.find(SR + "Header")
        srv = header.find(SR + "ServiceReferenceVariant").text.strip()
        cv = int(header.find(SR + "CommandVariant").text)
        element = root.find(SR + "Body")[0].tag.replace(SR, "")
        tpl_service_refs[srv].add(header.find(SR + "ServiceReference").text.strip())
        tpl_elements[srv].add(element)
        tpl_cvs[srv].add(cv)
        name = os.path.basename(path)
        first = name.split("_")[0]
        if not re.match(r"^\d", first):
            tpl_use_cases[srv].add(first)

    # SERVICES.md table (rows may wrap across lines: join until the row has all cells).
    md = open(os.path.join(shared, "docs", "SERVICES.md"), encoding="utf-8").read()
    md_rows = {}
    pending = ""
    for line in md.splitlines():
        if not pending and not re.match(r"^\| \d", line):
            continue
        pending = (pending + " " + line) if pending else line
        cells = [c.strip() for c in pending.strip().strip("|").split("|")]
        if len(cells) < 10:
            continue
        pending = ""
        md_rows[cells[0]] = {
            "element": cells[7],
            "use_cases": [u.strip() for u in cells[9].split(",") if u.strip()],
        }

    # RTDS: message code per use case (from the non-alert files of <SRV>_<UseCase>).
    codes = collections.defaultdict(collections.Counter)
    alert_codes = collections.defaultdict(collections.Counter)
    srv_of_dir = {}
    with open(os.path.join(conf, "gbcs", "expected.csv"), newline="") as fh:
        for row in csv.DictReader(fh):
            d = row["path"].split("/")[0]
            srv, uc = d.split("_", 1)
            srv_of_dir[uc] = srv_of_dir.get(uc, set()) | {srv}
            if row["kind"] != "ALERT":
                codes[uc][row["message_code"]] += 1
            else:
                alert_codes[uc][row["message_code"]] += 1
    # A use case whose files are all alerts (device-originated) is identified by the alert's
    # own message code.
    for uc, counter in alert_codes.items():
        if uc not in codes:
            codes[uc] = counter
    for d in os.listdir(os.path.join(conf, "gbcs", "rtds")):
        srv, uc = d.split("_", 1)
        srv_of_dir.setdefault(uc, set()).add(srv)
    uc_code = {}
    for uc, counter in codes.items():
        if len(counter) != 1:
            sys.exit(f"use case {uc} has several message codes: {dict(counter)}")
        uc_code[uc] = next(iter(counter))

    table = json.load(open(os.path.join(conf, "gbcs", "use-case-table.json")))
    gbcs = {}
    for entry in table:
        title = norm(entry["Use Case Title"])
        code, _, rest = title.partition(" ")
        gbcs.setdefault(code, {"title": rest, "message_type": norm(entry["Message Type"])})

    def base_of(name):
        best = None
        for code in gbcs:
            if name.startswith(code) and (best is None or len(code) > len(best)):
                best = code
        return best

    srvs = []
    all_uc = set()
    for m in matrix:
        srv = m["Service Reference Variant"]
        row = md_rows.get(srv)
        if row is None:
            sys.exit(f"SERVICES.md has no row for {srv}")
        elements = sorted(tpl_elements[srv])
        if elements != [row["element"]]:
            sys.exit(f"{srv}: templates say {elements}, SERVICES.md says {row['element']}")
        critical = m["Critical"] == "Yes"
        non_device = m["Non-Device Request"] == "Yes"
        if non_device:
            cvs = [8]
        elif critical:
            cvs = [4, 5, 6, 7]
        else:
            cvs = [1, 2, 3]
        if not tpl_cvs[srv] <= set(cvs):
            sys.exit(f"{srv}: template CVs {tpl_cvs[srv]} outside {cvs}")
        # The matrix gives 6.20.x the Service Reference "6.2" (a number-formatting slip); the
        # templates (schema-valid) and the schema's enumeration say "6.20". Trust the templates.
        service_reference = m["Service Reference"]
        refs = tpl_service_refs[srv]
        if len(refs) != 1:
            sys.exit(f"{srv}: templates use Service References {refs}")
        if refs != {service_reference}:
            print(f"note: {srv}: matrix says Service Reference {service_reference}, templates say "
                  f"{next(iter(refs))}; using the templates", file=sys.stderr)
            service_reference = next(iter(refs))
        if not (srv == service_reference or srv.startswith(service_reference + ".")):
            sys.exit(f"{srv}: not within Service Reference {service_reference}")
        use_cases = list(row["use_cases"])
        for uc in sorted(tpl_use_cases[srv]):
            if uc not in use_cases:
                sys.exit(f"{srv}: template use case {uc} missing from SERVICES.md")
        for uc, srvs_of in srv_of_dir.items():
            if srv in srvs_of and uc not in use_cases:
                sys.exit(f"{srv}: RTDS use case {uc} missing from SERVICES.md")
        all_uc.update(use_cases)
        srvs.append({
            "srv": srv,
            "service_reference": service_reference,
            "name": norm(m["Service Request Name"]),
            "critical": critical,
            "on_demand": m["On Demand"] == "Yes",
            "future_dated": m["Future Dated Response Pattern"],
            "dcc_scheduled": m["DCC Scheduled"] == "Yes",
            "non_device": non_device,
            "roles": m["Eligible User Roles"],
            "body_elements": elements,
            "command_variants": cvs,
            "use_cases": [{"name": uc, "message_code": uc_code.get(uc)} for uc in use_cases],
        })
    srvs.sort(key=lambda s: srv_key(s["srv"]))

    names = all_uc | set(srv_of_dir) | set(gbcs)
    use_cases = []
    for name in names:
        base = base_of(name)
        info = gbcs.get(base, {}) if base else {}
        use_cases.append({
            "name": name,
            "message_code": uc_code.get(name),
            "base": base,
            "title": info.get("title"),
            "message_type": info.get("message_type"),
        })
    # Exact GBCS use-case codes first, so that lookups by message code prefer them.
    use_cases.sort(key=lambda u: (u["name"] != u["base"], u["name"]))

    # One record per line: diffable and easy to check by eye.
    def line(obj):
        return json.dumps(obj, ensure_ascii=False)

    out = ['{', ' "srvs": [']
    out.append(",\n".join("  " + line(s) for s in srvs))
    out.append(' ],')
    out.append(' "use_cases": [')
    out.append(",\n".join("  " + line(u) for u in use_cases))
    out.append(' ]')
    out.append('}')
    sys.stdout.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()

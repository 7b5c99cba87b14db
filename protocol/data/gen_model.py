#!/usr/bin/env python3
"""Generate the typed DUIS request-body model from the DUIS V5.4 schema.

Run by hand from the workspace root when the schema changes, then review the diff:

    python3 protocol/data/gen_model.py [SHARED_ROOT]

SHARED_ROOT (by default ../shared beside the workspace) holds
conformance/duis/schema/DUIS Schema V5.4.xsd. It writes, under protocol/src/duis/model/:
  * body/mod.rs          the `Body` enum (one variant per element of the request Body
                         choice, declared with `body_elements!`) and the family modules;
  * body/<family>.rs     one `duis_type!` description per schema type reachable from those
                         elements; the macro (body/support.rs, written by hand) expands it
                         to the Rust type, its reader (`FromXml`/`ReadGroup`) and its writer
                         (`ToXml`/`WriteGroup`);
  * body/facets.rs       the facets (ranges, lengths, patterns) of restricted simple types;
  * tables.rs            enumerations kept as tables (Service References, SRVs, response
                         codes, DCC alert codes, …).

Mapping rules (see model/xsd.rs for the leaf types):
  * complexType with a sequence -> struct, one field per element (Option for minOccurs=0,
    Vec for maxOccurs>1), attributes first; extension bases contribute their fields first
    (so `ExecutionDateTime` of FutureDatedAbstractType is the first field);
  * complexType whose whole content is one choice -> enum; a choice among other content ->
    enum-typed field; a sequence inside a choice -> a group struct;
  * simpleContent -> struct with the attributes and `value`;
  * simpleType with enumerations -> enum; other simple types -> the base's Rust type, with
    their facets checked on reading;
  * types with the same content (same elements and attributes, occurrences, leaf types,
    facets and nested content; enumerations with the same values) are emitted once, under
    the first name met; the other names become `pub type Other = First;` aliases.
The script runs rustfmt on the generated files when rustfmt is found (it leaves the macro
descriptions, laid out here, alone).
"""
import json
import os
import re
import shutil
import subprocess
import sys
from xml.etree import ElementTree as ET

XS = "{http://www.w3.org/2001/XMLSchema}"

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "..", "..", "shared")
XSD = os.path.join(SHARED, "conformance", "duis", "schema", "DUIS Schema V5.4.xsd")
OUT = os.path.join(HERE, "..", "src", "duis", "model")
CATALOGUE = os.path.join(HERE, "srv_catalogue.json")

FAMILIES = {
    "1": ("tariff", "Service Reference 1.x: tariffs, prices, meter balance, payment mode."),
    "2": ("prepayment", "Service Reference 2.x: prepayment configuration, top-up, debt, emergency credit."),
    "3": ("customer", "Service Reference 3.x: customer messages, change of tenancy, event log, supplier name, privacy PIN."),
    "4": ("reads", "Service Reference 4.x: reads of registers, logs and profile data."),
    "5": ("schedule", "Service Reference 5.x: DCC schedules."),
    "6": ("configuration", "Service Reference 6.x: device configuration and security credentials."),
    "7": ("supply", "Service Reference 7.x: supply, auxiliary loads and controllers."),
    "8": ("device_management", "Service Reference 8.x: commissioning, inventory, joining, device logs, CH status."),
    "9": ("cin", "Service Reference 9.x: customer identification number."),
    "11": ("firmware", "Service Reference 11.x: firmware distribution and activation."),
    "12": ("installation", "Service Reference 12.x: WAN matrix and device pre-notification."),
    "14": ("network_data", "Service Reference 14.x: gas network data."),
    "signed": ("signed", "The Signed Pre-Command of critical requests (CommandVariant 5, 6, 7)."),
}
COMMON = ("common", "Types shared by several service families.")

BUILTINS = {
    # xs name: (rust type, ws, bin, implied min, implied max)
    "string": ("String", "Preserve", "None", None, None),
    "token": ("String", "Collapse", "None", None, None),
    "normalizedString": ("String", "Collapse", "None", None, None),
    "boolean": ("bool", "Collapse", "None", None, None),
    "byte": ("i8", "Collapse", "None", None, None),
    "unsignedByte": ("u8", "Collapse", "None", None, None),
    "short": ("i16", "Collapse", "None", None, None),
    "unsignedShort": ("u16", "Collapse", "None", None, None),
    "int": ("i32", "Collapse", "None", None, None),
    "unsignedInt": ("u32", "Collapse", "None", None, None),
    "long": ("i64", "Collapse", "None", None, None),
    "unsignedLong": ("u64", "Collapse", "None", None, None),
    "integer": ("i64", "Collapse", "None", None, None),
    "positiveInteger": ("u64", "Collapse", "None", "1", None),
    "nonNegativeInteger": ("u64", "Collapse", "None", None, None),
    "nonPositiveInteger": ("i64", "Collapse", "None", None, "0"),
    "negativeInteger": ("i64", "Collapse", "None", None, "-1"),
    "decimal": ("xsd::Decimal", "Collapse", "None", None, None),
    "dateTime": ("xsd::DateTime", "Collapse", "None", None, None),
    "date": ("xsd::Date", "Collapse", "None", None, None),
    "time": ("xsd::Time", "Collapse", "None", None, None),
    "hexBinary": ("Vec<u8>", "Collapse", "Hex", None, None),
    "base64Binary": ("Vec<u8>", "Collapse", "Base64", None, None),
}
INTEGER_BUILTINS = {"byte", "unsignedByte", "short", "unsignedShort", "int", "unsignedInt", "long",
                    "unsignedLong", "integer", "positiveInteger", "nonNegativeInteger",
                    "nonPositiveInteger", "negativeInteger"}

RESERVED = {"Body", "Other", "Request", "Response", "Facets", "Element", "Box", "Vec", "Option",
            "String", "Result", "Self", "Some", "None", "Ok", "Err", "DateTime", "Date", "Time",
            "Decimal"}
RUST_KEYWORDS = {"as", "break", "const", "continue", "crate", "else", "enum", "extern", "false",
                 "fn", "for", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
                 "pub", "ref", "return", "self", "static", "struct", "super", "trait", "true",
                 "type", "unsafe", "use", "where", "while", "async", "await", "dyn", "abstract",
                 "become", "box", "do", "final", "macro", "override", "priv", "typeof",
                 "unsized", "virtual", "yield", "try", "gen"}


def fail(msg):
    sys.exit("gen_model: " + msg)


# ---------------------------------------------------------------------------------------------
# Naming
# ---------------------------------------------------------------------------------------------

def fix_caps(word):
    letters = [c for c in word if c.isalpha()]
    if len(letters) >= 2 and all(c.isupper() for c in letters):
        return word[0] + word[1:].lower()
    return word


def camel(name):
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    out = "".join(fix_caps(p[0].upper() + p[1:]) for p in parts)
    if not out:
        out = "Empty"
    if out[0].isdigit():
        out = "V" + out
    return out


SNAKE_SPECIAL = {"MPxN": "mpxn", "MPxNs": "mpxns"}


def snake(name):
    if name in SNAKE_SPECIAL:
        return SNAKE_SPECIAL[name]
    s = name.replace("MPxN", "Mpxn")
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", s)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    if s and s[0].isdigit():
        s = "n" + s
    if s in RUST_KEYWORDS:
        s = "r#" + s
    return s


def words(name):
    return re.findall(r"[A-Z][a-z]*|[a-z]+|[0-9]+", name)


def common_suffix(names):
    ws = [words(n) for n in names]
    out = []
    while all(len(w) > len(out) for w in ws):
        cand = ws[0][-1 - len(out)]
        if all(w[-1 - len(out)] == cand for w in ws):
            out.insert(0, cand)
        else:
            break
    while out and out[0].isdigit():
        out.pop(0)
    while out and out[-1].isdigit():
        out.pop()
    return "".join(out)


def common_prefix(names):
    ws = [words(n) for n in names]
    out = []
    for i in range(min(len(w) for w in ws)):
        if all(w[i] == ws[0][i] for w in ws):
            out.append(ws[0][i])
        else:
            break
    while out and out[-1].isdigit():
        out.pop()
    return "".join(out)


USED_TYPE_NAMES = set(RESERVED)
NAMED_RUST = {}


def named_type_name(xsd_name):
    return NAMED_RUST[xsd_name]


def unique_type_name(base):
    name = base
    n = 2
    while name in USED_TYPE_NAMES:
        name = f"{base}{n}"
        n += 1
    USED_TYPE_NAMES.add(name)
    return name


# ---------------------------------------------------------------------------------------------
# Schema model
# ---------------------------------------------------------------------------------------------

class Simple:
    def __init__(self, builtin):
        self.builtin = builtin
        self.facets = {}
        self.patterns = []
        self.enums = None
        self.enum_type = None  # Enum, once named

    def copy(self):
        s = Simple(self.builtin)
        s.facets = dict(self.facets)
        s.patterns = list(self.patterns)
        s.enums = list(self.enums) if self.enums is not None else None
        s.enum_type = self.enum_type
        return s


class Enum:
    def __init__(self, name, values, simple, doc):
        self.name = name
        self.values = values
        self.simple = simple
        self.doc = doc
        self.families = set()


class Elem:
    def __init__(self, name, min_, max_, tref):
        self.name = name
        self.min = min_
        self.max = max_  # None = unbounded
        self.tref = tref  # ("simple", Simple) | ("complex", Complex)


class Seq:
    def __init__(self, items, min_, max_):
        self.items = items
        self.min = min_
        self.max = max_


class Choice:
    def __init__(self, alts, min_, max_):
        self.alts = alts
        self.min = min_
        self.max = max_


class Complex:
    """kind: struct | enum | empty | simple | group | choice"""

    def __init__(self, name, doc):
        self.name = name
        self.doc = doc
        self.kind = None
        self.attrs = []  # (xml name, Simple, required)
        self.items = []  # particles (struct/group)
        self.alts = []  # particles (enum/choice)
        self.value = None  # Simple (simple content)
        self.families = set()
        self.refs = []
        self.fields = []  # filled by plan()
        self.variants = []


ROOT = ET.parse(XSD, parser=ET.XMLParser(target=ET.TreeBuilder(insert_comments=True))).getroot()
NAMED = {}
for child in ROOT:
    if child.tag in (XS + "complexType", XS + "simpleType"):
        NAMED[child.get("name")] = child

for _n in NAMED:
    _r = camel(_n)
    if _r in RESERVED:
        _r += "Type"
    NAMED_RUST[_n] = _r
    USED_TYPE_NAMES.add(_r)

SIMPLE_CACHE = {}
COMPLEX_CACHE = {}
ALL_COMPLEX = []
ALL_ENUMS = []


def occurs(el):
    mn = int(el.get("minOccurs", "1"))
    mx = el.get("maxOccurs", "1")
    mx = None if mx == "unbounded" else int(mx)
    return mn, mx


def resolve_simple_el(st, ctx_name, xsd_name=None, doc=None):
    r = st.find(XS + "restriction")
    if r is None:
        fail(f"simpleType {ctx_name}: only restrictions are supported")
    base = r.get("base")
    if base is None:
        fail(f"simpleType {ctx_name}: restriction without base")
    s = simple_ref(base, ctx_name).copy()
    s.enum_type = None
    enums = []
    for f in r:
        if f.tag is ET.Comment:
            continue
        tag = f.tag.replace(XS, "")
        v = f.get("value")
        if tag == "enumeration":
            enums.append(v)
        elif tag == "pattern":
            s.patterns.append(v)
        elif tag in ("minInclusive", "maxInclusive", "minExclusive", "maxExclusive", "length",
                     "minLength", "maxLength", "totalDigits", "fractionDigits"):
            s.facets[tag] = v
        elif tag == "whiteSpace":
            pass
        else:
            fail(f"simpleType {ctx_name}: unsupported facet {tag}")
    if enums:
        s.enums = enums
    if s.enums is not None and (enums or s.enum_type is None):
        if doc is None:
            doc = f"XSD simple type `sr:{xsd_name}`." if xsd_name else f"Values of `{ctx_name}`."
        rust = named_type_name(xsd_name) if xsd_name else unique_type_name(camel(ctx_name))
        e = Enum(rust, s.enums, s, doc)
        ALL_ENUMS.append(e)
        s.enum_type = e
    return s


def simple_ref(qname, ctx_name):
    if qname.startswith("xs:"):
        b = qname[3:]
        if b not in BUILTINS:
            fail(f"unsupported builtin {qname} in {ctx_name}")
        return Simple(b)
    if qname.startswith("sr:"):
        n = qname[3:]
        if n not in SIMPLE_CACHE:
            el = NAMED.get(n)
            if el is None or el.tag != XS + "simpleType":
                fail(f"{qname} is not a simple type ({ctx_name})")
            SIMPLE_CACHE[n] = resolve_simple_el(el, n, xsd_name=n)
        return SIMPLE_CACHE[n]
    fail(f"unsupported type reference {qname} in {ctx_name}")


def is_simple_name(qname):
    if qname.startswith("xs:"):
        return True
    el = NAMED.get(qname[3:])
    return el is not None and el.tag == XS + "simpleType"


def complex_ref(qname, ctx_name):
    n = qname[3:]
    if n not in COMPLEX_CACHE:
        el = NAMED.get(n)
        if el is None or el.tag != XS + "complexType":
            fail(f"{qname} is not a complex type ({ctx_name})")
        c = Complex(named_type_name(n), f"XSD complex type `sr:{n}`.")
        COMPLEX_CACHE[n] = c
        build_complex(c, el, n)
    return COMPLEX_CACHE[n]


def element_tref(el, owner):
    name = el.get("name")
    t = el.get("type")
    if el.get("ref"):
        fail(f"element ref in {owner} not supported")
    if t:
        if is_simple_name(t):
            return ("simple", simple_ref(t, f"{owner}.{name}"))
        return ("complex", complex_ref(t, f"{owner}.{name}"))
    st = el.find(XS + "simpleType")
    if st is not None:
        return ("simple", resolve_simple_el(st, anon_name(owner, name),
                                            doc=f"Values of element `{name}` in `{owner}`."))
    ct = el.find(XS + "complexType")
    if ct is not None:
        c = Complex(unique_type_name(anon_name(owner, name)),
                    f"Content of element `{name}` in `{owner}`.")
        build_complex(c, ct, owner + camel(name))
        return ("complex", c)
    fail(f"element {name} in {owner} has no type")


def anon_name(owner, element):
    """Name for the anonymous type of `element` in `owner`: the element's own name when that
    is free, else prefixed by the owner."""
    own = camel(element)
    return own if own not in USED_TYPE_NAMES else camel(owner) + own


def particle(el, owner):
    tag = el.tag.replace(XS, "")
    mn, mx = occurs(el)
    if tag == "element":
        return Elem(el.get("name"), mn, mx, element_tref(el, owner))
    kids = [k for k in el if k.tag is not ET.Comment]
    if tag == "sequence":
        items = [particle(k, owner) for k in kids]
        # A sequence holding one required element is that element with the sequence's
        # occurrence: `<sequence minOccurs="0"><element name="A"/></sequence>` is an optional A.
        if len(items) == 1 and isinstance(items[0], Elem) and items[0].min == 1 and items[0].max == 1:
            e = items[0]
            return Elem(e.name, mn, mx, e.tref)
        return Seq(items, mn, mx)
    if tag == "choice":
        return Choice([particle(k, owner) for k in kids], mn, mx)
    fail(f"unsupported particle {tag} in {owner}")


def attributes(parent, owner):
    out = []
    for a in parent.findall(XS + "attribute"):
        t = a.get("type")
        if t is None:
            st = a.find(XS + "simpleType")
            s = resolve_simple_el(st, owner + camel(a.get("name")),
                                  doc=f"Values of attribute `{a.get('name')}` of `{owner}`.")
        else:
            s = simple_ref(t, f"{owner}@{a.get('name')}")
        out.append((a.get("name"), s, a.get("use") == "required"))
    return out


def build_complex(c, el, owner):
    ALL_COMPLEX.append(c)
    kids = [k for k in el if k.tag is not ET.Comment]
    sc = el.find(XS + "simpleContent")
    cc = el.find(XS + "complexContent")
    if sc is not None:
        ext = sc.find(XS + "extension")
        if ext is None:
            fail(f"{owner}: simpleContent restriction not supported")
        base = ext.get("base")
        if is_simple_name(base):
            c.value = simple_ref(base, owner)
            c.attrs = []
        else:
            b = complex_ref(base, owner)
            if b.kind != "simple":
                fail(f"{owner}: simpleContent over non-simple {base}")
            c.value = b.value
            c.attrs = list(b.attrs)
        c.attrs += attributes(ext, owner)
        c.kind = "simple"
        return
    if cc is not None:
        ext = cc.find(XS + "extension")
        if ext is None:
            fail(f"{owner}: complexContent restriction not supported")
        b = complex_ref(ext.get("base"), owner)
        if b.kind not in ("struct", "empty"):
            fail(f"{owner}: extension of {b.name} ({b.kind}) not supported")
        items = list(b.items)
        for k in ext:
            if k.tag in (XS + "sequence", XS + "choice"):
                items.append(particle(k, owner))
        c.attrs = list(b.attrs) + attributes(ext, owner)
        finish_content(c, Seq(items, 1, 1))
        return
    items = []
    for k in kids:
        if k.tag in (XS + "sequence", XS + "choice"):
            items.append(particle(k, owner))
        elif k.tag in (XS + "attribute",):
            pass
        else:
            fail(f"{owner}: unsupported content {k.tag}")
    c.attrs = attributes(el, owner)
    finish_content(c, Seq(items, 1, 1))


def flatten(seq):
    out = []
    for it in seq.items:
        if isinstance(it, Seq) and it.min == 1 and it.max == 1:
            out.extend(flatten(it))
        else:
            out.append(it)
    return out


def finish_content(c, root):
    items = flatten(root)
    if not items:
        c.kind = "empty"
        c.items = []
        return
    if (len(items) == 1 and isinstance(items[0], Choice) and items[0].min == 1
            and items[0].max == 1 and not c.attrs):
        c.kind = "enum"
        c.alts = items[0].alts
        return
    c.kind = "struct"
    c.items = items


# ---------------------------------------------------------------------------------------------
# First sets
# ---------------------------------------------------------------------------------------------

def nullable(p):
    if isinstance(p, Elem):
        return p.min == 0
    if isinstance(p, Seq):
        return p.min == 0 or all(nullable(i) for i in p.items)
    return p.min == 0 or any(nullable(a) for a in p.alts)


def first(p):
    if isinstance(p, Elem):
        return [p.name]
    out = []
    if isinstance(p, Seq):
        for i in p.items:
            for n in first(i):
                if n not in out:
                    out.append(n)
            if not nullable(i):
                break
        return out
    for a in p.alts:
        for n in first(a):
            if n not in out:
                out.append(n)
    return out


# ---------------------------------------------------------------------------------------------
# Planning: fields, variants, helper types
# ---------------------------------------------------------------------------------------------

FACETS = {}  # key -> name
FACET_DEFS = []


def facets_expr(s):
    if s.enum_type is not None:
        return "xsd::Facets::NONE"
    rust, ws, binary, imin, imax = BUILTINS[s.builtin]
    f = dict(s.facets)
    if imin is not None and "minInclusive" not in f and "minExclusive" not in f:
        f["minInclusive"] = imin
    if imax is not None and "maxInclusive" not in f and "maxExclusive" not in f:
        f["maxInclusive"] = imax
    key = (ws, binary, tuple(sorted(f.items())), tuple(s.patterns))
    if not f and not s.patterns:
        if ws == "Preserve":
            return "xsd::Facets::STRING"
        if binary == "Hex":
            return "xsd::Facets::HEX"
        if binary == "Base64":
            return "xsd::Facets::BASE64"
        return "xsd::Facets::NONE"
    if key not in FACETS:
        name = f"F{len(FACETS) + 1}"
        FACETS[key] = name
        FACET_DEFS.append((name, ws, binary, f, s.patterns))
    return FACETS[key]


def occ_doc(mn, mx):
    if mn == 1 and mx == 1:
        return ""
    if mn == 0 and mx == 1:
        return " (optional)"
    if mx is None:
        return f" ({mn} or more)"
    if mn == mx:
        return f" (exactly {mn})"
    return f" ({mn} to {mx})"


def wrap(t, mn, mx):
    if mn == 1 and mx == 1:
        return t
    if mn == 0 and mx == 1:
        return f"Option<{t}>"
    return f"Vec<{t}>"


class Field:
    """A field of a generated type (or the payload of a choice variant).

    kind: attr | text | child | leaf | group; occ: (min, max), max None = unbounded;
    target: the Complex (child, group), the Enum or the Rust builtin type (attr, text, leaf).
    """

    def __init__(self, name, kind, occ, target, xml=None, facets=None, doc=None):
        self.name = name
        self.kind = kind
        self.occ = occ
        self.target = target
        self.xml = xml
        self.facets = facets
        self.doc = doc  # explicit doc (groups only; the macro words the others)
        self.refs = [target] if isinstance(target, (Complex, Enum)) else []

    @property
    def mode(self):
        mn, mx = self.occ
        if (mn, mx) == (1, 1):
            return "one"
        if (mn, mx) == (0, 1):
            return "opt"
        return "many"


def leaf_target(s):
    return s.enum_type if s.enum_type is not None else BUILTINS[s.builtin][0]


def particle_field(p, owner):
    """A field (or variant payload) for particle p in a sequence of `owner`, and its label."""
    if isinstance(p, Elem):
        kind, t = p.tref
        occ = (p.min, p.max)
        if kind == "complex":
            f = Field(snake(p.name), "child", occ, t, xml=p.name)
        else:
            f = Field(snake(p.name), "leaf", occ, leaf_target(t), xml=p.name, facets=facets_expr(t))
        return f, camel(p.name)
    if isinstance(p, Seq):
        names = [i.name for i in flatten(p) if isinstance(i, Elem)]
        label = common_prefix(names) if len(names) > 1 else (names[0] if names else "")
        label = label or (names[0] if names else "Group")
        base = camel(label) + "Group" if owner.kind in ("choice", "enum") else owner.name + camel(label) + "Group"
        g = Complex(unique_type_name(base),
                    f"A group of elements in `{owner.name}`: {', '.join('`%s`' % n for n in names)}.")
        g.kind = "group"
        g.items = flatten(p)
        fname = snake(label) + "_group"
    else:
        names = []
        for a in p.alts:
            names += first(a)
        label = common_suffix(names) if len(names) > 1 else ""
        if not label or label in names:
            label = "Choice"
        g = Complex(unique_type_name(owner.name + camel(label)),
                    f"Choice in `{owner.name}`: one of {', '.join('`%s`' % n for n in names)}.")
        g.kind = "choice"
        g.alts = p.alts
        fname = snake(label)
    ALL_COMPLEX.append(g)
    plan(g)
    f = Field(fname, "group", (p.min, p.max), g, doc=f"{g.doc}{occ_doc(p.min, p.max)}")
    return f, camel(label)


def dedupe(name, used):
    base = name
    n = 2
    while name in used:
        name = f"{base}_{n}" if not base.startswith("r#") else f"{base[2:]}_{n}"
        n += 1
    used.add(name)
    return name


def plan(c):
    if c.fields or c.variants:
        return
    used = set()
    if c.kind in ("struct", "simple", "group", "empty"):
        for (an, s, req) in c.attrs:
            f = Field(dedupe(snake(an), used), "attr", (1, 1) if req else (0, 1), leaf_target(s),
                      xml=an, facets=facets_expr(s))
            c.fields.append(f)
            c.refs += f.refs
        if c.kind == "simple":
            f = Field(dedupe("value", used), "text", (1, 1), leaf_target(c.value),
                      facets=facets_expr(c.value))
            c.fields.append(f)
            c.refs += f.refs
        for p in c.items:
            f, _ = particle_field(p, c)
            f.name = dedupe(f.name, used)
            c.fields.append(f)
            c.refs += f.refs
    elif c.kind in ("enum", "choice"):
        vused = set()
        for a in c.alts:
            f, label = particle_field(a, c)
            vname = dedupe(label, vused)
            c.variants.append((vname, f, a))
            c.refs += f.refs
    else:
        fail(f"plan: {c.kind}")


# ---------------------------------------------------------------------------------------------
# Merging structurally identical types
# ---------------------------------------------------------------------------------------------
#
# Many schema types (and anonymous element types) have the very same content: the same child
# elements with the same occurrences, leaf types and facets, the same attributes and nested
# content. Each such class of types is emitted once, under the name of its first member; the
# other names become type aliases of it. Unit structs stay distinct (an alias of a unit struct
# cannot be used as a value).

CLASS_IDS = {}  # structural key -> class number
TYPE_CLASS = {}  # id(Complex | Enum) -> class number
CANON = {}  # class number -> canonical Complex | Enum
VISITING = set()


def enum_class(e):
    key = ("enum", tuple(e.values), BUILTINS[e.simple.builtin][1] == "Preserve",
           e.simple.builtin in INTEGER_BUILTINS)
    return class_of(e, key)


def class_of(obj, key):
    n = CLASS_IDS.setdefault(key, len(CLASS_IDS))
    TYPE_CLASS[id(obj)] = n
    return n


def merge_classes(objs):
    """Classifies `objs` (in emission order) and names each class after its first member;
    returns class number -> members."""
    members = {}
    for o in objs:
        n = complex_class(o) if isinstance(o, Complex) else enum_class(o)
        members.setdefault(n, []).append(o)
    for n, ms in members.items():
        CANON[n] = ms[0]
    return members


def target_key(t):
    if isinstance(t, Complex):
        return ("type", complex_class(t))
    if isinstance(t, Enum):
        return ("enum", enum_class(t))
    return ("builtin", t)


def field_key(f):
    return (f.name, f.kind, f.occ, f.xml, f.facets, target_key(f.target))


def complex_class(c):
    if id(c) in TYPE_CLASS:
        return TYPE_CLASS[id(c)]
    if id(c) in VISITING:
        fail(f"recursive content in {c.name}")
    VISITING.add(id(c))
    if c.kind == "empty" and not c.attrs:
        key = ("unit", c.name)
    elif c.kind in ("enum", "choice"):
        key = (c.kind, tuple((v, field_key(f), tuple(first(a)), nullable(a)) for v, f, a in c.variants))
    else:
        key = (c.kind, tuple(field_key(f) for f in c.fields))
        if c.kind == "group":
            key += (tuple(first(Seq(c.items, 1, 1))), nullable(Seq(c.items, 1, 1)))
    VISITING.discard(id(c))
    return class_of(c, key)


def canon(obj):
    """The type emitted for `obj` (itself, or the first type with the same content)."""
    if isinstance(obj, Complex):
        return CANON[complex_class(obj)]
    return CANON[enum_class(obj)]


# ---------------------------------------------------------------------------------------------
# Rust emission
# ---------------------------------------------------------------------------------------------
#
# Every type is one invocation of `duis_type!` (body/support.rs), which writes the Rust type,
# its reader and its writer. rustfmt leaves macro bodies alone, so they are laid out here.

def rust_str(s):
    return json.dumps(s, ensure_ascii=False)


def rust_type(f):
    t = f.target
    inner = canon(t).name if isinstance(t, (Complex, Enum)) else t
    mn, mx = f.occ
    return wrap(inner, mn, mx)


def occ_tokens(occ):
    mn, mx = occ
    if (mn, mx) == (1, 1):
        return "one"
    if (mn, mx) == (0, 1):
        return "opt"
    if mx is None:
        return f"many({mn}..)"
    if mn == mx:
        return f"exactly({mn})"
    return f"many({mn}..={mx})"


def facets_arg(f):
    return "" if f.facets == "xsd::Facets::NONE" else f", {f.facets}"


def field_spec(f):
    """`<occurrence> <kind>(<args>)` as the macro reads it (facets left out when none)."""
    occ = occ_tokens(f.occ)
    if f.kind == "child":
        return f"{occ} child({rust_str(f.xml)})"
    if f.kind == "leaf":
        return f"{occ} leaf({rust_str(f.xml)}{facets_arg(f)})"
    if f.kind == "group":
        return f"{occ} group"
    if f.kind == "attr":
        return f"{occ} attr({rust_str(f.xml)}{facets_arg(f)})"
    if f.kind == "text":
        return f"one text({facets_arg(f)[2:]})"
    fail(f"field kind {f.kind}")


WIDTH = 100


def fit(head, tail, ind):
    """`head tail` on one line when it fits, else `tail` on the next line, indented."""
    line = f"{ind}{head} {tail}"
    if len(line) <= WIDTH:
        return [line]
    return [f"{ind}{head}", f"{ind}    {tail}"]


def list_lines(open_, items, close, ind):
    """`open_ item, item close` on one line when it fits, else the items wrapped."""
    line = f"{ind}{open_}{', '.join(items)}{close}"
    if len(line) <= WIDTH:
        return [line]
    out = [f"{ind}{open_}"]
    cur = ""
    for it in items:
        cand = f"{cur} {it}," if cur else f"{it},"
        if len(ind) + 4 + len(cand) > WIDTH and cur:
            out.append(f"{ind}    {cur}")
            cur = f"{it},"
        else:
            cur = cand
    out.append(f"{ind}    {cur}")
    out.append(f"{ind}{close.lstrip()}" if close.startswith("]") else f"{ind}{close}")
    return out


def wrapped_doc(text, indent=""):
    out = []
    for para in text.split("\n"):
        words_ = para.split(" ")
        cur = ""
        for wd in words_:
            cand = f"{cur} {wd}" if cur else wd
            if len(indent) + 4 + len(cand) > WIDTH and cur:
                out.append(f"{indent}/// {cur}")
                cur = wd
            else:
                cur = cand
        out.append(f"{indent}/// {cur}".rstrip())
    return out


def emit_field(f, ind):
    out = wrapped_doc(f.doc, ind) if f.doc else []
    at = "@" if f.kind == "attr" else ""
    return out + fit(f"{at}{f.name}: {rust_type(f)} =", field_spec(f) + ",", ind)


def type_doc(c, members):
    text = c.doc
    others = [m for m in members if m is not c]
    if others:
        text += "\n\nThe same content as " + ", ".join(f"[`{m.name}`]" for m in others) + "."
    return text


def emit_alias(m, c):
    doc = m.doc[:-1] if m.doc.endswith(".") else m.doc
    return wrapped_doc(f"{doc}: the same content as [`{c.name}`].") + [f"pub type {m.name} = {c.name};"]


def emit_complex(c, members):
    out = ["duis_type! {"]
    out += wrapped_doc(type_doc(c, members), "    ")
    ind = "        "
    if c.kind == "empty" and not c.attrs:
        out.append(f"    empty {c.name};")
    elif c.kind in ("struct", "empty", "simple", "group"):
        if c.kind == "group":
            items = Seq(c.items, 1, 1)
            out += list_lines(f"group {c.name} [", [rust_str(n) for n in first(items)],
                              f"] nullable({'true' if nullable(items) else 'false'}) {{", "    ")
        else:
            out.append(f"    {'simple' if c.kind == 'simple' else 'struct'} {c.name} {{")
        for f in c.fields:
            out += emit_field(f, ind)
        out.append("    }")
    else:
        firsts = []
        for _, _, a in c.variants:
            for n in first(a):
                if n not in firsts:
                    firsts.append(n)
        default = ""
        for vname, f, a in c.variants:
            if nullable(a):
                default = f" else {({'opt': 'none', 'many': 'empty', 'one': 'group'})[f.mode]}({vname})"
                break
        nl = "true" if any(nullable(a) for _, _, a in c.variants) else "false"
        out += list_lines(f"{c.kind} {c.name} [", [rust_str(n) for n in firsts],
                          f"] nullable({nl}){default} {{", "    ")
        for vname, f, a in c.variants:
            if not first(a):
                fail(f"{c.name}::{vname} has no first element")
            if f.doc:
                out += wrapped_doc(f.doc, ind)
            spec = field_spec(f)
            if f.kind == "group":
                spec += " [" + ", ".join(rust_str(n) for n in first(a)) + "]"
            out += fit(f"{vname}({rust_type(f)}) =", spec + ",", ind)
        out.append("    }")
    out.append("}")
    return out


def emit_enum(e, members):
    collapse = "false" if BUILTINS[e.simple.builtin][1] == "Preserve" else "true"
    numeric = "true" if e.simple.builtin in INTEGER_BUILTINS else "false"
    out = ["xsd::xsd_enum! {"]
    doc = e.doc
    others = [m for m in members if m is not e]
    if others:
        doc += "\n\nThe same values as " + ", ".join(f"[`{m.name}`]" for m in others) + "."
    out += wrapped_doc(doc, "    ")
    out.append(f"    pub enum {e.name} (collapse = {collapse}, numeric = {numeric}) {{")
    used = set()
    for v in e.values:
        vn = dedupe(camel(v), used)
        out.append(f"        {vn} = {rust_str(v)},")
    out.append("    }")
    out.append("}")
    return out


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------

def main():
    catalogue = json.load(open(CATALOGUE))
    srv_by_element = {}
    for s in catalogue["srvs"]:
        for e in s["body_elements"]:
            srv_by_element.setdefault(e, []).append(s["srv"])

    req = NAMED["Request"]
    body = req.find(f".//{XS}element[@name='Body']")
    choice = body.find(f"{XS}complexType/{XS}choice")
    family = None
    body_elements = []
    for k in choice:
        if k.tag is ET.Comment:
            m = re.search(r"Service Ref (\d+)\.x", k.text or "")
            if m:
                family = m.group(1)
            elif "Signed Pre-Command" in (k.text or ""):
                family = "signed"
            continue
        name = k.get("name")
        t = k.get("type")
        c = complex_ref(t, "Body")
        body_elements.append((name, c, family))

    for c in list(ALL_COMPLEX):
        plan(c)
    # plan() may add helper types while iterating
    i = 0
    while i < len(ALL_COMPLEX):
        plan(ALL_COMPLEX[i])
        i += 1

    # Family assignment by reachability from the body elements.
    def reach(c, fam, seen):
        if id(c) in seen:
            return
        seen.add(id(c))
        c.families.add(fam)
        for r in c.refs:
            if isinstance(r, Enum):
                r.families.add(fam)
            else:
                reach(r, fam, seen)

    for name, c, fam in body_elements:
        if fam is None:
            fail(f"no family for {name}")
        reach(c, fam, set())

    def family_of(families):
        if len(families) == 1:
            return FAMILIES[next(iter(families))][0]
        return COMMON[0]

    reachable = [c for c in ALL_COMPLEX if c.families] + [e for e in ALL_ENUMS if e.families]
    classes = merge_classes(reachable)
    files = {}
    for obj in reachable:
        members = classes[TYPE_CLASS[id(obj)]]
        c = members[0]
        kind = "c" if isinstance(obj, Complex) else "e"
        if obj is c:
            families = set().union(*(m.families for m in members))
            files.setdefault(family_of(families), []).append((kind, obj, members))
        else:
            files.setdefault(family_of(obj.families), []).append(("alias", obj, c))

    body_dir = os.path.join(OUT, "body")
    os.makedirs(body_dir, exist_ok=True)
    generated = []
    header = "// Generated by protocol/data/gen_model.py from the DUIS V5.4 schema. Do not edit by hand.\n"

    docs = {v[0]: v[1] for v in list(FAMILIES.values()) + [COMMON]}
    for fname, items in sorted(files.items()):
        lines = [f"//! {docs[fname]}", "//!", "//! " + header.strip()[3:], ""]
        lines += [
            "#![allow(clippy::large_enum_variant, clippy::enum_variant_names, clippy::upper_case_acronyms)]",
            "",
            "#[allow(unused_imports)]",
            "use super::facets::*;",
            "use super::support::duis_type;",
            "#[allow(unused_imports)]",
            "use super::*;",
            "#[allow(unused_imports)]",
            "use crate::duis::model::xsd;",
            "",
        ]
        # complex types (and their aliases) first, enumerations after
        for kind, obj, extra in items:
            if kind == "c" or (kind == "alias" and isinstance(obj, Complex)):
                lines += emit_complex(obj, extra) if kind == "c" else emit_alias(obj, extra)
                lines.append("")
        for kind, obj, extra in items:
            if kind == "e" or (kind == "alias" and isinstance(obj, Enum)):
                lines += emit_enum(obj, extra) if kind == "e" else emit_alias(obj, extra)
                lines.append("")
        path = os.path.join(body_dir, fname + ".rs")
        with open(path, "w") as fh:
            fh.write("\n".join(lines).rstrip() + "\n")
        generated.append(path)

    # facets.rs
    lines = ["//! Facets of the restricted simple types used by the request bodies.", "//!",
             "//! " + header.strip()[3:], "", "use crate::duis::model::xsd::{IMPORTS};", ""]
    for name, ws, binary, f, pats in FACET_DEFS:
        parts = []  # what differs from Facets::NONE (whitespace collapsed, not binary)
        if ws != "Collapse":
            parts.append(f"ws: Ws::{ws}")
        if binary != "None":
            parts.append(f"bin: Bin::{binary}")
        for k, field in (("minInclusive", "min_inclusive"), ("maxInclusive", "max_inclusive"),
                         ("minExclusive", "min_exclusive"), ("maxExclusive", "max_exclusive")):
            if k in f:
                parts.append(f"{field}: Some({rust_str(f[k])})")
        for k, field in (("length", "length"), ("minLength", "min_length"),
                         ("maxLength", "max_length"), ("totalDigits", "total_digits"),
                         ("fractionDigits", "fraction_digits")):
            if k in f:
                parts.append(f"{field}: Some({int(f[k])})")
        if pats:
            parts.append("patterns: &[" + ", ".join(rust_str(p) for p in pats) + "]")
        lines.append(f"pub(super) static {name}: Facets = Facets {{ {', '.join(parts)}, ..Facets::NONE }};")
    used = ["Bin"] * any(" Bin::" in l for l in lines) + ["Facets"] + ["Ws"] * any(" Ws::" in l for l in lines)
    lines = [l.replace("{IMPORTS}", "{" + ", ".join(used) + "}" if len(used) > 1 else used[0]) for l in lines]
    path = os.path.join(body_dir, "facets.rs")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    # one facet set a line, as a table: mod.rs declares the module `#[rustfmt::skip]`

    # mod.rs
    lines = [
        "//! The `sr:Body` of a DUIS request: one typed variant per element of the schema's",
        "//! request choice, and the types of their content, grouped by service family.",
        "//!",
        "//! " + header.strip()[3:],
        "",
        "#![allow(clippy::large_enum_variant)]",
        "",
    ]
    mods = sorted(f for f in files)
    lines.append("mod support;")
    for m in mods:
        lines.append(f"mod {m};")
    lines.append("#[rustfmt::skip]")
    lines.append("mod facets;")
    lines.append("")
    for m in mods:
        lines.append(f"pub use {m}::*;")
    lines.append("")
    lines += [
        "use support::body_elements;",
        "use crate::duis::reader as rd;",
        "use crate::duis::xml::Element;",
        "",
        "body_elements! {",
        "    /// The service element of a request `Body`.",
        "    ///",
        "    /// Every element of the schema's request choice has a typed variant. [`Body::Other`]",
        "    /// holds a raw subtree instead; the reader never produces it, but a caller may use it to",
        "    /// pass through an element that is only known as XML.",
        "    pub enum Body {",
    ]
    for name, c, fam in body_elements:
        srvs = srv_by_element.get(name, [])
        what = f"SRV {', '.join(srvs)}" if srvs else "CommandVariant 5, 6 or 7 of a critical SRV"
        f0 = c.fields[0] if c.fields else None
        dated = ""
        if f0 is not None and f0.name == "execution_date_time":
            dated = f" dated({f0.mode})"
        lines += wrapped_doc(f"`{name}` ({what}).", "        ")
        lines += fit(f"{camel(name)}({c.name}) =", f"{rust_str(name)}{dated},", "        ")
    lines += [
        "    }",
        "}",
        "",
        "impl Body {",
        "    /// Wraps a raw service element as [`Body::Other`]; `Err` gives the element back when",
        "    /// it is not a DUIS element named in the schema's request choice.",
        "    #[allow(clippy::result_large_err)]",
        "    pub fn other(xml: Element) -> Result<Body, Element> {",
        "        if xml.ns.as_deref() == Some(crate::duis::NS_SR) && Body::ELEMENTS.contains(&xml.local.as_str()) {",
        "            Ok(Body::Other { element: xml.local.clone(), xml })",
        "        } else {",
        "            Err(xml)",
        "        }",
        "    }",
        "",
        "    /// Reads a [`Body::Other`] into its typed variant (other variants are returned as is).",
        "    ///",
        "    /// # Errors",
        "    ///",
        "    /// What reading the element reports.",
        "    pub fn into_typed(self) -> Result<Body, rd::ReadError> {",
        "        let Body::Other { xml, .. } = &self else { return Ok(self) };",
        "        let holder = Element { children: vec![crate::duis::xml::Node::Element(xml.clone())], ..Element::new(None, \"Body\", Some(crate::duis::NS_SR)) };",
        "        let path = rd::Path::ROOT;",
        "        let body_path = path.child(\"Body\");",
        "        let mut c = rd::Cursor::new(&holder, &body_path)?;",
        "        let body = Body::read_element(&mut c)?;",
        "        c.finish()?;",
        "        Ok(body)",
        "    }",
        "}",
    ]
    path = os.path.join(body_dir, "mod.rs")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    generated.append(path)

    # tables.rs
    def enum_values(simple_name):
        st = NAMED[simple_name]
        return [e.get("value") for e in st.iter(XS + "enumeration")]

    resp_msg = NAMED["ResponseMessage"]
    resp_choice = [e.get("name") for e in resp_msg.find(f"{XS}sequence/{XS}choice") if e.tag is not ET.Comment]
    typed = {"CINMessage", "DSPScheduledMessage", "DSPScheduleID", "FutureDatedDeviceAlertMessage",
             "GBCSPayload", "LocalCommand", "PreCommand"}
    dcc_alert_code = NAMED["DCCAlertMessage"].find(f".//{XS}element[@name='DCCAlertCode']")
    dcc_codes = [e.get("value") for e in dcc_alert_code.iter(XS + "enumeration")]
    dcc_elements = [e.get("name") for e in NAMED["DCCAlert"].find(XS + "choice") if e.tag is not ET.Comment]
    tables = [
        ("SERVICE_REFERENCES", "Every `sr:ServiceReference` value.", enum_values("ServiceReference")),
        ("SERVICE_REFERENCE_VARIANTS", "Every `sr:ServiceReferenceVariant` value.", enum_values("ServiceReferenceVariant")),
        ("RESPONSE_CODES", "Every `sr:ResponseCode` value.", enum_values("ResponseCode")),
        ("DCC_ALERT_CODES", "Every `DCCAlertCode` value.", dcc_codes),
        ("DCC_ALERT_ELEMENTS", "The elements of the `sr:DCCAlert` choice.", dcc_elements),
        ("RESPONSE_DSP_ELEMENTS", "`ResponseMessage` payload elements kept as raw subtrees.",
         [n for n in resp_choice if n not in typed]),
    ]
    lines = ["//! Enumerations of the DUIS V5.4 schema kept as tables.", "//!", "//! " + header.strip()[3:], ""]
    for name, doc, values in tables:
        lines.append(f"/// {doc}")
        lines.append(f"pub const {name}: &[&str] = &[")
        for v in values:
            lines.append(f"    {rust_str(v)},")
        lines.append("];")
        lines.append("")
    path = os.path.join(OUT, "tables.rs")
    with open(path, "w") as fh:
        fh.write("\n".join(lines))
    generated.append(path)

    rustfmt = shutil.which("rustfmt")
    if rustfmt:
        subprocess.run([rustfmt, "--edition", "2024"] + generated, check=False)
    print(f"gen_model: {len(body_elements)} body elements, "
          f"{sum(1 for c in ALL_COMPLEX if c.families)} complex types, "
          f"{sum(1 for e in ALL_ENUMS if e.families)} enums, {len(FACET_DEFS)} facet sets, "
          f"{len(files)} family files; "
          f"{sum(1 for items in files.values() for k, _, _ in items if k == 'alias')} names "
          f"emitted as aliases of a type with the same content", file=sys.stderr)


if __name__ == "__main__":
    main()

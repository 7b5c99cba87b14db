#!/usr/bin/env python3
"""Generate the typed DUIS request-body model from the DUIS V5.4 schema.

Run by hand from the workspace root when the schema changes, then review the diff:

    python3 protocol/data/gen_model.py [SHARED_ROOT]

It writes, under protocol/src/duis/model/:
  * body/mod.rs          the `Body` enum (one variant per element of the request Body
                         choice) and the family modules;
  * body/<family>.rs     one Rust type per schema type reachable from those elements, with
                         its reader (`FromXml`/`ReadGroup`) and writer (`ToXml`/`WriteGroup`);
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
    their facets checked on reading.
Afterwards run rustfmt on the generated files (the script does it when rustfmt is found).
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


def simple_rust(s):
    if s.enum_type is not None:
        return s.enum_type.name
    return BUILTINS[s.builtin][0]


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


def max_expr(mx):
    return "None" if mx is None else f"Some({mx})"


class Field:
    def __init__(self, name, rust_type, doc, read, write_one, mode, refs):
        self.name = name
        self.rust_type = rust_type
        self.doc = doc
        self.read = read  # expression reading from cursor `c`
        self.write_one = write_one  # format with {v} = reference to one value
        self.mode = mode  # one | opt | many
        self.refs = refs


def elem_reader(e):
    kind, t = e.tref
    if kind == "complex":
        return f"{t.name}::from_xml", f'w.child("{e.name}", {{v}});', [t]
    fx = facets_expr(t)
    rt = simple_rust(t)
    refs = [t.enum_type] if t.enum_type is not None else []
    return f"rd::leaf::<{rt}>(&{fx})", f'w.leaf("{e.name}", {{v}}, &{fx});', refs


def elem_type(e):
    kind, t = e.tref
    return t.name if kind == "complex" else simple_rust(t)


def particle_field(p, owner, used_names, index):
    """A field (or variant payload) for particle p in a sequence of `owner`."""
    if isinstance(p, Elem):
        rf, w1, refs = elem_reader(p)
        t = wrap(elem_type(p), p.min, p.max)
        if p.min == 1 and p.max == 1:
            read, mode = f'c.one("{p.name}", {rf})?', "one"
        elif p.min == 0 and p.max == 1:
            read, mode = f'c.opt("{p.name}", {rf})?', "opt"
        else:
            read, mode = f'c.many("{p.name}", {p.min}, {max_expr(p.max)}, {rf})?', "many"
        return Field(snake(p.name), t, f"`{p.name}`{occ_doc(p.min, p.max)}.", read, w1, mode,
                     refs), camel(p.name)
    if isinstance(p, Seq):
        names = [i.name for i in flatten(p) if isinstance(i, Elem)]
        label = common_prefix(names) if len(names) > 1 else (names[0] if names else "")
        label = label or (names[0] if names else "Group")
        base = camel(label) + "Group" if owner.kind in ("choice", "enum") else owner.name + camel(label) + "Group"
        g = Complex(unique_type_name(base),
                    f"A group of elements in `{owner.name}`: {', '.join('`%s`' % n for n in names)}.")
        g.kind = "group"
        g.items = flatten(p)
        ALL_COMPLEX.append(g)
        plan(g)
        gname = g.name
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
        ALL_COMPLEX.append(g)
        plan(g)
        gname = g.name
        fname = snake(label)
    t = wrap(gname, p.min, p.max)
    if p.min == 1 and p.max == 1:
        read, mode = f"c.group::<{gname}>()?", "one"
    elif p.min == 0 and p.max == 1:
        read, mode = f"c.opt_group::<{gname}>()?", "opt"
    else:
        read, mode = f"c.many_groups::<{gname}>({p.min}, {max_expr(p.max)})?", "many"
    return Field(fname, t, f"{g.doc}{occ_doc(p.min, p.max)}", read, "w.group({v});", mode,
                 [g]), camel(label)


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
            fx = facets_expr(s)
            rt = simple_rust(s)
            fname = dedupe(snake(an), used)
            if req:
                read = f'rd::attr::<{rt}>(el, path, "{an}", &{fx})?'
                t = rt
            else:
                read = f'rd::opt_attr::<{rt}>(el, path, "{an}", &{fx})?'
                t = f"Option<{rt}>"
            f = Field(fname, t, f"Attribute `{an}`{'' if req else ' (optional)'}.", read,
                      f'w.attr("{an}", {{v}}, &{fx});', "one" if req else "opt",
                      [s.enum_type] if s.enum_type else [])
            f.attr = True
            c.fields.append(f)
            c.refs += f.refs
        if c.kind == "simple":
            fx = facets_expr(c.value)
            rt = simple_rust(c.value)
            f = Field(dedupe("value", used), rt, "The element's value.",
                      f"rd::simple_content::<{rt}>(el, path, &{fx})?", f"w.text({{v}}, &{fx});",
                      "one", [c.value.enum_type] if c.value.enum_type else [])
            f.value = True
            c.fields.append(f)
            c.refs += f.refs
        for i, p in enumerate(c.items):
            f, _ = particle_field(p, c, used, i)
            f.name = dedupe(f.name, used)
            c.fields.append(f)
            c.refs += f.refs
    elif c.kind in ("enum", "choice"):
        vused = set()
        for a in c.alts:
            f, label = particle_field(a, c, set(), 0)
            vname = dedupe(label, vused)
            c.variants.append((vname, f, a))
            c.refs += f.refs
    else:
        fail(f"plan: {c.kind}")


# ---------------------------------------------------------------------------------------------
# Rust emission
# ---------------------------------------------------------------------------------------------

def rust_str(s):
    return json.dumps(s, ensure_ascii=False)


def doc_lines(text, indent=""):
    return [f"{indent}/// {line}".rstrip() for line in text.split("\n")]


def write_value(f, expr):
    return f.write_one.format(v=expr)


def emit_fields_read(c, out, ind):
    for f in c.fields:
        if getattr(f, "attr", False) or getattr(f, "value", False):
            continue
        out.append(f"{ind}let {f.name} = {f.read};")


def emit_field_write(f, out, ind, base="self."):
    target = f"&{base}{f.name}" if base else f.name
    if f.mode == "one":
        out.append(f"{ind}{write_value(f, target)}")
    elif f.mode == "opt":
        out.append(f"{ind}if let Some(v) = {target} {{ {write_value(f, 'v')} }}")
    else:
        out.append(f"{ind}for v in {target} {{ {write_value(f, 'v')} }}")


def emit_complex(c):
    out = []
    derive = "#[derive(Debug, Clone, PartialEq, Eq)]"
    if c.kind == "empty" and not c.attrs:
        out += doc_lines(c.doc)
        out.append("#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]")
        out.append(f"pub struct {c.name};")
        out.append("")
        out.append(f"impl rd::FromXml for {c.name} {{")
        out.append("    fn from_xml(el: &Element, path: &rd::Path<'_>) -> Result<Self, rd::ReadError> {")
        out.append("        rd::empty_content(el, path)?;")
        out.append(f"        Ok({c.name})")
        out.append("    }")
        out.append("}")
        out.append("")
        out.append(f"impl wr::ToXml for {c.name} {{")
        out.append("    fn write_content(&self, _w: &mut wr::XmlWriter) {}")
        out.append("}")
        return out
    if c.kind in ("struct", "simple", "group", "empty"):
        out += doc_lines(c.doc)
        out.append(derive)
        out.append(f"pub struct {c.name} {{")
        for f in c.fields:
            out += doc_lines(f.doc, "    ")
            out.append(f"    pub {f.name}: {f.rust_type},")
        out.append("}")
        out.append("")
        names = ", ".join(f.name for f in c.fields)
        content_fields = [f for f in c.fields if not getattr(f, "attr", False) and not getattr(f, "value", False)]
        if c.kind == "group":
            out.append(f"impl rd::ReadGroup for {c.name} {{")
            fs = ", ".join(rust_str(n) for n in first(Seq(c.items, 1, 1)))
            out.append(f"    const FIRST: &'static [&'static str] = &[{fs}];")
            out.append(f"    const NULLABLE: bool = {'true' if nullable(Seq(c.items, 1, 1)) else 'false'};")
            out.append("")
            out.append("    fn read_group(c: &mut rd::Cursor<'_>) -> Result<Self, rd::ReadError> {")
            emit_fields_read(c, out, "        ")
            out.append(f"        Ok({c.name} {{ {names} }})")
            out.append("    }")
            out.append("}")
            out.append("")
            out.append(f"impl wr::WriteGroup for {c.name} {{")
            out.append("    fn write_group(&self, w: &mut wr::XmlWriter) {")
            for f in c.fields:
                emit_field_write(f, out, "        ")
            out.append("    }")
            out.append("}")
            return out
        allowed = ", ".join(rust_str(a[0]) for a in c.attrs)
        out.append(f"impl rd::FromXml for {c.name} {{")
        out.append("    fn from_xml(el: &Element, path: &rd::Path<'_>) -> Result<Self, rd::ReadError> {")
        out.append(f"        rd::check_attrs(el, path, &[{allowed}])?;")
        for f in c.fields:
            if getattr(f, "attr", False):
                out.append(f"        let {f.name} = {f.read};")
        if c.kind == "simple":
            vf = [f for f in c.fields if getattr(f, "value", False)][0]
            out.append(f"        let {vf.name} = {vf.read};")
        else:
            mut = "mut " if content_fields else ""
            out.append(f"        let {mut}c = rd::Cursor::new(el, path)?;")
            emit_fields_read(c, out, "        ")
            out.append("        c.finish()?;")
        out.append(f"        Ok({c.name} {{ {names} }})")
        out.append("    }")
        out.append("}")
        out.append("")
        out.append(f"impl wr::ToXml for {c.name} {{")
        attr_fields = [f for f in c.fields if getattr(f, "attr", False)]
        if attr_fields:
            out.append("    fn write_attrs(&self, w: &mut wr::XmlWriter) {")
            for f in attr_fields:
                emit_field_write(f, out, "        ")
            out.append("    }")
            out.append("")
        body_fields = [f for f in c.fields if not getattr(f, "attr", False)]
        wname = "w" if body_fields else "_w"
        out.append(f"    fn write_content(&self, {wname}: &mut wr::XmlWriter) {{")
        for f in body_fields:
            emit_field_write(f, out, "        ")
        out.append("    }")
        out.append("}")
        return out
    # enum / choice
    out += doc_lines(c.doc)
    out.append("#[derive(Debug, Clone, PartialEq, Eq)]")
    out.append(f"pub enum {c.name} {{")
    for vname, f, a in c.variants:
        out += doc_lines(f.doc, "    ")
        out.append(f"    {vname}({f.rust_type}),")
    out.append("}")
    out.append("")
    firsts = []
    for _, _, a in c.variants:
        for n in first(a):
            if n not in firsts:
                firsts.append(n)
    is_nullable = any(nullable(a) for _, _, a in c.variants)
    out.append(f"impl rd::ReadGroup for {c.name} {{")
    out.append(f"    const FIRST: &'static [&'static str] = &[{', '.join(rust_str(n) for n in firsts)}];")
    out.append(f"    const NULLABLE: bool = {'true' if is_nullable else 'false'};")
    out.append("")
    out.append("    fn read_group(c: &mut rd::Cursor<'_>) -> Result<Self, rd::ReadError> {")
    out.append("        match c.peek() {")
    default = None
    for vname, f, a in c.variants:
        pats = " | ".join(f"Some({rust_str(n)})" for n in first(a))
        if pats:
            out.append(f"            {pats} => Ok({c.name}::{vname}({f.read})),")
        if default is None and nullable(a):
            if f.mode == "opt":
                default = f"Ok({c.name}::{vname}(None))"
            elif f.mode == "many":
                default = f"Ok({c.name}::{vname}(Vec::new()))"
            else:
                default = f"Ok({c.name}::{vname}({f.read}))"
    if default is None:
        default = "Err(c.no_alternative(Self::FIRST))"
    out.append(f"            _ => {default},")
    out.append("        }")
    out.append("    }")
    out.append("}")
    out.append("")
    out.append(f"impl wr::WriteGroup for {c.name} {{")
    out.append("    fn write_group(&self, w: &mut wr::XmlWriter) {")
    out.append("        match self {")
    for vname, f, a in c.variants:
        inner = []
        emit_field_write(Field("v", "", "", "", f.write_one, f.mode, []), inner, "", base="")
        out.append(f"            {c.name}::{vname}(v) => {{ {inner[0]} }}")
    out.append("        }")
    out.append("    }")
    out.append("}")
    if c.kind == "enum":
        out.append("")
        out.append(f"impl rd::FromXml for {c.name} {{")
        out.append("    fn from_xml(el: &Element, path: &rd::Path<'_>) -> Result<Self, rd::ReadError> {")
        out.append("        rd::check_attrs(el, path, &[])?;")
        out.append("        let mut c = rd::Cursor::new(el, path)?;")
        out.append("        let v = c.group::<Self>()?;")
        out.append("        c.finish()?;")
        out.append("        Ok(v)")
        out.append("    }")
        out.append("}")
        out.append("")
        out.append(f"impl wr::ToXml for {c.name} {{")
        out.append("    fn write_content(&self, w: &mut wr::XmlWriter) {")
        out.append("        w.group(self);")
        out.append("    }")
        out.append("}")
    return out


def emit_enum(e):
    collapse = "false" if BUILTINS[e.simple.builtin][1] == "Preserve" else "true"
    numeric = "true" if e.simple.builtin in INTEGER_BUILTINS else "false"
    out = ["xsd::xsd_enum! {"]
    out += doc_lines(e.doc, "    ")
    out.append(f"    pub enum {e.name} (collapse = {collapse}, numeric = {numeric}) {{")
    used = set()
    for v in e.values:
        vn = dedupe(camel(v), used)
        out.append(f"        /// `{v}`.")
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

    def family_of(obj):
        if len(obj.families) == 1:
            return FAMILIES[next(iter(obj.families))][0]
        return COMMON[0]

    files = {}
    for c in ALL_COMPLEX:
        if not c.families:
            continue
        files.setdefault(family_of(c), []).append(("c", c))
    for e in ALL_ENUMS:
        if not e.families:
            continue
        files.setdefault(family_of(e), []).append(("e", e))

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
            "#[allow(unused_imports)]",
            "use super::*;",
            "#[allow(unused_imports)]",
            "use crate::duis::model::xsd;",
            "use crate::duis::reader as rd;",
            "#[allow(unused_imports)]",
            "use crate::duis::reader::FromXml as _;",
            "use crate::duis::writer as wr;",
            "use crate::duis::xml::Element;",
            "",
        ]
        # public items first: structs/enums with their impls, enums (leaf) after
        for kind, obj in items:
            if kind == "c":
                lines += emit_complex(obj)
                lines.append("")
        for kind, obj in items:
            if kind == "e":
                lines += emit_enum(obj)
                lines.append("")
        path = os.path.join(body_dir, fname + ".rs")
        with open(path, "w") as fh:
            fh.write("\n".join(lines).rstrip() + "\n")
        generated.append(path)

    # facets.rs
    lines = ["//! Facets of the restricted simple types used by the request bodies.", "//!",
             "//! " + header.strip()[3:], "", "use crate::duis::model::xsd::{Bin, Facets, Ws};", ""]
    for name, ws, binary, f, pats in FACET_DEFS:
        parts = [f"ws: Ws::{ws}", f"bin: Bin::{binary}"]
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
    path = os.path.join(body_dir, "facets.rs")
    with open(path, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    generated.append(path)

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
    for m in mods:
        lines.append(f"mod {m};")
    lines.append("mod facets;")
    lines.append("")
    for m in mods:
        lines.append(f"pub use {m}::*;")
    lines.append("")
    lines += [
        "use crate::duis::model::xsd;",
        "use crate::duis::reader as rd;",
        "use crate::duis::writer as wr;",
        "use crate::duis::xml::Element;",
        "",
        "/// The service element of a request `Body`.",
        "///",
        "/// Every element of the schema's request choice has a typed variant. [`Body::Other`]",
        "/// holds a raw subtree instead; the reader never produces it, but a caller may use it to",
        "/// pass through an element that is only known as XML.",
        "#[derive(Debug, Clone, PartialEq, Eq)]",
        "pub enum Body {",
    ]
    for name, c, fam in body_elements:
        srvs = srv_by_element.get(name, [])
        what = f"SRV {', '.join(srvs)}" if srvs else "CommandVariant 5, 6 or 7 of a critical SRV"
        lines.append(f"    /// `{name}` ({what}).")
        lines.append(f"    {camel(name)}(Box<{c.name}>),")
    lines += [
        "    /// A schema element kept as a raw subtree (`xml` is the element itself).",
        "    Other {",
        "        /// Local name of the element.",
        "        element: String,",
        "        /// The element.",
        "        xml: Element,",
        "    },",
        "}",
        "",
        "impl Body {",
        "    /// Local names of every element of the schema's request `Body` choice.",
        "    pub const ELEMENTS: &'static [&'static str] = &[",
    ]
    for name, c, fam in body_elements:
        lines.append(f"        {rust_str(name)},")
    lines += ["    ];", "", "    /// Local name of the body element.", "    pub fn element_name(&self) -> &str {", "        match self {"]

    def vname(name):
        return camel(name)

    for name, c, fam in body_elements:
        lines.append(f"            Body::{vname(name)}(_) => {rust_str(name)},")
    lines += ["            Body::Other { element, .. } => element,", "        }", "    }", ""]
    lines += [
        "    /// The `ExecutionDateTime` of a future-datable body, if present.",
        "    pub fn execution_date_time(&self) -> Option<&xsd::DateTime> {",
        "        match self {",
    ]
    for name, c, fam in body_elements:
        f0 = c.fields[0] if c.fields else None
        if f0 is not None and f0.name == "execution_date_time":
            if f0.mode == "opt":
                lines.append(f"            Body::{vname(name)}(b) => b.execution_date_time.as_ref(),")
            else:
                lines.append(f"            Body::{vname(name)}(b) => Some(&b.execution_date_time),")
    lines += ["            _ => None,", "        }", "    }", ""]
    lines += [
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
        "",
        "    /// Reads the next element of `c` as a body element.",
        "    ///",
        "    /// # Errors",
        "    ///",
        "    /// [`rd::ReadErrorKind::UnknownBodyElement`] for an element outside the schema's",
        "    /// choice, or whatever reading its content reports.",
        "    pub fn read_element(c: &mut rd::Cursor<'_>) -> Result<Body, rd::ReadError> {",
        "        match c.peek() {",
    ]
    for name, c, fam in body_elements:
        lines.append(f"            Some({rust_str(name)}) => Ok(Body::{vname(name)}(Box::new(c.one({rust_str(name)}, {c.name}::from_xml)?))),")
    lines += [
        "            Some(other) => Err(c.path().error(rd::ReadErrorKind::UnknownBodyElement(other.to_owned()))),",
        "            None => Err(c.path().error(rd::ReadErrorKind::Missing { expected: \"a service element\".to_owned(), found: None })),",
        "        }",
        "    }",
        "",
        "    /// Writes the body element.",
        "    pub fn write_element(&self, w: &mut wr::XmlWriter) {",
        "        match self {",
    ]
    for name, c, fam in body_elements:
        lines.append(f"            Body::{vname(name)}(b) => w.child({rust_str(name)}, b.as_ref()),")
    lines += ["            Body::Other { xml, .. } => w.raw(xml),", "        }", "    }", "}", ""]
    lines.append("use rd::FromXml as _;")
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
          f"{len(files)} family files", file=sys.stderr)


if __name__ == "__main__":
    main()

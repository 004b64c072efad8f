#!/usr/bin/python3
"""Generate hostile inputs for cyoda_wf's JSON entry points (stdlib only).

Writes CSV rows  id,target,a,b,c  for COPY into fuzz.input (see fuzz.sql):

  cond      a = condition text, b = data text          check_condition(a::jsonb, b::jsonb)
  import    a = import body text, b = model, c = data  import_workflows(b, 1, a::jsonb),
                                                        then add_item + fires (runs criteria)
  vdesign   a = design text                            validate_design(a) (text and jsonb forms)
  idesign   a = design text, b = function schema       import_design(a::jsonb, b)
  search    a = condition text, b = model              search(b, 1, a::jsonb)

Inputs are mutations of valid documents (the example order workflow, the
data_pipeline design, a set of seed conditions), generated documents, deep
nesting, wide groups (also of one path and one operator, which are merged,
up to beyond the 10,000-node limit), huge strings, wrong types, odd Unicode,
invalid JSON text (lone surrogates, \\u0000, truncation, duplicate keys,
trailing garbage).

usage: gen.py --count N [--design-count N] [--search-count N] [--seed S]
              [--big N] --order FILE --design FILE [--design FILE ...] > inputs.csv
"""
import argparse
import csv
import json
import random
import sys

OPS = ["EQUALS", "NOT_EQUAL", "GREATER_THAN", "GREATER_OR_EQUAL", "LESS_THAN",
       "LESS_OR_EQUAL", "CONTAINS", "NOT_CONTAINS", "STARTS_WITH", "NOT_STARTS_WITH",
       "ENDS_WITH", "NOT_ENDS_WITH", "LIKE", "IS_NULL", "NOT_NULL", "BETWEEN",
       "BETWEEN_INCLUSIVE", "MATCHES_PATTERN", "IEQUALS", "INOT_EQUAL", "ICONTAINS",
       "INOT_CONTAINS", "ISTARTS_WITH", "INOT_STARTS_WITH", "IENDS_WITH", "INOT_ENDS_WITH"]
LIFE_FIELDS = ["state", "creationDate", "lastUpdateTime", "previousTransition",
               "transitionForLatestSave", "id"]

# Strings that have broken parsers elsewhere; all valid JSON string content.
ODD_STRINGS = [
    "", " ", "$", "$.", "$..a", "$[", "$[]", "$[*", "$[*]", "$['", "$['a'", "$['a']",
    "$[\"a\"]", "$[-1]", "$[2147483648]", "$[99999999999999999999]", "$.*", "$[*][*][*]",
    "a.b.c", ".a", "[0]", "$.a[0].b[*].c", "$['\\'']", "$['a\\\\']", "\\", "\\\\", "'", "\"",
    "%", "_", "%%", "\\%", "%_%_%", "a%b_c", "(", ")", "[", "]", "{", "}", "(?i)ABC",
    "***:abc", "***=abc", "(?x) a # comment", "(?b)a", "(?q)a", "(a+)+$", "(a|aa)+$",
    "(.*a){20}", "\\1", "(a)\\1", "[[:alpha:]]+", "[z-a]", "a{1000,}", "a{2,1}",
    "x" * 300, "é" * 300, "\u202e\u202d", "\u200b\u200c\u200d\ufeff", "\uffff\ufffe",
    "\U0001f680\U0001f4a9", "a\u0301\u0301\u0301", "\u0130\u0131", "ß", "ǅ", "Σσς",
    "\t\n\r", "\u2028\u2029", "1e1000", "1e1001", "-0", "0.0000000001", "NaN", "Infinity",
    "true", "false", "null", "2024-01-01", "2024-13-45", "now", "today", "epoch",
    "infinity", "-infinity", "2024-01-01T00:00:00+99:00", "J2451187", "allballs",
    "%s%s%s%n%n", "'; DROP TABLE t; --", "\"; select pg_sleep(10); --", "$$", "$q$",
    "\u00a0", "\ud7ff", "\ue000", "\U0010ffff",
]
# Characters from every plane but the surrogates (which cannot be UTF-8).
_pool_rng = random.Random(1)
UNICODE_POOL = [chr(c) for c in
                [_pool_rng.randint(0x20, 0x7e) for _ in range(200)] +
                [_pool_rng.randint(0xa0, 0x2fff) for _ in range(400)] +
                [_pool_rng.randint(0xe000, 0xfffd) for _ in range(100)] +
                [_pool_rng.randint(0x10000, 0x10ffff) for _ in range(300)] +
                [0x0301, 0x200b, 0x202e, 0xfeff, 0xfffe, 0xffff, 0x10ffff, 0x7f, 0x85]]
ODD_NUMBERS = [0, -0.0, 1, -1, 2 ** 31, -2 ** 31 - 1, 2 ** 63, -2 ** 63 - 1, 2 ** 64,
               10 ** 40, 1.5, 1e-300, 1e300, 123456789012345678901234567890]
ODD_NUMBER_TEXT = ["1e400", "-1e400", "1e-400", "1E+1000", "1e131072", "1e-16383",
                   "0e99999999", "1" * 1000, "0." + "0" * 2000 + "1", "-0.0", "1.0e+0"]


def clone(doc):
    """A deep copy of a JSON document (much faster than copy.deepcopy)."""
    return json.loads(json.dumps(doc))


class Gen:
    def __init__(self, rng, order_body, designs):
        self.r = rng
        self.order_body = order_body
        self.designs = designs

    # ---- primitives -------------------------------------------------------
    def rstr(self, maxlen=12):
        r = self.r
        k = r.random()
        if k < 0.35:
            return r.choice(ODD_STRINGS)
        if k < 0.55:
            return "".join(r.choices("abcxyz_$.[]*'\"\\0123 %-", k=r.randint(0, maxlen)))
        if k < 0.75:
            return "".join(r.choices(UNICODE_POOL, k=r.randint(0, maxlen)))
        return r.choice(["a", "b", "total", "status", "lines", "qty", "name", "x.y", "tags"])

    def rscalar(self):
        r = self.r
        k = r.random()
        if k < 0.3:
            return self.rstr()
        if k < 0.6:
            return r.choice(ODD_NUMBERS) if r.random() < 0.5 else r.randint(-100, 100)
        if k < 0.75:
            return r.choice([True, False])
        if k < 0.85:
            return None
        return r.uniform(-1e6, 1e6)

    def rvalue(self, depth=0):
        r = self.r
        k = r.random()
        if depth > 3 or k < 0.6:
            return self.rscalar()
        if k < 0.8:
            return [self.rvalue(depth + 1) for _ in range(r.randint(0, 4))]
        return {self.rstr(6): self.rvalue(depth + 1) for _ in range(r.randint(0, 4))}

    def rdata(self):
        r = self.r
        d = {"a": self.rscalar(), "b": self.rvalue(), "total": r.choice([5, 50, 5000, "5000", None]),
             "status": r.choice(["new", "NEW", "done", "", None]),
             "lines": r.choice([[], [{"sku": "A", "qty": 2}], None, "x", [{"qty": "3"}, {"qty": 7}]]),
             "tags": [self.rscalar() for _ in range(r.randint(0, 5))],
             "items": [{"qty": r.randint(-5, 20), "name": self.rstr()} for _ in range(r.randint(0, 4))],
             "address": r.choice([{"country": "DE"}, {}, None, "DE"])}
        for _ in range(r.randint(0, 3)):
            d[self.rstr(8)] = self.rvalue()
        if r.random() < 0.1:
            return self.rvalue()          # data that is not an object
        return d

    # ---- conditions -------------------------------------------------------
    def rpath(self):
        r = self.r
        if r.random() < 0.6:
            parts = ["$"]
            for _ in range(r.randint(0, 4)):
                c = r.random()
                if c < 0.5:
                    parts.append("." + r.choice(["a", "b", "total", "items", "qty", "lines", "tags",
                                                 "0", "1", "name", "address", "country"]))
                elif c < 0.7:
                    parts.append("[%d]" % r.choice([0, 1, 2, 5, 999999999]))
                elif c < 0.85:
                    parts.append("[*]")
                else:
                    parts.append("['%s']" % self.rstr(5).replace("'", "\\'"))
            return "".join(parts)
        return self.rstr(20)

    def rcond(self, depth=0):
        r = self.r
        k = r.random()
        if depth < 5 and k < 0.2:
            n = r.randint(0, 4)
            op = r.choice(["AND", "OR", "NOT", "and", "Not", "XOR", "", 1, None])
            return {"type": "group", "operator": op,
                    "conditions": [self.rcond(depth + 1) for _ in range(n)]}
        if k < 0.3:
            op = r.choice(OPS)
            return {"type": "lifecycle", "field": r.choice(LIFE_FIELDS + ["bogus", ""]),
                    "operatorType": op, "value": self.roperand(op, date=True)}
        if k < 0.37:
            return {"type": "array", "jsonPath": self.rpath(),
                    "values": [self.rscalar() if r.random() < 0.8 else self.rvalue()
                               for _ in range(r.randint(0, 5))]}
        if k < 0.42:
            return {"type": "function",
                    "function": {"name": r.choice(["fz_crit", "fz_crit_null", "missing_fn", self.rstr(70)]),
                                 "config": r.choice([None, {}, {"x": 1}, "x", [1]])}}
        op = r.choice(OPS) if r.random() < 0.95 else self.rstr(10)
        c = {"type": "simple", "jsonPath": self.rpath(),
             r.choice(["operatorType", "operatorType", "operator", "operation"]): op}
        if r.random() < 0.95:
            c["value"] = self.roperand(op)
        if r.random() < 0.1:
            del c["type"]
        return c

    def roperand(self, op, date=False):
        r = self.r
        if op in ("BETWEEN", "BETWEEN_INCLUSIVE"):
            if r.random() < 0.8:
                if date:
                    return [r.choice(["2024-01-01", "1999-12-31T23:59:59Z", "epoch", "bogus"]),
                            r.choice(["2030-01-01", "infinity", "2024-01-01 12:00+02"])]
                return [self.rscalar(), self.rscalar()]
            return self.rvalue()
        if op == "MATCHES_PATTERN" or op == "LIKE":
            return r.choice(ODD_STRINGS) if r.random() < 0.7 else self.rstr(30)
        if date and r.random() < 0.5:
            return r.choice(["2024-05-01T12:00:00Z", "2024-05-01", "now", "today", "bogus", 5,
                             "294277-01-01", "4714-11-24 BC", "-infinity"])
        return self.rvalue() if r.random() < 0.2 else self.rscalar()

    def seed_conditions(self):
        return [
            {"type": "simple", "jsonPath": "$.total", "operatorType": "GREATER_THAN", "value": 1000},
            {"type": "simple", "jsonPath": "$.lines", "operatorType": "IS_NULL"},
            {"type": "simple", "jsonPath": "$.items[*].qty", "operatorType": "BETWEEN", "value": [1, 10]},
            {"type": "simple", "jsonPath": "$.status", "operatorType": "IEQUALS", "value": "NEW"},
            {"type": "simple", "jsonPath": "$.b", "operatorType": "LIKE", "value": "a%_b\\%"},
            {"type": "simple", "jsonPath": "$.a", "operatorType": "MATCHES_PATTERN", "value": "(?i)[a-z]+\\d*"},
            {"type": "simple", "jsonPath": "$['a']", "operatorType": "EQUALS", "value": {"k": [1, 2]}},
            {"type": "array", "jsonPath": "$.tags", "values": ["x", None, 3]},
            {"type": "lifecycle", "field": "state", "operatorType": "EQUALS", "value": "received"},
            {"type": "lifecycle", "field": "creationDate", "operatorType": "BETWEEN",
             "value": ["2020-01-01", "2099-01-01"]},
            {"type": "group", "operator": "AND", "conditions": [
                {"jsonPath": "$.address.country", "operatorType": "NOT_NULL"},
                {"type": "group", "operator": "NOT", "conditions": [
                    {"jsonPath": "$.total", "operatorType": "LESS_THAN", "value": "10"}]}]},
            {"type": "function", "function": {"name": "fz_crit", "config": {"x": 1}}},
        ]

    # ---- mutation ---------------------------------------------------------
    def rpath_in(self, doc):
        """A random path into doc (a random walk from the root; () is the root)."""
        r = self.r
        path = ()
        cur = doc
        while isinstance(cur, (dict, list)) and len(cur) > 0:
            if path and r.random() < 0.3:
                break
            key = r.choice(list(cur.keys())) if isinstance(cur, dict) else r.randrange(len(cur))
            path += (key,)
            cur = cur[key]
        return path

    def mutate(self, doc, n=None):
        r = self.r
        doc = clone(doc)
        for _ in range(n if n is not None else r.choice([1, 1, 1, 2, 3, 6])):
            p = self.rpath_in(doc)
            if not p:
                if r.random() < 0.05:
                    doc = self.rvalue()
                continue
            parent = doc
            for step in p[:-1]:
                parent = parent[step]
            last = p[-1]
            k = r.random()
            if k < 0.25:                     # delete
                if isinstance(parent, dict):
                    del parent[last]
                else:
                    del parent[last]
            elif k < 0.5:                    # replace by a value of another type
                parent[last] = self.rvalue()
            elif k < 0.6 and isinstance(parent, dict):   # rename the key
                v = parent.pop(last)
                nk = r.choice([str(last).upper(), str(last).lower(), str(last) + "_", self.rstr(8),
                               str(last)[:-1]])
                parent[nk] = v
            elif k < 0.7:                    # duplicate
                if isinstance(parent, list):
                    parent.insert(last, clone(parent[last]))
                else:
                    parent[self.rstr(6)] = clone(parent[last])
            elif k < 0.8:                    # a condition where one may go
                parent[last] = self.rcond()
            elif k < 0.9:                    # odd string
                parent[last] = r.choice(ODD_STRINGS)
            else:                            # wrap in an array or object
                parent[last] = r.choice([[parent[last]], {"x": parent[last]}])
        return doc

    # ---- documents ----------------------------------------------------------
    def condition(self):
        r = self.r
        k = r.random()
        if k < 0.35:
            return self.mutate(r.choice(self.seed_conditions()))
        if k < 0.9:
            return self.rcond()
        if k < 0.96:                          # deep groups around the 64 limit
            depth = r.choice([62, 63, 64, 65, 66, 200])
            c = {"jsonPath": "$.a", "operatorType": "NOT_NULL"}
            for _ in range(depth):
                c = {"type": "group", "operator": r.choice(["AND", "OR", "NOT"]), "conditions": [c]}
            return c
        if k < 0.98:                          # wide group
            return {"type": "group", "operator": "OR",
                    "conditions": [self.rcond(4) for _ in range(r.randint(20, 200))]}
        # a group of one path and one operator, merged into one test, with
        # other members mixed in; sometimes beyond the 10,000-node limit
        path = self.rpath()
        op = r.choice(["EQUALS", "IEQUALS", "CONTAINS", "ICONTAINS", "NOT_EQUAL", "INOT_EQUAL",
                       "NOT_CONTAINS", "INOT_CONTAINS"])
        n = r.choice([2, 5, 50, 500, 10001])
        members = [{"type": "simple", "jsonPath": path, "operatorType": op, "value": self.roperand(op)}
                   for _ in range(n)]
        for _ in range(r.randint(0, 3)):
            members.insert(r.randint(0, len(members)), self.rcond(4))
        return {"type": "group", "operator": r.choice(["OR", "AND"]), "conditions": members}

    def workflow_body(self):
        r = self.r
        body = clone(self.order_body)
        body["importMode"] = r.choice(["REPLACE", "replace", "MERGE", "ACTIVATE", "Replace"])
        wf = body["workflows"][0]
        # name processors after functions that exist most of the time
        for st in wf.get("states", {}).values():
            for t in st.get("transitions", []):
                for p in t.get("processors", []):
                    p["name"] = r.choice(["fz_proc", "fz_proc", "fz_proc_null", "fz_proc_bad", p["name"]])
                    if p.get("executionMode") != "SYNC" and r.random() < 0.7:
                        p["executionMode"] = "SYNC"
                if "criterion" in t and r.random() < 0.5:
                    t["criterion"] = (self.mutate(r.choice(self.seed_conditions()), r.choice([0, 1]))
                                      if r.random() < 0.6 else self.condition())
            if r.random() < 0.3:
                wf["criterion"] = self.mutate(r.choice(self.seed_conditions()), r.choice([0, 0, 1]))
        k = r.random()
        if k < 0.35:
            return body                        # valid, or invalid only in its criteria
        if k < 0.85:
            return self.mutate(body)
        if k < 0.93:                           # a generated workflow
            nstates = r.randint(1, 30)
            names = [self.rstr(10) or "s%d" % i for i in range(nstates)]
            states = {}
            for nm in names:
                states[nm] = {"transitions": [
                    {"name": self.rstr(8) or "t", "next": r.choice(names + ["nowhere"]),
                     "manual": r.random() < 0.5,
                     **({"criterion": self.rcond()} if r.random() < 0.5 else {}),
                     **({"processors": [{"name": r.choice(["fz_proc", "fz_proc_null", self.rstr(10)])}]}
                        if r.random() < 0.4 else {})}
                    for _ in range(r.randint(0, 4))]}
            return {"importMode": "REPLACE", "allowCycles": r.random() < 0.5,
                    "workflows": [{"name": self.rstr(10) or "w", "initialState": r.choice(names),
                                   "states": states}]}
        # many workflows / states
        wfs = []
        for i in range(r.randint(2, 12)):
            w = clone(wf)
            w["name"] = "w%d" % (i if r.random() < 0.9 else 0)
            w["criterion"] = self.rcond() if r.random() < 0.5 else None
            wfs.append(w)
        return {"importMode": "REPLACE", "workflows": wfs}

    def design_doc(self):
        r = self.r
        k = r.random()
        if k < 0.1:
            return clone(r.choice(self.designs))
        if k < 0.9:
            return self.mutate(r.choice(self.designs))
        ents = []
        for _ in range(r.randint(0, 30)):
            ents.append({"entity_name": self.rstr(12), "entity_type": r.choice(["JOB", "BUSINESS_ENTITY", "X", None]),
                         "entity_source": r.choice(["API_REQUEST", "SCHEDULED", "ENTITY_EVENT", "x", 1]),
                         "depends_on_entity": r.choice(["None", None, self.rstr(8)]),
                         "entity_workflow": r.choice([None, {"name": self.rstr(8), "transitions": [
                             {"name": self.rstr(8), "start_state": r.choice(["None", "a", "b"]),
                              "end_state": r.choice(["a", "b", "c"]),
                              "criteria": r.choice([None, {"name": self.rstr(8)}, "x"]),
                              "process": r.choice([None, {"name": self.rstr(8)}, [], "p"]),
                              "transition_type": r.choice(["manual", "automatic", "x"])}
                             for _ in range(r.randint(0, 6))]}])})
        return {"can_proceed": r.choice([True, False, None]), "entities": ents}

    # ---- text-level breakage ---------------------------------------------------
    def to_text(self, doc):
        """JSON text of doc, sometimes broken at the text level."""
        r = self.r
        txt = json.dumps(doc, ensure_ascii=r.random() < 0.5)
        k = r.random()
        if k < 0.82:
            return txt
        if k < 0.84:
            return txt[: r.randint(0, len(txt))]                  # truncated
        if k < 0.86:
            return txt + r.choice(["}", "]", ",", " x", "\x00", "//c"])  # trailing garbage
        if k < 0.88:                                              # lone surrogates: invalid in jsonb
            return txt.replace('"', '"\\ud800', 1) if '"' in txt else '"\\ud800"'
        if k < 0.90:
            return txt.replace('"', '"\\udc00x', 1) if '"' in txt else '"\\udfff"'
        if k < 0.92:                                              # NUL escape: refused by jsonb
            return txt.replace('"', '"\\u0000', 1) if '"' in txt else '"\\u0000"'
        if k < 0.93:                                              # a valid surrogate pair
            return txt.replace('"', '"\\ud83d\\ude80', 1) if '"' in txt else '"\\ud83d\\ude80"'
        if k < 0.95 and txt.startswith("{") and len(txt) > 2:    # duplicate keys
            return txt[:-1] + ', "type": "bogus", "type": null}'
        if k < 0.97:                                              # odd numbers
            return txt.replace("1", r.choice(ODD_NUMBER_TEXT), 1)
        if k < 0.98:
            return r.choice(["", " ", "null", "NaN", "[", "{", "\"", "{\"a\":}", "None",
                             "{'a': 1}", "[1,]", "tru", "\ufeff{}", "{}\x00"])
        return "\x01\x02" + txt                                   # control bytes


def deep_nest(n, kind):
    if kind == "array":
        return "[" * n + "1" + "]" * n
    return '{"a":' * n + "1" + "}" * n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=12000)
    ap.add_argument("--design-count", type=int, default=2000)
    ap.add_argument("--search-count", type=int, default=2000)
    ap.add_argument("--big", type=int, default=12, help="how many multi-megabyte inputs")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--order", required=True)
    ap.add_argument("--design", required=True, action="append", help="a design to mutate (repeatable)")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with open(a.order, encoding="utf-8") as f:
        order = json.load(f)
    designs = []
    for path in a.design:
        with open(path, encoding="utf-8") as f:
            designs.append(json.load(f))
    g = Gen(rng, order, designs)
    sys.stdout.reconfigure(encoding="utf-8")
    w = csv.writer(sys.stdout, lineterminator="\n")
    n = 0

    def emit(target, x, y="", z=""):
        nonlocal n
        n += 1
        # CSV cannot hold NUL bytes; COPY cannot either: spell them as \u0000 text
        w.writerow([n, target] + [s.replace("\x00", "\\u0000") for s in (x, y, z)])

    models = ["fz_m%d" % i for i in range(20)] + ["fz_'); DROP TABLE fuzz.input; --", "fz_名前🚀", "fz_" + "x" * 250]
    n_cond = a.count * 7 // 12
    n_import = a.count - n_cond
    for _ in range(n_cond):
        emit("cond", g.to_text(g.condition()), g.to_text(g.rdata()))
    for _ in range(n_import):
        emit("import", g.to_text(g.workflow_body()), rng.choice(models), json.dumps(g.rdata()))
    for _ in range(a.design_count):
        emit("vdesign", g.to_text(g.design_doc()))
    for i in range(a.design_count // 4):
        emit("idesign", g.to_text(g.design_doc()),
             rng.choice(["public", "public", "fz_fn", "pg_catalog", "no_such_schema", "'; DROP TABLE x; --", ""]))
    for _ in range(a.search_count):
        emit("search", g.to_text(g.condition()), rng.choice(["fz_search", "fz_search", "fz_none", models[-2]]))
    # deep nesting and huge inputs (bounded: a few megabytes each)
    for depth in (100, 1000, 5000, 20000, 100000):
        emit("cond", deep_nest(depth, "array"), "{}")
        emit("cond", '{"jsonPath": "$.a", "operatorType": "EQUALS", "value": %s}' % deep_nest(depth, "object"),
             '{"a": %s}' % deep_nest(depth, "object"))
        emit("import", '{"workflows": [%s]}' % deep_nest(depth, "object"), "fz_m0", "{}")
        emit("vdesign", '{"entities": [%s]}' % deep_nest(depth, "array"))
    big = [
        lambda mb: ("cond", json.dumps({"jsonPath": "$.a", "operatorType": "CONTAINS", "value": "x" * (mb << 20)}),
                    json.dumps({"a": "y" * (mb << 20) + "x"})),
        lambda mb: ("cond", json.dumps({"jsonPath": "$." + "a" * (mb << 20), "operatorType": "NOT_NULL"}), "{}"),
        lambda mb: ("cond", json.dumps({"jsonPath": "$.a", "operatorType": "LIKE", "value": "%a%" * (mb << 18)}),
                    json.dumps({"a": "a" * (mb << 20)})),
        lambda mb: ("cond", json.dumps({"jsonPath": "$.a", "operatorType": "MATCHES_PATTERN", "value": "(a|b)*c"}),
                    json.dumps({"a": "ab" * (mb << 19)})),
        lambda mb: ("import", json.dumps({"workflows": [{"name": "w" * (mb << 20), "initialState": "a",
                                                          "states": {"a": {"transitions": []}}}]}), "fz_m1"),
        lambda mb: ("import", json.dumps({"workflows": [{"name": "w", "initialState": "s0", "states": {
            "s%d" % i: {"transitions": [{"name": "t", "next": "s%d" % ((i + 1) % (mb * 20000)),
                                          "manual": True}]} for i in range(mb * 20000)}}]}), "fz_m2"),
        # validate_design is quadratic in the number of entities (20000 take
        # ~15 s): keep this one at 1250..5000 entities so that a run stays bounded
        lambda mb: ("vdesign", json.dumps({"entities": [{"entity_name": "e%d" % i, "entity_type": "JOB",
                                                         "entity_source": "API_REQUEST", "depends_on_entity": "None",
                                                         "entity_workflow": None} for i in range(mb * 1250)]}), ""),
    ]
    for i in range(a.big):
        t, x, y = big[i % len(big)](rng.choice([1, 2, 4]))
        if t == "import":
            emit(t, x, y, "{}")
        else:
            emit(t, x, y)
    print("generated %d inputs (seed %d)" % (n, a.seed), file=sys.stderr)


if __name__ == "__main__":
    main()

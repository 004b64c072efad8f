"""Parsing a fetched body and building the raw data document.

parse decodes the body (its charset) and reads it as json, ndjson or csv;
raw_document scrubs secret values the source echoed and adds the
provenance; fetch_and_parse does a whole Request without the database.
"""

import csv
import datetime
import hashlib
import io
import json
import re

from cyoda_wf.data_ingestion.definitions import (
    MASK,
    SQLSTATE_PARSE,
    _kind,
    _scrub,
)
from cyoda_wf.data_ingestion.fetch import (
    fetch_file,
    fetch_http,
)

# Numbers in CSV fields (csv_numbers).
_INT_RE = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_FLOAT_RE = re.compile(r"^-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?$")


def _charset(ctype):
    if not ctype:
        return "utf-8"
    m = re.search(r"charset\s*=\s*\"?([A-Za-z0-9._:-]+)", ctype, re.I)
    return m.group(1) if m else "utf-8"


def _decode(req, raw, ctype):
    cs = _charset(ctype)
    codec = "utf-8-sig" if cs.lower().replace("_", "-") in ("utf-8", "utf8") else cs
    try:
        return raw.decode(codec)
    except LookupError:
        raise req.error(SQLSTATE_PARSE, "answered in an unknown charset \"%s\"" % cs)
    except UnicodeDecodeError as e:
        raise req.error(SQLSTATE_PARSE, "returned text that is not valid %s (byte %d)" % (cs, e.start))


def _no_constants(name):
    raise ValueError("%s is not valid JSON" % name)


def _float(text):
    f = float(text)
    if f in (float("inf"), float("-inf")):
        raise ValueError("number %s is out of range" % text[:40])
    return f


def _loads(text):
    return json.loads(text, parse_constant=_no_constants, parse_float=_float)


def _has_nul(v):
    """Does a parsed value hold a NUL character (which jsonb cannot store)?"""
    if isinstance(v, str):
        return "\0" in v
    if isinstance(v, dict):
        return any(_has_nul(k) or _has_nul(x) for k, x in v.items())
    if isinstance(v, list):
        return any(_has_nul(x) for x in v)
    return False


def _number(v):
    if v is None:
        return None
    if _INT_RE.match(v):
        return int(v)
    if _FLOAT_RE.match(v):
        f = float(v)
        if f == f and f not in (float("inf"), float("-inf")):
            return f
    return v


def parse(req, raw, ctype):
    """The parsed body: a dict/list for json, a list of dicts for ndjson/csv."""
    v = _parse(req, raw, ctype)
    if req.format != "csv" and _has_nul(v):
        raise req.error(SQLSTATE_PARSE, "returned data holding \\u0000, which jsonb cannot store")
    return v


def _parse(req, raw, ctype):
    text = _decode(req, raw, ctype)
    if "\0" in text:
        raise req.error(SQLSTATE_PARSE, "returned text containing NUL characters")
    fmt = req.format
    if fmt == "json":
        try:
            v = _loads(text)
        except json.JSONDecodeError as e:
            raise req.error(SQLSTATE_PARSE, "returned invalid JSON: %s at line %d column %d"
                            % (e.msg, e.lineno, e.colno))
        except (ValueError, RecursionError) as e:
            raise req.error(SQLSTATE_PARSE, "returned invalid JSON: %s" % e)
        if not isinstance(v, (dict, list)):
            raise req.error(SQLSTATE_PARSE, "returned JSON %s, not an object or array" % _kind(v))
        return v
    if fmt == "ndjson":
        rows = []
        for i, line in enumerate(text.split("\n"), 1):
            if not line.strip():
                continue
            try:
                v = _loads(line)
            except json.JSONDecodeError as e:
                raise req.error(SQLSTATE_PARSE, "returned invalid NDJSON: line %d: %s at column %d"
                                % (i, e.msg, e.colno))
            except (ValueError, RecursionError) as e:
                raise req.error(SQLSTATE_PARSE, "returned invalid NDJSON: line %d: %s" % (i, e))
            if not isinstance(v, dict):
                raise req.error(SQLSTATE_PARSE, "returned invalid NDJSON: line %d is %s, not an object"
                                % (i, _kind(v)))
            rows.append(v)
        return rows
    # csv
    if csv.field_size_limit() < req.max_bytes:
        csv.field_size_limit(req.max_bytes)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=req.csv_delimiter, strict=True)
        header = None
        rows = []
        for rec in reader:
            if header is None:
                if not rec or all(not c.strip() for c in rec):
                    continue
                header = [c.strip() for c in rec]
                dup = [h for i, h in enumerate(header) if h in header[:i]]
                if dup:
                    raise req.error(SQLSTATE_PARSE, "returned invalid CSV: column \"%s\" appears twice in the "
                                    "header" % dup[0])
                if any(not h for h in header):
                    raise req.error(SQLSTATE_PARSE, "returned invalid CSV: the header has an empty column name")
                continue
            if not rec:
                continue
            if len(rec) > len(header):
                raise req.error(SQLSTATE_PARSE, "returned invalid CSV: line %d has %d fields, the header %d"
                                % (reader.line_num, len(rec), len(header)))
            vals = list(rec) + [None] * (len(header) - len(rec))
            if req.csv_numbers:
                vals = [_number(v) for v in vals]
            rows.append(dict(zip(header, vals)))
    except csv.Error as e:
        raise req.error(SQLSTATE_PARSE, "returned invalid CSV: line %d: %s" % (reader.line_num, e))
    if header is None:
        raise req.error(SQLSTATE_PARSE, "returned invalid CSV: no header line")
    return rows


def scrub_parsed(v, secrets):
    """v, parsed JSON, with every secret value in its strings and keys
    replaced by *** (in place, without recursion: any depth json parses)."""
    alternatives = [re.escape(x) for x in sorted(secrets, key=len, reverse=True) if x]
    if not alternatives:
        return v
    pattern = re.compile("|".join(alternatives))
    if isinstance(v, str):
        return pattern.sub(MASK, v)
    stack = [v] if isinstance(v, (dict, list)) else []
    while stack:
        c = stack.pop()
        if isinstance(c, list):
            for i, x in enumerate(c):
                if isinstance(x, str):
                    c[i] = pattern.sub(MASK, x)
                elif isinstance(x, (dict, list)):
                    stack.append(x)
            continue
        for k in list(c):
            x = c[k]
            if isinstance(x, str):
                x = c[k] = pattern.sub(MASK, x)
            elif isinstance(x, (dict, list)):
                stack.append(x)
            nk = pattern.sub(MASK, k)
            if nk != k:
                del c[k]
                c[nk] = x
    return v


def raw_document(req, status, ctype, raw, final, parsed, fetched_at):
    """The data of the RAW_DATA entity; secret values the source echoed
    (in the payload, the rows, the content type or the final URL) are ***."""
    parsed = scrub_parsed(parsed, req.secrets)
    doc = {
        "connection": req.conn,
        "url": req.public_url,
        "method": req.method,
        "status": status,
        "fetched_at": fetched_at,
        "bytes": len(raw),
        "sha256": hashlib.sha256(raw).hexdigest(),
        "format": req.format,
    }
    if ctype:
        doc["content_type"] = _scrub(ctype, req.secrets)
    pub_final = req.redact_url(final) if final else None
    if pub_final and pub_final != req.public_url:
        doc["final_url"] = pub_final
    if req.format == "json":
        doc["payload"] = parsed
    else:
        doc["row_count"] = len(parsed)
        doc["rows"] = parsed
    return doc


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def fetch_and_parse(req, roots=()):
    """The RAW_DATA document of a Request (no database needed)."""
    fetched_at = _now_iso()
    if req.scheme == "file":
        status, ctype, raw, final = fetch_file(req, roots)
    else:
        status, ctype, raw, final = fetch_http(req)
    parsed = parse(req, raw, ctype)
    return raw_document(req, status, ctype, raw, final, parsed, fetched_at)

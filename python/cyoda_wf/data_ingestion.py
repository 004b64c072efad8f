"""data_ingestion: read a connection's data and store it as a RAW_DATA entity.

In a process (PL/Python)::

    from cyoda_wf import data_ingestion

    def ingest_raw_data(meta, data):
        data["raw_request_id"] = data_ingestion.ingest_data_from_connection(
            meta["token"], data["connection"])
        return data

From SQL: ``cyoda_wf.ingest(connection, params, raw_model)`` (sql/080_ingest.sql).

A connection is an entity of model "connection" (CONFIG, API_REQUEST only,
a reserved model: nothing else writes it) made by
``cyoda_wf.create_connection(name, definition)``, which also stores the
checked definition in cyoda_wf.connection_definition: that row, not the
entity, is what ingest uses.  The values of its secret headers / query
parameters / body live in the table cyoda_wf.connection_secret, keyed by
the connection's entity id (nothing is granted on either table); the entity
data, its versions and the audit show "***" in their place.  Ingesting
fetches the source (http, https or a file under a directory listed in
cyoda_wf.ingest_file_root), parses it (json, ndjson, csv), replaces the
secret values wherever the source echoed them with "***", and returns the
document; cyoda_wf.ingest (C) adds it through add_item as the calling role,
so in a process it gets parent_id = the process's entity and source
ENTITY_EVENT.

Every failure raises a PostgreSQL error with a SQLSTATE (see SQLSTATE_*)
whose message names the connection.  Secret values never appear in entity
data, error messages, details or hints: every text that leaves this module
goes through _scrub().

The core (validation, fetching, parsing) does not need PostgreSQL; the SQL
entry points sql_*() and the process helper use plpy.
"""

import csv
import datetime
import hashlib
import http.client
import io
import json
import os
import re
import socket
import ssl
import stat
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["ingest_data_from_connection", "IngestError"]

CONNECTION_MODEL = "connection"
CONNECTION_MODEL_VERSION = 1
RAW_MODEL_VERSION = 1
MASK = "***"

FORMATS = ("json", "ndjson", "csv")
METHODS = ("GET", "POST")
SCHEMES = ("http", "https", "file")
DEFAULT_TIMEOUT_MS = 30000
MAX_TIMEOUT_MS = 600000
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
MAX_MAX_BYTES = 256 * 1024 * 1024 - 1  # jsonb cannot hold more
MAX_REDIRECTS = 5
USER_AGENT = "cyoda_wf-ingest/0.1"
ACCEPT = {
    "json": "application/json",
    "ndjson": "application/x-ndjson, application/json;q=0.5, */*;q=0.1",
    "csv": "text/csv, */*;q=0.1",
}

# SQLSTATEs of the errors raised here (the README has the table).
SQLSTATE_INVALID = "22023"  # bad definition, params, token/meta, undeterminable model
SQLSTATE_UNDEFINED = "42704"  # no such connection
SQLSTATE_PRIVILEGE = "42501"  # file:// outside cyoda_wf.ingest_file_root
SQLSTATE_TIMEOUT = "57014"  # timeout_ms exceeded
SQLSTATE_CONNECT = "08001"  # could not connect / no response (refused, DNS, TLS)
SQLSTATE_BROKEN = "08006"  # the connection broke while reading the response
SQLSTATE_HTTP = "58000"  # HTTP status not 2xx
SQLSTATE_NO_FILE = "58P01"  # file:// file does not exist
SQLSTATE_IO = "58030"  # file:// file unreadable / not a regular file
SQLSTATE_TOO_BIG = "53400"  # body larger than max_bytes
SQLSTATE_PARSE = "22P02"  # body is not valid JSON / NDJSON / CSV (or not text)
SQLSTATE_EXTERNAL = "38000"  # any other failure while fetching or parsing
SQLSTATE_NOT_READY = "55000"  # the database's cyoda_wf schema is older than this package

DEFINITION_KEYS = (
    "name", "description", "url", "method", "headers", "query", "body", "format",
    "timeout_ms", "max_bytes", "raw_model", "secret_headers", "secret_query",
    "secret_body", "csv_delimiter", "csv_numbers", "proxy",
)
PARAMS_KEYS = ("vars", "query", "headers", "body")

# Header names treated as secret whatever secret_headers says.
_SECRET_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie",
                   "x-api-key", "api-key", "apikey", "x-auth-token"}
# Header names containing one of these are secret too.
_SECRET_WORDS = ("token", "secret", "password", "passwd", "credential", "apikey",
                 "api-key", "api_key", "session", "signature")
# Query parameter names treated as secret whatever secret_query says.
_SECRET_QUERY = {"key", "sig", "auth", "access_key"}
# Header names the HTTP client sets itself: refused in definitions and params
# (they could send the request, or the secrets, somewhere else).
_FORBIDDEN_HEADERS = {"host", "connection", "transfer-encoding", "content-length"}
_FORBIDDEN_HEADER_PREFIX = "proxy-"

_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_MODEL_RE = re.compile(r"^\S.{0,255}$", re.S)
_VAR_RE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INT_RE = re.compile(r"^-?(?:0|[1-9][0-9]*)$")
_FLOAT_RE = re.compile(r"^-?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]+)?$")


class IngestError(Exception):
    """A failure reported as a PostgreSQL error with this SQLSTATE."""

    def __init__(self, sqlstate, message, detail=None, hint=None):
        super().__init__(message)
        self.sqlstate = sqlstate
        self.message = message
        self.detail = detail
        self.hint = hint


def _invalid(message, detail=None, hint=None):
    return IngestError(SQLSTATE_INVALID, message, detail, hint)


def _kind(v):
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, (int, float)):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "an array"
    if isinstance(v, dict):
        return "an object"
    return type(v).__name__


def is_secret_header(name, extra=()):
    n = name.lower()
    if n in _SECRET_HEADERS or n in extra:
        return True
    return any(w in n for w in _SECRET_WORDS)


def is_secret_query(name, extra=()):
    n = name.lower()
    if n in _SECRET_QUERY or n in extra:
        return True
    return any(w in n for w in _SECRET_WORDS)


def _scrub(text, secrets):
    """text with every secret value replaced by ***."""
    if text is None:
        return None
    text = str(text)
    for s in sorted(secrets, key=len, reverse=True):
        if s:
            text = text.replace(s, MASK)
    return text


def _secret_strings(v):
    """The strings a secret value may show up as in a text."""
    out = set()
    if isinstance(v, str):
        out.add(v)
        out.add(urllib.parse.quote_plus(v))
        out.add(urllib.parse.quote(v, safe=""))
        # "Bearer <token>": the token alone too, as a source may echo it
        scheme, _, cred = v.partition(" ")
        cred = cred.strip()
        if scheme and len(cred) >= 4:
            out |= {cred, urllib.parse.quote_plus(cred), urllib.parse.quote(cred, safe="")}
    elif isinstance(v, (dict, list)):
        out.add(json.dumps(v))
        for x in (v.values() if isinstance(v, dict) else v):
            out |= _secret_strings(x)
    elif v is not None and not isinstance(v, bool):
        out.add(str(v))
    return {s for s in out if len(s) >= 1}


# ---------------------------------------------------------------------------
# Connection definitions


def _check_scalar(v, where):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    if isinstance(v, str):
        return v
    raise _invalid("%s must be a string, number or boolean, not %s" % (where, _kind(v)))


def _check_header_value(v, where):
    if not isinstance(v, str):
        raise _invalid("%s must be a string, not %s" % (where, _kind(v)))
    if "\r" in v or "\n" in v or "\0" in v:
        raise _invalid("%s must not contain line breaks or NUL" % where)
    return v


def _check_headers(h, where, conn):
    if h is None:
        return {}
    if not isinstance(h, dict):
        raise _invalid('connection "%s": %s must be an object, not %s' % (conn, where, _kind(h)))
    seen = {}
    for k, v in h.items():
        if not _HEADER_NAME_RE.match(k):
            raise _invalid('connection "%s": %s: "%s" is not a valid header name' % (conn, where, k))
        if k.lower() in _FORBIDDEN_HEADERS or k.lower().startswith(_FORBIDDEN_HEADER_PREFIX):
            raise _invalid('connection "%s": %s: header "%s" is not allowed' % (conn, where, k),
                           detail="Host, Connection, Transfer-Encoding, Content-Length and Proxy-* "
                                  "are set by the HTTP client from the connection's url and proxy.",
                           hint='Put the host in the connection\'s "url", a proxy in its "proxy".')
        if k.lower() in seen:
            raise _invalid('connection "%s": %s: header "%s" given twice (header names ignore case)'
                           % (conn, where, k))
        seen[k.lower()] = k
        _check_header_value(v, 'connection "%s": %s["%s"]' % (conn, where, k))
    return dict(h)


def _check_query(q, where, conn):
    if q is None:
        return {}
    if not isinstance(q, dict):
        raise _invalid('connection "%s": %s must be an object, not %s' % (conn, where, _kind(q)))
    out = {}
    for k, v in q.items():
        if k == "":
            raise _invalid('connection "%s": %s has an empty parameter name' % (conn, where))
        w = 'connection "%s": %s["%s"]' % (conn, where, k)
        if isinstance(v, list):
            out[k] = [_check_scalar(x, w + " elements") for x in v]
        else:
            out[k] = _check_scalar(v, w)
    return out


def _name_list(v, key, conn):
    if v is None:
        return []
    if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
        raise _invalid('connection "%s": "%s" must be an array of names' % (conn, key))
    out = []
    for x in v:
        if x.lower() not in out:
            out.append(x.lower())
    return out


def _int_opt(d, key, default, lo, hi, conn):
    v = d.get(key)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v):
        raise _invalid('connection "%s": "%s" must be an integer, not %s' % (conn, key, _kind(v)))
    v = int(v)
    if v < lo or v > hi:
        raise _invalid('connection "%s": "%s" must be between %d and %d, not %d' % (conn, key, lo, hi, v))
    return v


def _split_url(url, conn):
    """(scheme, netloc, path, [(k, v)] inline query) of a definition's url."""
    if not isinstance(url, str) or not url.strip():
        raise _invalid('connection "%s": "url" must be a non-empty string' % conn)
    if any(c in url for c in "\r\n\t\0"):
        raise _invalid('connection "%s": "url" must not contain control characters' % conn)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as e:
        raise _invalid('connection "%s": "url" is not a valid URL: %s' % (conn, e))
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise _invalid('connection "%s": URL scheme "%s" is not supported' % (conn, parts.scheme or ""),
                       hint="Use http://, https:// or file://.")
    if scheme != "file" and " " in url:
        raise _invalid('connection "%s": an %s URL must not contain spaces (write %%20)' % (conn, scheme))
    head = url[:url.find("//") + 2 + len(parts.netloc)] if "//" in url else url
    if "{" in head or "}" in head:
        raise _invalid('connection "%s": placeholders are allowed in the URL path and query only, '
                       "not in its scheme or host" % conn)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise _invalid('connection "%s": credentials in the URL are not allowed' % conn,
                       hint='Send them in a header, e.g. "headers": {"Authorization": "Basic ..."}; '
                            "header values named secret are kept out of the entity.")
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _invalid('connection "%s": file:// URLs name a file on the database server: '
                           "use file:///absolute/path" % conn)
        if not parts.path.startswith("/"):
            raise _invalid('connection "%s": file:// URL needs an absolute path' % conn)
        if parts.query:
            raise _invalid('connection "%s": a file:// URL takes no query string' % conn)
    else:
        try:
            host = parts.hostname
            parts.port  # noqa: B018  (raises ValueError on a bad port)
        except ValueError as e:
            raise _invalid('connection "%s": "url" is not a valid URL: %s' % (conn, e))
        if not host:
            raise _invalid('connection "%s": %s URL needs a host' % (conn, scheme))
    inline = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    return scheme, parts.netloc, parts.path, inline


def normalize_definition(name, d, stored=None):
    """Check a connection definition.

    Returns (public, secrets): public is the entity data (secret values
    replaced by "***", defaults filled in), secrets a dict
    {(kind, key): value} with kind "header", "query" or "body".  A secret
    given as "***" keeps its value from stored (the same dict, of the
    connection's current secrets); 22023 when there is none.
    """
    stored = stored or {}
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise _invalid('invalid connection name "%s"' % name,
                       hint="Connection names are 1-128 letters, digits, _ . - (not starting with . or -).")
    conn = name
    if not isinstance(d, dict):
        raise _invalid('connection "%s": the definition must be a JSON object, not %s' % (conn, _kind(d)))
    unknown = [k for k in d if k not in DEFINITION_KEYS]
    if unknown:
        raise _invalid('connection "%s": unknown key "%s" in the definition' % (conn, unknown[0]),
                       hint="Allowed keys: %s." % ", ".join(DEFINITION_KEYS))
    if d.get("name") is not None and d.get("name") != name:
        raise _invalid('connection "%s": the definition\'s "name" is "%s"' % (conn, d.get("name")))
    if d.get("description") is not None and not isinstance(d.get("description"), str):
        raise _invalid('connection "%s": "description" must be a string' % conn)

    scheme, netloc, path, inline = _split_url(d.get("url"), conn)
    method = d.get("method") or "GET"
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise _invalid('connection "%s": "method" must be GET or POST, not %s' % (conn, json.dumps(method)))
    method = method.upper()
    fmt = d.get("format") or "json"
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS:
        raise _invalid('connection "%s": "format" must be one of json, ndjson, csv, not %s'
                       % (conn, json.dumps(fmt)))
    fmt = fmt.lower()
    secret_headers = _name_list(d.get("secret_headers"), "secret_headers", conn)
    secret_query = _name_list(d.get("secret_query"), "secret_query", conn)
    secret_body = d.get("secret_body", False)
    if not isinstance(secret_body, bool):
        raise _invalid('connection "%s": "secret_body" must be a boolean' % conn)
    headers = _check_headers(d.get("headers"), '"headers"', conn)
    query = _check_query(d.get("query"), '"query"', conn)
    body = d.get("body")
    timeout_ms = _int_opt(d, "timeout_ms", DEFAULT_TIMEOUT_MS, 1, MAX_TIMEOUT_MS, conn)
    max_bytes = _int_opt(d, "max_bytes", DEFAULT_MAX_BYTES, 1, MAX_MAX_BYTES, conn)
    raw_model = d.get("raw_model")
    if raw_model is not None and (not isinstance(raw_model, str) or not _MODEL_RE.match(raw_model)):
        raise _invalid('connection "%s": "raw_model" must be a model name' % conn)
    delim = d.get("csv_delimiter", ",")
    if not isinstance(delim, str) or len(delim) != 1 or delim in "\r\n\"":
        raise _invalid('connection "%s": "csv_delimiter" must be one character (not a quote or line break)'
                       % conn)
    numbers = d.get("csv_numbers", True)
    if not isinstance(numbers, bool):
        raise _invalid('connection "%s": "csv_numbers" must be a boolean' % conn)
    proxy = d.get("proxy")
    if proxy is not None:
        if not isinstance(proxy, str) or urllib.parse.urlsplit(proxy).scheme not in ("http", "https") \
                or "@" in proxy:
            raise _invalid('connection "%s": "proxy" must be an http(s) URL without credentials' % conn)

    if scheme == "file":
        for k in ("headers", "query", "body", "proxy"):
            if d.get(k):
                raise _invalid('connection "%s": a file:// connection takes no "%s"' % (conn, k))
        if method != "GET":
            raise _invalid('connection "%s": a file:// connection is read with GET' % conn)
    if body is not None and method != "POST":
        raise _invalid('connection "%s": a "body" needs "method": "POST"' % conn)

    # Secret parameters written inline in the URL move into "query".
    keep_inline = []
    for k, v in inline:
        if is_secret_query(k, secret_query):
            if k in query:
                raise _invalid('connection "%s": query parameter "%s" is given in the URL and in "query"'
                               % (conn, k))
            query[k] = v
        else:
            keep_inline.append((k, v))
    url = urllib.parse.urlunsplit((scheme, netloc, path, urllib.parse.urlencode(keep_inline, safe="{}"), ""))

    secrets = {}

    def take(kind, key, value, where):
        if value == MASK:
            if (kind, key) not in stored:
                raise _invalid('connection "%s": %s is "***" but no secret value is stored for it'
                               % (conn, where),
                               hint="Give the real value; \"***\" keeps a value stored earlier.")
            value = stored[(kind, key)]
        secrets[(kind, key)] = value
        return MASK

    pub_headers = {}
    for k, v in headers.items():
        if is_secret_header(k, secret_headers):
            pub_headers[k] = take("header", k.lower(), v, 'header "%s"' % k)
        else:
            pub_headers[k] = v
    pub_query = {}
    for k, v in query.items():
        if is_secret_query(k, secret_query):
            if isinstance(v, list):
                raise _invalid('connection "%s": secret query parameter "%s" must have one value' % (conn, k))
            pub_query[k] = take("query", k, v, 'query parameter "%s"' % k)
        else:
            pub_query[k] = v
    pub_body = body
    if secret_body and body is not None:
        if body == MASK:
            take("body", "", MASK, '"body"')
        else:
            secrets[("body", "")] = json.dumps(body)
        pub_body = MASK

    public = {
        "name": name,
        "url": url,
        "method": method,
        "format": fmt,
        "timeout_ms": timeout_ms,
        "max_bytes": max_bytes,
    }
    if d.get("description") is not None:
        public["description"] = d["description"]
    if pub_headers:
        public["headers"] = pub_headers
    if pub_query:
        public["query"] = pub_query
    if body is not None:
        public["body"] = pub_body
    if raw_model is not None:
        public["raw_model"] = raw_model
    if secret_headers:
        public["secret_headers"] = secret_headers
    if secret_query:
        public["secret_query"] = secret_query
    if secret_body:
        public["secret_body"] = True
    if fmt == "csv":
        public["csv_delimiter"] = delim
        public["csv_numbers"] = numbers
    if proxy is not None:
        public["proxy"] = proxy
    return public, secrets


def effective_definition(public, secrets):
    """The stored entity data with the secret values put back."""
    d = json.loads(json.dumps(public))
    for k in list((d.get("headers") or {}).keys()):
        if d["headers"][k] == MASK and ("header", k.lower()) in secrets:
            d["headers"][k] = secrets[("header", k.lower())]
    for k in list((d.get("query") or {}).keys()):
        if d["query"][k] == MASK and ("query", k) in secrets:
            d["query"][k] = secrets[("query", k)]
    if d.get("body") == MASK and ("body", "") in secrets:
        d["body"] = json.loads(secrets[("body", "")])
    return d


def _check_params(params, conn):
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise _invalid('connection "%s": params must be a JSON object, not %s' % (conn, _kind(params)))
    unknown = [k for k in params if k not in PARAMS_KEYS]
    if unknown:
        raise _invalid('connection "%s": unknown key "%s" in params' % (conn, unknown[0]),
                       hint="params may hold: vars (URL placeholders), query, headers, body.")
    out = {}
    v = params.get("vars")
    if v is not None:
        if not isinstance(v, dict):
            raise _invalid('connection "%s": params "vars" must be an object' % conn)
        out["vars"] = {k: _check_scalar(x, 'connection "%s": params vars["%s"]' % (conn, k))
                       for k, x in v.items()}
    if params.get("query") is not None:
        out["query"] = _check_query(params["query"], 'params "query"', conn)
    if params.get("headers") is not None:
        out["headers"] = _check_headers(params["headers"], 'params "headers"', conn)
    if "body" in params:
        out["body"] = params["body"]
    return out


# ---------------------------------------------------------------------------
# Requests


class Request:
    """What to fetch: built from a definition (secrets included) and params."""

    def __init__(self, conn, d, params):
        self.conn = conn
        self.scheme = urllib.parse.urlsplit(d["url"]).scheme.lower()
        self.method = d.get("method", "GET")
        self.format = d.get("format", "json")
        self.timeout_ms = d.get("timeout_ms", DEFAULT_TIMEOUT_MS)
        self.max_bytes = d.get("max_bytes", DEFAULT_MAX_BYTES)
        self.csv_delimiter = d.get("csv_delimiter", ",")
        self.csv_numbers = d.get("csv_numbers", True)
        self.proxy = d.get("proxy")
        self.secret_header_names = {str(x).lower() for x in d.get("secret_headers") or ()}
        self.secret_query_names = {str(x).lower() for x in d.get("secret_query") or ()}
        if self.scheme == "file" and any(params.get(k) for k in ("query", "headers", "body")):
            raise _invalid('connection "%s": params of a file:// connection may hold "vars" only' % conn)
        if "body" in params and self.method != "POST":
            raise _invalid('connection "%s": params "body" needs a POST connection' % conn)
        # Every value that must not be shown.
        self.secrets = set()
        headers = dict(d.get("headers") or {})
        for k, v in (params.get("headers") or {}).items():
            for old in [h for h in headers if h.lower() == k.lower()]:
                del headers[old]
            headers[k] = v
        for k, v in headers.items():
            if is_secret_header(k, self.secret_header_names):
                self.secrets |= _secret_strings(v)
        query = dict(d.get("query") or {})
        query.update(params.get("query") or {})
        for k, v in query.items():
            if is_secret_query(k, self.secret_query_names):
                self.secrets |= _secret_strings(v)
        self.body = params["body"] if "body" in params else d.get("body")
        if d.get("secret_body") and self.body is not None:
            self.secrets |= _secret_strings(self.body)
        self.headers = headers
        vars_ = params.get("vars") or {}

        def subst(text, quote):
            def one(m):
                if m.group(1) not in vars_:
                    raise _invalid('connection "%s": URL placeholder {%s} has no value' % (conn, m.group(1)),
                                   hint='Pass it in params: {"vars": {"%s": ...}}.' % m.group(1))
                return quote(vars_[m.group(1)])
            return _VAR_RE.sub(one, text)

        parts = urllib.parse.urlsplit(d["url"])
        path = subst(parts.path, lambda v: urllib.parse.quote(v, safe=""))
        inline = [(k, subst(v, lambda x: x)) for k, v in
                  urllib.parse.parse_qsl(parts.query, keep_blank_values=True) if k not in query]
        pairs = list(inline)
        for k, v in query.items():
            if isinstance(v, list):
                pairs.extend((k, subst(x, lambda y: y)) for x in v)
            else:
                pairs.append((k, subst(v, lambda y: y)))
        self.path = path
        self.url = urllib.parse.urlunsplit(
            (parts.scheme, parts.netloc, path, urllib.parse.urlencode(pairs), ""))
        self.public_url = self.redact_url(self.url)

    def redact_url(self, url):
        """url without userinfo and without secret query parameters."""
        try:
            p = urllib.parse.urlsplit(url)
        except ValueError:
            return "(invalid URL)"
        netloc = p.netloc.rpartition("@")[2]
        pairs = [(k, v) for k, v in urllib.parse.parse_qsl(p.query, keep_blank_values=True)
                 if not is_secret_query(k, self.secret_query_names)]
        return _scrub(urllib.parse.urlunsplit((p.scheme, netloc, p.path, urllib.parse.urlencode(pairs), "")),
                      self.secrets)

    def error(self, sqlstate, what, detail=None, hint=None):
        return IngestError(sqlstate,
                           _scrub('connection "%s": %s %s %s' % (self.conn, self.method, self.public_url, what),
                                  self.secrets),
                           _scrub(detail, self.secrets), _scrub(hint, self.secrets))


def _origin(url):
    p = urllib.parse.urlsplit(url)
    port = p.port or (443 if p.scheme == "https" else 80)
    return (p.scheme.lower(), (p.hostname or "").lower(), port)


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow at most MAX_REDIRECTS http(s) redirects; drop secret headers
    when the redirect leaves the origin."""

    max_redirections = MAX_REDIRECTS

    def __init__(self, req):
        super().__init__()
        self.req = req

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise self.req.error(SQLSTATE_HTTP, "redirected (HTTP %d) to a URL that is not http(s)" % code)
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and _origin(newurl) != _origin(req.full_url):
            for k in list(new.headers):
                if is_secret_header(k, self.req.secret_header_names):
                    del new.headers[k]
        return new


def _set_socket_timeout(resp, seconds):
    sock = getattr(getattr(getattr(resp, "fp", None), "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.settimeout(max(seconds, 0.001))
        except OSError:
            pass


def _snippet(raw, secrets, limit=200):
    text = raw.decode("utf-8", "replace")
    text = " ".join(_scrub(text, secrets).split())
    return text if len(text) <= limit else text[:limit] + "..."


def fetch_http(req):
    """(status, content_type, raw bytes, final url) of an http(s) request."""
    timeout = req.timeout_ms / 1000.0
    deadline = time.monotonic() + timeout
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT[req.format]}
    for k in [k for k in headers if any(h.lower() == k.lower() for h in req.headers)]:
        del headers[k]
    headers.update(req.headers)
    data = None
    if req.method == "POST":
        body = req.body
        if isinstance(body, str):
            data = body.encode("utf-8")
            ctype = "text/plain; charset=utf-8"
        else:
            data = json.dumps(body if body is not None else {}).encode("utf-8")
            ctype = "application/json"
        if not any(h.lower() == "content-type" for h in headers):
            headers["Content-Type"] = ctype
    proxies = {"http": req.proxy, "https": req.proxy} if req.proxy else {}
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler(proxies),  # never the server's environment proxies
        urllib.request.HTTPSHandler(context=ssl.create_default_context()),
        _Redirects(req))
    try:
        r = urllib.request.Request(req.url, data=data, headers=headers, method=req.method)
    except ValueError as e:
        raise req.error(SQLSTATE_INVALID, "is not a valid request: %s" % e)
    try:
        resp = opener.open(r, timeout=timeout)
    except IngestError:
        raise
    except urllib.error.HTTPError as e:
        try:
            e.fp and _set_socket_timeout(e, max(deadline - time.monotonic(), 0.05))
            raw = e.read(4096) if e.fp else b""
        except Exception:
            raw = b""
        where = ""
        if e.geturl() and e.geturl() != req.url:
            where = " (redirected to %s)" % req.redact_url(e.geturl())
        raise req.error(SQLSTATE_HTTP, "returned HTTP %d %s%s" % (e.code, e.reason or "", where),
                        detail=("response body: " + _snippet(raw, req.secrets)) if raw else None,
                        hint="The transition can be retried once the source answers with 2xx.")
    except urllib.error.URLError as e:
        reason = e.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise req.error(SQLSTATE_TIMEOUT, "timed out after %d ms" % req.timeout_ms)
        raise req.error(SQLSTATE_CONNECT, "failed: %s" % (reason,))
    except (socket.timeout, TimeoutError):
        raise req.error(SQLSTATE_TIMEOUT, "timed out after %d ms" % req.timeout_ms)
    except (http.client.HTTPException, OSError) as e:
        raise req.error(SQLSTATE_CONNECT, "failed: %s" % (e.__class__.__name__ if not str(e) else e))
    except ValueError as e:
        raise req.error(SQLSTATE_INVALID, "is not a valid request: %s" % e)
    with resp:
        status = resp.status
        ctype = resp.headers.get("Content-Type")
        final = resp.geturl()
        length = resp.headers.get("Content-Length")
        if length and length.strip().isdigit() and int(length) > req.max_bytes:
            raise req.error(SQLSTATE_TOO_BIG, "response is %s bytes, more than max_bytes %d"
                            % (length.strip(), req.max_bytes))
        chunks = []
        n = 0
        read = getattr(resp, "read1", resp.read)
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError()
                _set_socket_timeout(resp, left)
                # read1: at most one wait for the socket, so the deadline holds
                b = read(min(65536, req.max_bytes + 1 - n))
                if not b:
                    break
                n += len(b)
                if n > req.max_bytes:
                    raise req.error(SQLSTATE_TOO_BIG, "response is more than max_bytes %d bytes"
                                    % req.max_bytes)
                chunks.append(b)
        except IngestError:
            raise
        except (socket.timeout, TimeoutError):
            raise req.error(SQLSTATE_TIMEOUT, "timed out after %d ms" % req.timeout_ms)
        except (http.client.HTTPException, OSError) as e:
            raise req.error(SQLSTATE_BROKEN, "broke off while reading the response (%d bytes read): %s"
                            % (n, e.__class__.__name__ if not str(e) else e))
    return status, ctype, b"".join(chunks), final


def _real(p):
    return os.path.realpath(p)


def check_file_path(conn, path, roots):
    """The real path of a file:// path, or 42501 when it is outside every root."""
    real = _real(path)
    for root in roots:
        r = _real(root)
        if r == "/" or real == r or real.startswith(r.rstrip(os.sep) + os.sep):
            return real
    raise IngestError(
        SQLSTATE_PRIVILEGE,
        'connection "%s": file %s is not under a directory listed in cyoda_wf.ingest_file_root' % (conn, path),
        hint="A superuser allows a directory with "
             "INSERT INTO cyoda_wf.ingest_file_root(dir) VALUES ('/some/dir');")


def fetch_file(req, roots):
    """(None, None, raw bytes, url) of a file:// request."""
    path = urllib.request.url2pathname(req.path)
    real = check_file_path(req.conn, path, roots)
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise req.error(SQLSTATE_NO_FILE, "failed: no such file")
    except OSError as e:
        raise req.error(SQLSTATE_IO, "failed: %s" % (e.strerror or e))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise req.error(SQLSTATE_IO, "failed: not a regular file")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        if st.st_size > req.max_bytes:
            raise req.error(SQLSTATE_TOO_BIG, "file is %d bytes, more than max_bytes %d"
                            % (st.st_size, req.max_bytes))
        try:
            raw = f.read(req.max_bytes + 1)
        except OSError as e:
            raise req.error(SQLSTATE_IO, "failed: %s" % (e.strerror or e))
    if len(raw) > req.max_bytes:
        raise req.error(SQLSTATE_TOO_BIG, "file is more than max_bytes %d bytes" % req.max_bytes)
    return None, None, raw, req.url


# ---------------------------------------------------------------------------
# Parsing


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


# ---------------------------------------------------------------------------
# Inside PostgreSQL

_plans = {}


def _plpy():
    import plpy

    return plpy


def _exec(key, sql, types, args, limit=0):
    plpy = _plpy()
    plan = _plans.get(key)
    if plan is None:
        plan = plpy.prepare(sql, types)
        _plans[key] = plan
    return plpy.execute(plan, args, limit) if limit else plpy.execute(plan, args)


def _raise(e):
    kw = {"sqlstate": e.sqlstate}
    if e.detail:
        kw["detail"] = e.detail
    if e.hint:
        kw["hint"] = e.hint
    _plpy().error(e.message, **kw)


_schema_ok = False


def _check_schema():
    """55000 in a database whose cyoda_wf schema predates connection_definition
    (0.1.0): this package works only on the updated one."""
    global _schema_ok
    if not _schema_ok:
        rows = _exec("schema", "SELECT pg_catalog.to_regclass('cyoda_wf.connection_definition') IS NOT NULL AS ok",
                     [], [])
        if not rows[0]["ok"]:
            raise IngestError(SQLSTATE_NOT_READY, "data ingestion needs the cyoda_wf schema of this version",
                              detail="This database has the objects of cyoda_wf 0.1.0.",
                              hint="Run ALTER EXTENSION cyoda_wf UPDATE.")
        _schema_ok = True


def _find_connection(name):
    """(entity id, definition) of the connection create_connection stored, or (None, None)."""
    rows = _exec("conn",
                 "SELECT d.entity_id::text AS id, d.definition::text AS def"
                 " FROM cyoda_wf.connection_definition AS d WHERE d.name = $1",
                 ["text"], [name])
    if not rows:
        return None, None
    return rows[0]["id"], json.loads(rows[0]["def"])


def _stored_secrets(cid):
    """{(kind, key): value} of the connection whose entity id is cid."""
    if cid is None:
        return {}
    rows = _exec("secrets",
                 "SELECT s.kind, s.key, s.value FROM cyoda_wf.connection_secret AS s"
                 " WHERE s.connection_id = $1::uuid",
                 ["text"], [cid])
    return {(r["kind"], r["key"]): r["value"] for r in rows}


def _file_roots():
    return [r["dir"] for r in _exec("roots", "SELECT r.dir FROM cyoda_wf.ingest_file_root AS r ORDER BY r.dir",
                                    [], [])]


def _lock(name):
    _exec("lock", "SELECT pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('cyoda_wf.connection:' || $1))",
          ["text"], [name])


def _entity_exists(cid):
    return bool(_exec("exists", "SELECT 1 FROM cyoda_wf.entity AS e WHERE e.id = $1::uuid",
                      ["text"], [cid]))


def _write_entity(op, cid, data):
    """The connection's entity: 'create', 'replace' or 'delete' (the only
    writes the reserved model "connection" takes); its id."""
    rows = _exec("write", "SELECT cyoda_wf.write_connection_entity($1, $2::uuid, $3::jsonb)::text AS id",
                 ["text", "text", "text"], [op, cid, data])
    return rows[0]["id"]


def sql_create_connection(name, definition):
    """cyoda_wf.create_connection(name, definition): upsert by name; the entity id."""
    try:
        d = json.loads(definition) if definition is not None else None
        if not isinstance(name, str) or not _NAME_RE.match(name):
            normalize_definition(name, d)  # raises the name error
        _check_schema()
        _lock(name)
        cid, _ = _find_connection(name)
        public, secrets = normalize_definition(name, d, _stored_secrets(cid))
        scheme = urllib.parse.urlsplit(public["url"]).scheme
        if scheme == "file" and not _VAR_RE.search(public["url"]):
            check_file_path(name, urllib.request.url2pathname(urllib.parse.urlsplit(public["url"]).path),
                            _file_roots())
    except IngestError as e:
        _raise(e)
    _exec("model",
          "INSERT INTO cyoda_wf.model AS m (name, version, entity_type, sources)"
          " VALUES ($1, $2, 'CONFIG', ARRAY['API_REQUEST']) ON CONFLICT (name, version) DO UPDATE"
          " SET entity_type = excluded.entity_type, sources = excluded.sources, depends_on = NULL"
          " WHERE m.entity_type IS DISTINCT FROM excluded.entity_type OR m.sources <> excluded.sources"
          " OR m.depends_on IS NOT NULL",
          ["text", "int4"], [CONNECTION_MODEL, CONNECTION_MODEL_VERSION])
    data = json.dumps(public)
    if cid is not None and _entity_exists(cid):
        _write_entity("replace", cid, data)
    else:
        cid = _write_entity("create", None, data)
    _exec("defput",
          "INSERT INTO cyoda_wf.connection_definition AS d (name, entity_id, definition)"
          " VALUES ($1, $2::uuid, $3::jsonb) ON CONFLICT (name) DO UPDATE"
          " SET entity_id = excluded.entity_id, definition = excluded.definition,"
          " updated_at = pg_catalog.clock_timestamp()",
          ["text", "text", "text"], [name, cid, data])
    _exec("secdel", "DELETE FROM cyoda_wf.connection_secret AS s WHERE s.connection_id = $1::uuid",
          ["text"], [cid])
    for (kind, key), value in sorted(secrets.items()):
        _exec("secins", "INSERT INTO cyoda_wf.connection_secret (connection, kind, key, value, connection_id)"
              " VALUES ($1, $2, $3, $4, $5::uuid)", ["text", "text", "text", "text", "text"],
              [name, kind, key, value, cid])
    return cid


def sql_drop_connection(name):
    """cyoda_wf.drop_connection(name): delete the connection, its secrets and its entity."""
    try:
        _check_schema()
    except IngestError as e:
        _raise(e)
    _lock(name)
    cid, _ = _find_connection(name)
    if cid is None:
        return False
    # its secrets go with it (ON DELETE CASCADE)
    _exec("defdel", "DELETE FROM cyoda_wf.connection_definition AS d WHERE d.name = $1", ["text"], [name])
    if _entity_exists(cid):
        _write_entity("delete", cid, None)
    return True


def _adds(annotations):
    out = []
    for key in ("adds_new_entities", "adds_new_entites"):
        v = (annotations or {}).get(key)
        for x in (v if isinstance(v, list) else [v]):
            if isinstance(x, str) and x and x != "None" and x not in out:
                out.append(x)
    return out


def model_from_design(conn, meta):
    """The model named by adds_new_entities of the running transition, or None."""
    m, wf, tr = meta.get("entity_model"), meta.get("workflow"), meta.get("transition")
    if not (isinstance(m, str) and isinstance(wf, str) and isinstance(tr, str)):
        return None
    ver = meta.get("entity_version") if isinstance(meta.get("entity_version"), int) else 1
    rows = _exec("wf", "SELECT w.definition::text AS def FROM cyoda_wf.workflow AS w"
                 " WHERE w.model = $1 AND w.model_version = $2 AND w.name = $3",
                 ["text", "int4", "text"], [m, ver, wf])
    if not rows:
        return None
    states = json.loads(rows[0]["def"]).get("states") or {}
    order = [meta.get("state")] + [s for s in states if s != meta.get("state")]
    cands = []
    for s in order:
        for t in (states.get(s) or {}).get("transitions") or []:
            if t.get("name") == tr:
                cands = _adds(t.get("annotations"))
                if cands:
                    break
        if cands:
            break
    if len(cands) <= 1:
        return cands[0] if cands else None
    rows = _exec("types", "SELECT m.name FROM cyoda_wf.model AS m WHERE m.name = ANY($1) AND m.version = $2"
                 " AND pg_catalog.upper(m.entity_type) LIKE '%RAW_DATA%'", ["text[]", "int4"], [cands, RAW_MODEL_VERSION])
    raw = [r["name"] for r in rows]
    if len(raw) == 1:
        return raw[0]
    raise _invalid('connection "%s": transition "%s" adds several entities (%s); cannot tell which one '
                   "holds the raw data" % (conn, tr, ", ".join(cands)),
                   hint="Pass raw_model, or set \"raw_model\" in the connection.")


def sql_ingest(connection, params, raw_model, meta):
    """The fetch of cyoda_wf.ingest(connection, params, raw_model, meta):
    {"model", "data" (JSON text)} of the raw data entity (version
    RAW_MODEL_VERSION), which ingest then adds as its caller."""
    try:
        if not isinstance(connection, str) or not connection:
            raise _invalid("connection name must not be NULL or empty")
        m = json.loads(meta) if meta is not None else None
        if m is not None:
            if not isinstance(m, dict) or not isinstance(m.get("token"), str):
                raise _invalid('connection "%s": meta must be the process\'s meta object (with "token")'
                               % connection)
            eid = _exec("tok", "SELECT cyoda_wf.check_token($1)::text AS id", ["text"], [m["token"]])[0]["id"]
            if m.get("entity_id") not in (None, eid):
                raise _invalid('connection "%s": meta "entity_id" is not the entity of the token' % connection)
        _check_schema()
        cid, public = _find_connection(connection)
        if cid is None:
            raise IngestError(SQLSTATE_UNDEFINED, 'connection "%s" does not exist' % connection,
                              hint="Create it with cyoda_wf.create_connection(name, definition).")
        p = json.loads(params) if params is not None else None
        d = effective_definition(public, _stored_secrets(cid))
        # Checked again: a definition stored by an earlier version may break today's rules.
        normalize_definition(connection, {k: v for k, v in d.items() if k in DEFINITION_KEYS})
        req = Request(connection, d, _check_params(p, connection))
        model = raw_model or d.get("raw_model")
        if not model and m is not None:
            model = model_from_design(connection, m)
        if not model:
            raise _invalid('connection "%s": no model for the raw data entity' % connection,
                           detail="Neither raw_model, the connection's \"raw_model\" nor the running "
                                  "transition's adds_new_entities names one.",
                           hint="Pass raw_model, e.g. cyoda_wf.ingest('%s', NULL, 'raw_data')." % connection)
        roots = _file_roots() if req.scheme == "file" else ()
        try:
            doc = fetch_and_parse(req, roots)
        except IngestError:
            raise
        except Exception as e:  # a failure not foreseen above: still name the connection, hide secrets
            raise req.error(SQLSTATE_EXTERNAL, "failed: %s: %s" % (type(e).__name__, e))
    except IngestError as e:
        _raise(e)
    return {"model": model, "data": json.dumps(doc, ensure_ascii=False)}


# ---------------------------------------------------------------------------
# The process helper

_META_KEYS = ("token", "entity_id", "entity_model", "entity_version", "state", "transition",
              "next_state", "workflow", "process")


def _as_meta(v, token):
    if isinstance(v, str) and token in v and len(v) < 1 << 20:
        try:
            v = json.loads(v)
        except ValueError:
            return None
    if isinstance(v, dict) and v.get("token") == token:
        return v
    return None


def _find_meta(token):
    """The meta of the running process holding token, found on the Python stack."""
    f = sys._getframe(2)
    while f is not None:
        for scope in (f.f_locals, f.f_globals):
            v = scope.get("meta")
            m = _as_meta(v, token)
            if m is not None:
                return m
        for v in f.f_locals.values():
            if isinstance(v, dict) and v.get("token") == token:
                return v
        f = f.f_back
    return None


def ingest_data_from_connection(token, connection_name, params=None, raw_model=None, meta=None):
    """Fetch connection_name, store one raw data entity, return its id (str).

    token is meta["token"] of the running process.  The entity's model is
    raw_model, else the connection's "raw_model", else the entity the
    running transition adds (the design's adds_new_entites); meta (the
    process's meta dict) is found on the stack when not given.  params:
    {"vars": {...}, "query": {...}, "headers": {...}, "body": ...}.
    Errors are PostgreSQL errors (plpy.SPIError subclasses) with the
    SQLSTATEs listed in this module.
    """
    if meta is None:
        meta = _find_meta(token)
    else:
        meta = _as_meta(meta, token)
        if meta is None:
            _plpy().error("meta does not belong to the token", sqlstate=SQLSTATE_INVALID)
    m = {k: meta[k] for k in _META_KEYS if k in meta} if meta else {"token": token}
    rows = _exec("ingest", "SELECT cyoda_wf.ingest($1, $2::jsonb, $3, $4::jsonb)::text AS id",
                 ["text", "text", "text", "text"],
                 [connection_name, json.dumps(params) if params is not None else None, raw_model,
                  json.dumps(m, default=str)])
    return rows[0]["id"]

"""Connection definitions and their secrets.

The rules a definition given to create_connection must follow
(normalize_definition), which header / query / body values are secret and
the strings they may show up as (_secret_strings), the scrubbing every text
that leaves the package goes through (_scrub), the params of one ingest
(_check_params), and the constants and SQLSTATEs of data ingestion.
"""

import json
import re
import urllib.parse

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

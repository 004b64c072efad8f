"""Building the request of one ingest and fetching it.

Request turns a definition (secrets included) and params into the URL,
headers and body to send and the set of values that must not be shown;
fetch_http reads an http(s) source within timeout_ms and max_bytes,
following at most MAX_REDIRECTS redirects and dropping secret headers when
one leaves the origin; fetch_file reads a file under
cyoda_wf.ingest_file_root.
"""

import http.client
import json
import os
import socket
import ssl
import stat
import time
import urllib.error
import urllib.parse
import urllib.request

from cyoda_wf.data_ingestion.definitions import (
    ACCEPT,
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT_MS,
    IngestError,
    MAX_REDIRECTS,
    SQLSTATE_BROKEN,
    SQLSTATE_CONNECT,
    SQLSTATE_HTTP,
    SQLSTATE_INVALID,
    SQLSTATE_IO,
    SQLSTATE_NO_FILE,
    SQLSTATE_PRIVILEGE,
    SQLSTATE_TIMEOUT,
    SQLSTATE_TOO_BIG,
    USER_AGENT,
    _VAR_RE,
    _invalid,
    _scrub,
    _secret_strings,
    is_secret_header,
    is_secret_query,
)


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


class _Socket:
    """The socket of the latest connection a fetch opened (redirects open
    new ones), kept when the connection connects, so that each read of the
    response waits at most until the fetch's deadline."""

    def __init__(self):
        self.sock = None

    def connection_class(self, base):
        """base (http.client.HTTPConnection or HTTPSConnection), remembering its socket here."""
        holder = self

        class Connection(base):
            def connect(self):
                """Connect (TLS and proxy tunnel included), then remember the socket."""
                super().connect()
                holder.sock = self.sock

        return Connection

    def settimeout(self, seconds):
        """Let the next blocking operation on the socket wait at most seconds."""
        if self.sock is not None:
            try:
                self.sock.settimeout(max(seconds, 0.001))
            except OSError:
                pass


class _HTTPHandler(urllib.request.HTTPHandler):
    """http:// through connections whose socket _Socket keeps."""

    def __init__(self, socket_):
        super().__init__()
        self.socket = socket_

    def http_open(self, req):
        return self.do_open(self.socket.connection_class(http.client.HTTPConnection), req)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    """https:// (certificates verified) through connections whose socket _Socket keeps."""

    def __init__(self, socket_):
        self.context = ssl.create_default_context()
        super().__init__(context=self.context)
        self.socket = socket_

    def https_open(self, req):
        return self.do_open(self.socket.connection_class(http.client.HTTPSConnection), req,
                            context=self.context)


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
    sock = _Socket()
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler(proxies),  # never the server's environment proxies
        _HTTPHandler(sock),
        _HTTPSHandler(sock),
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
            sock.settimeout(max(deadline - time.monotonic(), 0.05))
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
                sock.settimeout(left)
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

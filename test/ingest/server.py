"""HTTP sources for test/scripts/ingest.sh, on 127.0.0.1 only.

Usage: server.py PORTFILE SECRET QUERY_SECRET
Starts two servers (A and B) on free ports of 127.0.0.1 and writes
"PORT_A PORT_B" into PORTFILE; runs until killed.  Routes (both servers):

  /ok.json /ok.ndjson /ok.csv   well-formed data
  /auth.json        200 only with "Authorization: Bearer SECRET", else 401
  /query.json       which query parameters arrived (api_key: only whether it was right)
  /post.json        echoes method, Content-Type and the JSON body (SECRET masked)
  /slow             answers after 3 s
  /drip             sends 10 bytes every 0.3 s for 3 s (Content-Length set)
  /500              HTTP 500
  /echo401          HTTP 401 whose body repeats the request headers (values too)
  /bad.json         malformed JSON
  /bad.ndjson       second line malformed
  /bad.csv          a row with more fields than the header
  /notutf8          bytes that are not UTF-8
  /big              5000 bytes with Content-Length
  /bigstream        5000 bytes without Content-Length (connection close)
  /redirect_same    302 to /auth.json on the same server
  /redirect_other   302 to /echo.json on server B (another origin)
  /echo.json        the names of the request headers, and whether Authorization came
  /echo_all.json    every request header and query parameter with its value (secrets too)
  /log.json         the requests both servers received so far (server, path, whether
                    the secret came in any header), except those for /log.json
"""
import json
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTFILE, SECRET, QSECRET = sys.argv[1], sys.argv[2], sys.argv[3]
PORTS = {}
LOG = []
LOG_LOCK = threading.Lock()

OK_JSON = {"source": "test", "items": [{"id": 1, "name": "alpha", "price": 9.5},
                                       {"id": 2, "name": "beta", "price": 12}]}
OK_NDJSON = '{"id": 1, "kind": "a"}\n{"id": 2, "kind": "b", "tags": ["x"]}\n\n{"id": 3, "kind": null}\n'
OK_CSV = ("region,product,units,unit_price,code,note\r\n"
          "NA,Widget,10,12.50,007,\"hello, world\"\r\n"
          "EU,Gadget,-3,1.5e3,42,\r\n"
          "UK,Gizmo,,x,0,short\r\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json", length=True, headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        try:
            self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            pass

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        p = u.path
        if p == "/log.json":
            with LOG_LOCK:
                return self.send(200, json.dumps({"requests": LOG}))
        with LOG_LOCK:
            LOG.append({"server": "A" if self.server.server_address[1] == PORTS["A"] else "B", "path": p,
                        "secret": any(SECRET in v for v in self.headers.values())})
        if p == "/echo_all.json":
            return self.send(200, json.dumps({"headers": dict(self.headers.items()), "query": q}))
        if p == "/ok.json":
            return self.send(200, json.dumps(OK_JSON))
        if p == "/ok.ndjson":
            return self.send(200, OK_NDJSON, "application/x-ndjson")
        if p == "/ok.csv":
            return self.send(200, OK_CSV, "text/csv; charset=utf-8")
        if p == "/auth.json":
            if self.headers.get("Authorization") != "Bearer " + SECRET:
                return self.send(401, '{"error": "unauthorized"}')
            return self.send(200, json.dumps({"authorized": True}))
        if p == "/query.json":
            args = {k: v for k, v in q.items() if k != "api_key"}
            return self.send(200, json.dumps({"args": args, "api_key_ok": q.get("api_key") == [QSECRET]}))
        if p == "/post.json":
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8") if n else ""
            # the secret comes back as "<the secret>" (it must not land in entity data)
            return self.send(200, json.dumps({"method": self.command,
                                              "content_type": self.headers.get("Content-Type"),
                                              "received": json.loads(body) if body else None})
                             .replace(SECRET, "<the secret>"))
        if p == "/slow":
            time.sleep(3)
            return self.send(200, '{"late": true}')
        if p == "/drip":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "100")
            self.end_headers()
            try:
                for _ in range(10):
                    self.wfile.write(b" " * 10)
                    self.wfile.flush()
                    time.sleep(0.3)
            except OSError:
                pass
            return None
        if p == "/500":
            return self.send(500, "boom: the source failed", "text/plain")
        if p == "/echo401":
            return self.send(401, "denied; you sent: " + json.dumps(dict(self.headers.items())), "text/plain")
        if p == "/bad.json":
            return self.send(200, '{"a": 1, "b": [1, 2,}')
        if p == "/bad.ndjson":
            return self.send(200, '{"a": 1}\n{"a": 2\n', "application/x-ndjson")
        if p == "/bad.csv":
            return self.send(200, "a,b\n1,2\n3,4,5\n", "text/csv")
        if p == "/notutf8":
            return self.send(200, b'{"a": "\xff\xfe"}')
        if p == "/big":
            return self.send(200, json.dumps({"pad": "x" * 4988}))
        if p == "/bigstream":
            return self.send(200, json.dumps({"pad": "x" * 4988}), length=False)
        if p == "/redirect_same":
            return self.send(302, "", headers=[("Location", "/auth.json")])
        if p == "/redirect_other":
            return self.send(302, "", headers=[("Location", "http://127.0.0.1:%d/echo.json" % PORTS["B"])])
        if p == "/echo.json":
            return self.send(200, json.dumps({"header_names": sorted(k.lower() for k in self.headers.keys()),
                                              "has_authorization": "Authorization" in self.headers}))
        return self.send(404, '{"error": "no such route"}')

    do_GET = route
    do_POST = route


def main():
    servers = {}
    for name in ("A", "B"):
        s = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        s.daemon_threads = True
        servers[name] = s
        PORTS[name] = s.server_address[1]
    for s in servers.values():
        threading.Thread(target=s.serve_forever, daemon=True).start()
    with open(PORTFILE + ".tmp", "w") as f:
        f.write("%d %d\n" % (PORTS["A"], PORTS["B"]))
    import os
    os.rename(PORTFILE + ".tmp", PORTFILE)
    threading.Event().wait()


if __name__ == "__main__":
    main()

"""A local HTTP(S) server for the HTTP client's tests, on a free loopback
port: python's http.server, one thread per connection, with a few routes
whose behaviour the tests steer (status codes, slow and held answers,
large bodies, redirects, a webhook receiver). Every request is recorded."""
import collections
import http.server
import json
import os
import ssl
import subprocess
import threading
import time
import urllib.parse

HOLD_LIMIT_S = 120  # a held request is let go after this, whatever happens


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096  # thousands of connections arrive at once


class Httpd:
    def __init__(self, tls=None, port=0):
        self.hits = collections.Counter()
        self.posts = []  # (path, headers, body) of each POST
        self.inflight = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.closing = threading.Event()
        self.srv = _Server(("127.0.0.1", port), self._handler())
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*tls)
            self.srv.socket = ctx.wrap_socket(self.srv.socket, server_side=True)
        self.port = self.srv.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path, host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"

    def close(self):
        self.closing.set()
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()

    def _handler(self):
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def answer(self, code, body=b"", headers=(), length=True, close=False):
                self.send_response(code)
                for k, v in headers:
                    self.send_header(k, v)
                if length:
                    self.send_header("Content-Length", str(len(body)))
                if close or not length:
                    self.send_header("Connection", "close")
                    self.close_connection = True
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass  # the client went away (a cancelled request)

            def route(self):
                u = urllib.parse.urlsplit(self.path)
                parts = u.path.strip("/").split("/")
                with owner.lock:
                    owner.hits[u.path] += 1
                name, arg = parts[0], (parts[1] if len(parts) > 1 else "")
                if name == "status":
                    return self.answer(int(arg), b"status %s" % arg.encode())
                if name == "slow":
                    owner.closing.wait(int(arg) / 1000)
                    return self.answer(200, b"slow")
                if name == "hold":
                    with owner.lock:
                        owner.inflight += 1
                    owner.release.wait(HOLD_LIMIT_S)
                    with owner.lock:
                        owner.inflight -= 1
                    # Closed after: thousands of idle keep-alive threads
                    # would all wake at once when the worker stops.
                    return self.answer(200, b"held", close=True)
                if name == "big":
                    return self.answer(200, b"x" * int(arg))
                if name == "bigstream":  # no length: read until the close
                    return self.answer(200, b"x" * int(arg), length=False)
                if name == "manyheaders":  # one header, repeated
                    return self.answer(200, b"h", headers=[("X-A", "v" * 10)] * int(arg))
                if name == "redirect":
                    k = int(arg)
                    if k == 0:
                        return self.answer(200, b"done")
                    return self.answer(302, headers=[("Location", f"/redirect/{k - 1}")])
                if name == "to":
                    target = urllib.parse.parse_qs(u.query)["u"][0]
                    return self.answer(302, headers=[("Location", target)])
                return self.answer(200, b"ok", headers=[("X-Twice", "a"), ("X-Twice", "b")])

            def do_GET(self):
                self.route()

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                with owner.lock:
                    owner.posts.append((self.path, dict(self.headers), body))
                self.route()

        return Handler


def make_ca(dirpath):
    """A test CA and a server certificate for 127.0.0.1 and localhost, made
    with openssl now. Returns (ca_cert, server_cert, server_key)."""
    p = lambda n: os.path.join(dirpath, n)
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=dirpath)
    run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
        "-days", "2",
        "-subj", "/CN=jobq test CA", "-keyout", p("ca.key"), "-out", p("ca.crt"))
    run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-nodes", "-subj", "/CN=localhost",
        "-keyout", p("srv.key"), "-out", p("srv.csr"))
    with open(p("ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("openssl", "x509", "-req", "-in", p("srv.csr"), "-CA", p("ca.crt"),
        "-CAkey", p("ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", p("ext.cnf"), "-out", p("srv.crt"))
    return p("ca.crt"), p("srv.crt"), p("srv.key")


def rss_kib(pid, field="VmHWM"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def as_json(body):
    return json.loads(body.decode())

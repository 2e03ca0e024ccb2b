#!/usr/bin/env python3
"""A paged JSON API for usersync's tests (Python's standard library only).

usage: json_api.py --port PORT --users FILE [--tls CERT KEY] [--client-id ID --client-secret S]
                   [--token-lifetime SECONDS]

Serves the users of FILE (a JSON list, read again on every request so that a test can change
them between syncs), split into pages of `per_page` (default 3):

  GET  /next?page=N          {"value": [...], "@odata.nextLink": "/next?page=N+1"} (absolute URL;
                             with &to=BASE the link points to BASE/next instead: another server)
  GET  /link?page=N          the list, with a Link: <...>; rel="next" header
  GET  /pages?page=N&per_page=K   the list, plain; a short page is the last
  GET  /offset?offset=O&limit=K   {"items": [...]}
  GET  /flaky?page=N         like /next, but each page answers 429 (Retry-After: 1) the first time
  GET  /broken               500, always
  GET  /notjson              an HTML page
  POST /token                OAuth 2.0 client credentials: with --client-id/--client-secret (form
                             or basic), a token valid for --token-lifetime seconds
  GET  /people.csv           the file of --csv, behind HTTP basic auth when --basic USER:PASSWORD
  GET  /stats                {"requests": {path: count}, "tokens": issued, "rejected": n,
                             "credentials": requests that carried an Authorization header}

With --client-id, every GET but /stats needs a current token from /token (401 otherwise).
"""
import argparse
import base64
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.Lock()
stats = {"requests": {}, "tokens": 0, "rejected": 0, "throttled": 0, "credentials": 0}
tokens = {}  # token -> expiry
throttled = set()


def load_users():
    with open(args.users, encoding="utf-8") as f:
        return json.load(f)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):  # quiet
        pass

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def base(self):
        scheme = "https" if args.tls else "http"
        return f"{scheme}://127.0.0.1:{args.port}"

    def authorised(self):
        if not args.client_id:
            return True
        auth = self.headers.get("Authorization", "")
        with lock:
            expiry = tokens.get(auth[7:]) if auth.startswith("Bearer ") else None
            if expiry is None or expiry < time.time():
                stats["rejected"] += 1
                return False
        return True

    def do_POST(self):
        path = urllib.parse.urlparse(self.path).path
        length = int(self.headers.get("Content-Length", "0"))
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        if path != "/token":
            return self.send_json(404, {"error": "not found"})
        cid, secret = form.get("client_id", [None])[0], form.get("client_secret", [None])[0]
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            user, _, pw = base64.b64decode(auth[6:]).decode().partition(":")
            cid, secret = urllib.parse.unquote(user), urllib.parse.unquote(pw)
        if form.get("grant_type", [None])[0] != "client_credentials" or cid != args.client_id or secret != args.client_secret:
            return self.send_json(401, {"error": "invalid_client"})
        with lock:
            stats["tokens"] += 1
            token = f"token-{stats['tokens']}"
            tokens[token] = time.time() + args.token_lifetime
        self.send_json(200, {"access_token": token, "token_type": "Bearer", "expires_in": args.token_lifetime})

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = urllib.parse.parse_qs(url.query)
        path = url.path
        with lock:
            stats["requests"][path] = stats["requests"].get(path, 0) + 1
            if path != "/stats" and self.headers.get("Authorization"):
                stats["credentials"] += 1
        if path == "/stats":
            with lock:
                return self.send_json(200, stats)
        if path == "/people.csv":
            if args.basic and self.headers.get("Authorization", "") != "Basic " + base64.b64encode(args.basic.encode()).decode():
                return self.send_json(401, {"error": "basic auth needed"}, {"WWW-Authenticate": 'Basic realm="test"'})
            with open(args.csv, "rb") as f:
                data = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        if not self.authorised():
            return self.send_json(401, {"error": "invalid_token"})
        if path == "/broken":
            return self.send_json(500, {"error": "down for good"})
        if path == "/notjson":
            data = b"<html><body>Maintenance</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            return self.wfile.write(data)
        users = load_users()
        page = int(query.get("page", ["1"])[0])
        per_page = int(query.get("per_page", ["3"])[0])
        chunk = users[(page - 1) * per_page: page * per_page]
        more = page * per_page < len(users)
        if path in ("/next", "/flaky"):
            if path == "/flaky":
                with lock:
                    first = page not in throttled
                    throttled.add(page)
                    if first:
                        stats["throttled"] += 1
                if first:
                    return self.send_json(429, {"error": "slow down"}, {"Retry-After": "1"})
            body = {"value": chunk}
            if more:
                to = query.get("to", [None])[0]
                body["@odata.nextLink"] = (f"{to}{path}?page={page + 1}&to={urllib.parse.quote(to, safe='')}" if to
                                           else f"{self.base()}{path}?page={page + 1}")
            return self.send_json(200, body)
        if path == "/link":
            headers = {"Link": f'<{path}?page={page + 1}>; rel="next", <{path}?page=1>; rel="first"'} if more else {}
            return self.send_json(200, chunk, headers)
        if path == "/pages":
            return self.send_json(200, chunk)
        if path == "/offset":
            offset = int(query.get("offset", ["0"])[0])
            limit = int(query.get("limit", ["3"])[0])
            return self.send_json(200, {"items": users[offset: offset + limit]})
        self.send_json(404, {"error": "not found"})


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--client-id")
    parser.add_argument("--client-secret")
    parser.add_argument("--token-lifetime", type=float, default=3600)
    parser.add_argument("--csv")
    parser.add_argument("--basic")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.tls:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls[0], args.tls[1])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""An Okta org's Management API as usersync's tests meet it (Python's standard library and
the openssl command only).

usage: okta_api.py --port PORT --data FILE --tls CERT KEY (--api-token T | --client-id ID
                   --client-public-key PEM) [--rate-limit N --rate-window SECONDS]

Written from Okta's public references (developer.okta.com/docs/api/openapi/okta-management:
Users, Groups; /docs/reference/rl-best-practices; /docs/reference/error-codes;
/docs/guides/implement-oauth-for-okta-serviceapp), not from usersync's code:

- Auth: `Authorization: SSWS <api token>`; or OAuth 2.0 for Okta: POST /oauth2/v1/token with
  grant_type=client_credentials, scope (space separated) and a client assertion
  (private_key_jwt: RS256, aud = the token URL, iss = sub = client id, exp, jti), giving a
  Bearer token with those scopes. Invalid token: 401 E0000011 "Invalid token provided". A
  token without the scope: 403 E0000006 with a WWW-Authenticate insufficient_scope header.
- GET /api/v1/users?limit=&after=&filter=&search=: a JSON array of users
  ({id, status, created, activated, statusChanged, lastLogin, lastUpdated, passwordChanged,
  type, profile: {login, email, firstName, lastName, ...}, credentials, _links}); a plain
  listing leaves DEPROVISIONED users out, a filter or search includes them when they match;
  limit at most 200. Pages are linked by `Link: <...?after=CURSOR&limit=N>; rel="next"` (and
  rel="self"), absent on the last page.
- GET /api/v1/groups?limit=&after=&filter=&search=: groups ({id, type, profile: {name,
  description}, ...}); GET /api/v1/groups/{id}/users: the group's users, paged the same way.
- Rate limits per endpoint family and window: every answer carries X-Rate-Limit-Limit,
  X-Rate-Limit-Remaining and X-Rate-Limit-Reset (the window's end, epoch seconds); past the
  limit, 429 E0000047 "API call exceeded rate limit due to too many requests." (no
  Retry-After).
- filter/search: `status eq "ACTIVE"`, `profile.department eq "Sales"`, `profile.name sw "S"`,
  `type eq "OKTA_GROUP"`, joined by ` and `; anything else is 400 E0000031.

FILE is {"users": [...], "groups": [{..., "members": [user ids]}]}, read on every request.

Test controls (no auth; not Okta's): POST /_control {"force429": N} (the next N API requests
answer 429), {"usesPerToken": N} (an OAuth access token is refused, as an expired one is, after
N requests), GET /_log.
"""
import argparse
import base64
import json
import os
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

args = None
lock = threading.RLock()
log = []
tokens = {}  # bearer token -> scopes
windows = {}  # bucket -> (window end, used)
state = {"force429": 0, "usesPerToken": 0}
uses = {}  # bearer token -> requests made with it


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load():
    with open(args.data, encoding="utf-8") as f:
        return json.load(f)


def get_path(obj, dotted):
    for part in dotted.split("."):
        if not isinstance(obj, dict):
            return None
        obj = obj.get(part)
    return obj


def parse_expression(text):
    clauses = []
    for part in text.split(" and "):
        pieces = part.strip().split(" ", 2)
        if len(pieces) != 3 or pieces[1] not in ("eq", "sw"):
            return None
        value = pieces[2]
        if not (value.startswith('"') and value.endswith('"')):
            return None
        clauses.append((pieces[0], pieces[1], value[1:-1]))
    return clauses


def matches(obj, clauses):
    for prop, op, value in clauses:
        actual = get_path(obj, prop)
        if not isinstance(actual, str):
            return False
        if op == "eq" and actual.lower() != value.lower():
            return False
        if op == "sw" and not actual.lower().startswith(value.lower()):
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            # Okta sends each link in a header of its own.
            for item in (v if isinstance(v, list) else [v]):
                self.send_header(k, item)
        self.end_headers()
        self.wfile.write(data)
        with lock:
            log.append({"method": self.command, "path": self.path, "status": status, "time": time.time()})

    def okta_error(self, status, code, summary, headers=None):
        self.send_json(status, {"errorCode": code, "errorSummary": summary, "errorLink": code,
                                "errorId": "oae" + uuid.uuid4().hex[:20], "errorCauses": []}, headers)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_control":
            with lock:
                state.update(json.loads(body or "{}"))
            return self.send_json(200, {"ok": True})
        if path != "/oauth2/v1/token" or not args.client_id:
            return self.okta_error(404, "E0000022", "The endpoint does not support the provided HTTP method")
        form = dict(urllib.parse.parse_qsl(body))
        if form.get("grant_type") != "client_credentials":
            return self.send_json(400, {"error": "unsupported_grant_type", "error_description": "The authorization grant type is not supported by the authorization server."})
        problem = self.check_assertion(form)
        if problem:
            return self.send_json(401, {"error": "invalid_client", "error_description": problem})
        scopes = form.get("scope", "").split()
        granted = [s for s in scopes if s in args.granted_scopes]
        if not granted:
            return self.send_json(400, {"error": "invalid_scope", "error_description": "The authorization server resource does not have any configured default scopes, 'scope' must be provided."})
        token = "eyJ" + base64.urlsafe_b64encode(os.urandom(48)).decode().rstrip("=")
        with lock:
            tokens[token] = set(granted)
        self.send_json(200, {"token_type": "Bearer", "expires_in": 3600, "access_token": token, "scope": " ".join(granted)})

    def check_assertion(self, form):
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return "Client authentication failed. Either the client or the client credentials are invalid."
        pieces = form.get("client_assertion", "").split(".")
        if len(pieces) != 3:
            return "The client_assertion token is malformed."
        header = json.loads(b64url_decode(pieces[0]))
        claims = json.loads(b64url_decode(pieces[1]))
        audience = f"https://{self.headers.get('Host')}/oauth2/v1/token"
        if header.get("alg") != "RS256":
            return "The client_assertion signature algorithm is not supported."
        if claims.get("aud") != audience:
            return "The audience claim for client_assertion must be the endpoint invoked for the request."
        if claims.get("iss") != args.client_id or claims.get("sub") != args.client_id or form.get("client_id", args.client_id) != args.client_id:
            return "The client_assertion token has an invalid issuer or subject."
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < time.time() or claims["exp"] > time.time() + 3600:
            return "The client_assertion token is expired or its expiry is more than an hour away."
        if not claims.get("jti"):
            return "The client_assertion token must contain a jti claim."
        with tempfile.TemporaryDirectory() as d:
            with open(f"{d}/data", "wb") as f:
                f.write(f"{pieces[0]}.{pieces[1]}".encode())
            with open(f"{d}/sig", "wb") as f:
                f.write(b64url_decode(pieces[2]))
            ok = subprocess.run(["openssl", "dgst", "-sha256", "-verify", args.client_public_key, "-signature", f"{d}/sig", f"{d}/data"],
                                capture_output=True).returncode == 0
        if not ok:
            return "The client_assertion signature is invalid."
        return None

    def rate_headers(self, bucket):
        """Counts this request in its window; returns the headers, and whether it is over."""
        now = time.time()
        with lock:
            end, used = windows.get(bucket, (0, 0))
            if now >= end:
                end, used = now + args.rate_window, 0
            used += 1
            windows[bucket] = (end, used)
        headers = {"X-Rate-Limit-Limit": str(args.rate_limit),
                   "X-Rate-Limit-Remaining": str(max(0, args.rate_limit - used)),
                   "X-Rate-Limit-Reset": str(int(end + 0.999))}
        return headers, used > args.rate_limit

    def do_GET(self):
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        if path == "/_log":
            with lock:
                entries = log[:]
            return self.send_json(200, entries)
        bucket = "/api/v1/users" if path.startswith("/api/v1/users") else "/api/v1/groups"
        headers, over = self.rate_headers(bucket)
        with lock:
            forced = state["force429"] > 0
            if forced:
                state["force429"] -= 1
        if over or forced:
            return self.okta_error(429, "E0000047", "API call exceeded rate limit due to too many requests.", headers)
        auth = self.headers.get("Authorization", "")
        scopes = None
        if args.api_token and auth == f"SSWS {args.api_token}":
            scopes = {"okta.users.read", "okta.groups.read"}
        elif auth.startswith("Bearer "):
            with lock:
                scopes = tokens.get(auth[7:])
                if scopes is not None and state["usesPerToken"]:
                    uses[auth[7:]] = uses.get(auth[7:], 0) + 1
                    if uses[auth[7:]] > state["usesPerToken"]:
                        scopes = None
        if scopes is None:
            return self.okta_error(401, "E0000011", "Invalid token provided", headers)
        needed = "okta.users.read" if bucket == "/api/v1/users" else "okta.groups.read"
        if needed not in scopes:
            headers["WWW-Authenticate"] = (f'Bearer authorization_uri="https://{self.headers.get("Host")}/oauth2/v1/authorize", '
                                           f'realm="IdpMyAccountAPI", scope="{needed}", error="insufficient_scope", '
                                           'error_description="The access token provided does not contain the required scopes.", '
                                           f'resource="{path}"')
            return self.okta_error(403, "E0000006", "You do not have permission to perform the requested action", headers)
        query = dict(urllib.parse.parse_qsl(split.query))
        data = load()
        parts = path.strip("/").split("/")
        if parts == ["api", "v1", "users"]:
            expression = query.get("filter") or query.get("search")
            users = data["users"]
            if expression:
                clauses = parse_expression(expression)
                if clauses is None:
                    return self.okta_error(400, "E0000031", "Invalid search criteria.", headers)
                users = [u for u in users if matches(u, clauses)]
            else:
                users = [u for u in users if u.get("status") != "DEPROVISIONED"]
            return self.page(users, query, headers, 200)
        if parts == ["api", "v1", "groups"]:
            groups = [{k: v for k, v in g.items() if k != "members"} for g in data["groups"]]
            expression = query.get("filter") or query.get("search")
            if expression:
                clauses = parse_expression(expression)
                if clauses is None:
                    return self.okta_error(400, "E0000031", "Invalid search criteria.", headers)
                groups = [g for g in groups if matches(g, clauses)]
            return self.page(groups, query, headers, 10000)
        if len(parts) == 5 and parts[:3] == ["api", "v1", "groups"] and parts[4] == "users":
            group = next((g for g in data["groups"] if g["id"] == parts[3]), None)
            if group is None:
                return self.okta_error(404, "E0000007", f"Not found: Resource not found: {parts[3]} (UserGroup)", headers)
            by_id = {u["id"]: u for u in data["users"]}
            return self.page([by_id[m] for m in group.get("members", []) if m in by_id], query, headers, 1000)
        return self.okta_error(404, "E0000022", "The endpoint does not support the provided HTTP method", headers)

    def page(self, objects, query, headers, maximum):
        try:
            limit = int(query.get("limit", maximum))
        except ValueError:
            return self.okta_error(400, "E0000001", "Api validation failed: limit", headers)
        limit = max(1, min(limit, maximum))
        start = 0
        if "after" in query:
            ids = [o["id"] for o in objects]
            if query["after"] not in ids:
                start = len(objects)
            else:
                start = ids.index(query["after"]) + 1
        chunk = objects[start:start + limit]
        base = f"https://{self.headers.get('Host')}{urllib.parse.urlsplit(self.path).path}"
        params = {k: v for k, v in query.items() if k != "after"}
        links = [f'<{base}?{urllib.parse.urlencode(params)}>; rel="self"']
        if start + limit < len(objects) and chunk:
            params["after"] = chunk[-1]["id"]
            links.append(f'<{base}?{urllib.parse.urlencode(params)}>; rel="next"')
        headers = dict(headers)
        headers["Link"] = links
        self.send_json(200, chunk, headers)


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--tls", nargs=2, required=True)
    parser.add_argument("--api-token")
    parser.add_argument("--client-id")
    parser.add_argument("--client-public-key")
    parser.add_argument("--granted-scopes", default="okta.users.read,okta.groups.read")
    parser.add_argument("--rate-limit", type=int, default=600)
    parser.add_argument("--rate-window", type=float, default=60)
    args = parser.parse_args()
    args.granted_scopes = set(args.granted_scopes.split(","))
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls[0], args.tls[1])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

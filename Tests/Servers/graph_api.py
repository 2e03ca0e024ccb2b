#!/usr/bin/env python3
"""Microsoft Entra ID and Microsoft Graph as usersync's tests meet them (Python's standard
library and the openssl command only).

usage: graph_api.py --port PORT --data FILE --tls CERT KEY --tenant TENANT --client-id ID
                    (--client-secret S | --client-cert PEM) [--roles R1,R2] [--page-cap N]

Written from the public references, not from usersync's code:

- Microsoft identity platform, client credentials flow
  (learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow):
  POST /{tenant}/oauth2/v2.0/token, form grant_type=client_credentials, client_id, scope
  ({resource}/.default) and client_secret, or client_assertion_type
  urn:ietf:params:oauth:client-assertion-type:jwt-bearer with client_assertion (a JWT signed
  RS256 with the registered certificate's key; header x5t or x5t#S256; claims aud = the token
  URL, iss = sub = client_id, exp, nbf, jti) (…/certificate-credentials). Errors are
  {"error", "error_description": "AADSTSnnnn: …", "error_codes": [n]} with 400 or 401. The
  access token is a JWT whose payload carries the application permissions granted in `roles`.
- Microsoft Graph v1.0 (learn.microsoft.com/graph/api/user-list, group-list,
  group-list-members, /graph/paging, /graph/throttling, /graph/errors):
  GET /v1.0/users, /v1.0/groups with $select, $top (1..999; else 400), $filter (eq on strings
  and booleans, startswith(), joined by 'and'); pages of at most $top (and at most --page-cap:
  Graph may return fewer than asked) with @odata.nextLink holding an opaque $skiptoken; without
  $select, users come with the documented default properties only (no accountEnabled);
  GET /v1.0/groups/{id}/members: directory objects with "@odata.type" (#microsoft.graph.user,
  #microsoft.graph.group, #microsoft.graph.device, …) and only id unless $select says more.
  Errors are {"error": {"code", "message", "innerError": {"date", "request-id"}}}:
  401 InvalidAuthenticationToken (missing, malformed or expired token),
  403 Authorization_RequestDenied "Insufficient privileges to complete the operation."
  (a token without the permission: users need User.Read.All or Directory.Read.All; groups
  GroupMember.Read.All, Group.Read.All or Directory.Read.All), 429 TooManyRequests with
  Retry-After.

FILE is {"users": [...], "groups": [{"id", "displayName", ..., "members": [ids]}],
"devices": [{"id", "displayName"}]}, read again on every request.

Test controls (no auth; not Graph's):
  POST /_control {"throttleEvery": N, "retryAfter": "1", "roles": [...], "expireTokens": true,
                  "tokenLifetime": S, "usesPerToken": N (a token expires after N requests: a
                  token that runs out in the middle of a read)}
  GET  /_log     [{"method", "path", "status"}] of every request so far
"""
import argparse
import base64
import datetime
import hashlib
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
state = {"throttleEvery": 0, "retryAfter": "1", "roles": None, "tokenLifetime": 3599, "count": 0, "usesPerToken": 0}
tokens = {}  # access token -> (expiry, roles)
uses = {}  # access token -> requests made with it
log = []
skiptokens = {}  # opaque token -> (kind, key, query, offset)

USER_DEFAULTS = ["businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
                 "officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id"]
GROUP_DEFAULTS = ["id", "displayName", "description", "mail", "mailEnabled", "securityEnabled",
                  "groupTypes", "createdDateTime"]
USER_ROLES = {"User.Read.All", "User.ReadWrite.All", "Directory.Read.All", "Directory.ReadWrite.All"}
GROUP_ROLES = {"GroupMember.Read.All", "Group.Read.All", "Group.ReadWrite.All", "Directory.Read.All",
               "Directory.ReadWrite.All"}
MEMBER_ROLES = GROUP_ROLES


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load():
    with open(args.data, encoding="utf-8") as f:
        return json.load(f)


def parse_filter(text):
    """Graph's $filter, the part of it these tests use: prop eq 'x' | true | false | number,
    startswith(prop,'x'), joined by ' and '. Anything else is 400, as Graph answers for an
    unsupported query."""
    clauses = []
    for part in text.split(" and "):
        part = part.strip()
        if part.startswith("startswith(") and part.endswith(")"):
            inner = part[len("startswith("):-1]
            prop, _, value = inner.partition(",")
            value = value.strip()
            if not (value.startswith("'") and value.endswith("'")):
                return None
            clauses.append(("startswith", prop.strip(), value[1:-1].replace("''", "'")))
            continue
        pieces = part.split(" ", 2)
        if len(pieces) != 3 or pieces[1] != "eq":
            return None
        prop, _, value = pieces
        if value.startswith("'") and value.endswith("'"):
            value = value[1:-1].replace("''", "'")
        elif value in ("true", "false"):
            value = value == "true"
        else:
            try:
                value = int(value)
            except ValueError:
                return None
        clauses.append(("eq", prop, value))
    return clauses


def matches(obj, clauses):
    for op, prop, value in clauses:
        actual = obj.get(prop)
        if op == "eq":
            if isinstance(value, str) and isinstance(actual, str):
                if actual.lower() != value.lower():
                    return False
            elif actual != value:
                return False
        elif op == "startswith":
            if not isinstance(actual, str) or not actual.lower().startswith(value.lower()):
                return False
    return True


def project(obj, select, defaults, odata_type=None):
    keys = select if select else defaults
    out = {}
    if odata_type:
        out["@odata.type"] = odata_type
    for key in keys:
        if key in obj:
            out[key] = obj[key]
        elif key != "id":
            out[key] = None
    out["id"] = obj["id"]
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def send_json(self, status, body, headers=None):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", str(uuid.uuid4()))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)
        with lock:
            log.append({"method": self.command, "path": self.path, "status": status})

    def graph_error(self, status, code, message, headers=None):
        self.send_json(status, {"error": {"code": code, "message": message, "innerError": {
            "date": datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%S"),
            "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())}}}, headers)

    def identity_error(self, status, error, code, description):
        self.send_json(status, {"error": error, "error_description": f"AADSTS{code}: {description}",
                                "error_codes": [code], "timestamp": datetime.datetime.utcnow().isoformat(),
                                "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4())})

    # Token endpoint

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_control":
            control = json.loads(body or "{}")
            with lock:
                for key in ("throttleEvery", "retryAfter", "roles", "tokenLifetime", "usesPerToken"):
                    if key in control:
                        state[key] = control[key]
                if control.get("expireTokens"):
                    for token in tokens:
                        tokens[token] = (0, tokens[token][1])
            return self.send_json(200, {"ok": True})
        parts = path.strip("/").split("/")
        if len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return self.graph_error(404, "Request_ResourceNotFound", "Resource not found.")
        if parts[0] != args.tenant:
            return self.identity_error(400, "invalid_request", 90002,
                                       f"Tenant '{parts[0]}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.")
        form = dict(urllib.parse.parse_qsl(body))
        if form.get("grant_type") != "client_credentials":
            return self.identity_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
        if form.get("client_id") != args.client_id:
            return self.identity_error(400, "unauthorized_client", 700016,
                                       f"Application with identifier '{form.get('client_id')}' was not found in the directory '{args.tenant}'.")
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return self.identity_error(400, "invalid_scope", 1002012,
                                       f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
        if args.client_secret is not None:
            if form.get("client_secret") != args.client_secret:
                return self.identity_error(401, "invalid_client", 7000215,
                                           "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app.")
        else:
            problem = self.check_assertion(form)
            if problem:
                return self.identity_error(401, "invalid_client", problem[0], problem[1])
        token_url = f"https://{self.headers.get('Host')}{path}"
        with lock:
            roles = state["roles"] if state["roles"] is not None else args.roles
            lifetime = state["tokenLifetime"]
        now = int(time.time())
        header = b64url(json.dumps({"typ": "JWT", "alg": "RS256", "x5t": "test", "kid": "test"}).encode())
        payload = b64url(json.dumps({"aud": scope[:-len("/.default")], "iss": f"https://sts.windows.net/{args.tenant}/",
                                     "iat": now, "nbf": now, "exp": now + lifetime, "appid": args.client_id,
                                     "tid": args.tenant, "roles": roles, "oid": str(uuid.uuid4()),
                                     "idtyp": "app", "ver": "1.0"}).encode())
        token = f"{header}.{payload}.{b64url(os.urandom(64))}"
        with lock:
            tokens[token] = (time.time() + lifetime, roles)
        self.send_json(200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                             "access_token": token})

    def check_assertion(self, form):
        """A client assertion (certificate credential): its signature by the certificate's key,
        its thumbprint header and its claims."""
        if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            return (7000216, "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.")
        assertion = form.get("client_assertion", "")
        pieces = assertion.split(".")
        if len(pieces) != 3:
            return (50027, "JWT token is invalid or malformed.")
        try:
            header = json.loads(b64url_decode(pieces[0]))
            claims = json.loads(b64url_decode(pieces[1]))
            signature = b64url_decode(pieces[2])
        except Exception:
            return (50027, "JWT token is invalid or malformed.")
        der = subprocess.run(["openssl", "x509", "-in", args.client_cert, "-outform", "DER"],
                             capture_output=True, check=True).stdout
        thumb1 = b64url(hashlib.sha1(der).digest())
        thumb256 = b64url(hashlib.sha256(der).digest())
        if header.get("alg") not in ("RS256", "PS256"):
            return (5002738, f"Invalid JWT token. '{header.get('alg')}' is not a supported signature algorithm.")
        if header.get("x5t#S256") != thumb256 and header.get("x5t") != thumb1:
            return (700027, "The certificate with identifier used to sign the client assertion is not registered on application.")
        token_url = f"https://{self.headers.get('Host')}{urllib.parse.urlsplit(self.path).path}"
        if claims.get("aud") != token_url:
            return (700212, f"No matching federated identity record found for presented assertion audience '{claims.get('aud')}'.")
        if claims.get("iss") != args.client_id or claims.get("sub") != args.client_id:
            return (700021, "Client assertion application identifier doesn't match 'client_id' parameter.")
        now = time.time()
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now:
            return (700024, "Client assertion is not within its valid time range.")
        if not claims.get("jti"):
            return (50027, "JWT token is invalid or malformed.")
        with tempfile.TemporaryDirectory() as d:
            with open(f"{d}/data", "wb") as f:
                f.write(f"{pieces[0]}.{pieces[1]}".encode())
            with open(f"{d}/sig", "wb") as f:
                f.write(signature)
            pub = subprocess.run(["openssl", "x509", "-in", args.client_cert, "-pubkey", "-noout"],
                                 capture_output=True, check=True).stdout
            with open(f"{d}/pub", "wb") as f:
                f.write(pub)
            verify = ["openssl", "dgst", "-sha256", "-verify", f"{d}/pub", "-signature", f"{d}/sig"]
            if header["alg"] == "PS256":
                verify[3:3] = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:-1"]
            ok = subprocess.run(verify + [f"{d}/data"], capture_output=True).returncode == 0
        if not ok:
            return (7000274, "Key was found, but use of the key to verify the signature failed.")
        return None

    # Graph

    def do_GET(self):
        split = urllib.parse.urlsplit(self.path)
        path = split.path
        if path == "/_log":
            with lock:
                entries = log[:]
            return self.send_json(200, entries)
        with lock:
            state["count"] += 1
            every = state["throttleEvery"]
            throttle = every and state["count"] % every == 0
            retry = state["retryAfter"]
        auth = self.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return self.graph_error(401, "InvalidAuthenticationToken", "Access token is empty.",
                                    {"WWW-Authenticate": 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"'})
        with lock:
            known = tokens.get(auth[7:])
            if known is not None and state["usesPerToken"]:
                uses[auth[7:]] = uses.get(auth[7:], 0) + 1
                if uses[auth[7:]] > state["usesPerToken"]:
                    known = (0, known[1])
        if known is None:
            return self.graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        if known[0] < time.time():
            return self.graph_error(401, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
        if throttle:
            return self.graph_error(429, "TooManyRequests", "Too many requests.", {"Retry-After": str(retry)})
        roles = set(known[1])
        query = dict(urllib.parse.parse_qsl(split.query))
        unknown = [k for k in query if k.startswith("$") and k not in ("$select", "$top", "$filter", "$skiptoken", "$count")]
        if unknown:
            return self.graph_error(400, "BadRequest", f"Invalid query parameter '{unknown[0]}'.")
        parts = path.strip("/").split("/")
        if parts[:1] != ["v1.0"]:
            return self.graph_error(400, "BadRequest", "Invalid version.")
        data = load()
        if parts[1:] == ["users"]:
            if not roles & USER_ROLES:
                return self.graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            return self.listing("users", None, data["users"], query, USER_DEFAULTS, None)
        if parts[1:] == ["groups"]:
            if not roles & GROUP_ROLES:
                return self.graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            groups = [{k: v for k, v in g.items() if k != "members"} for g in data["groups"]]
            return self.listing("groups", None, groups, query, GROUP_DEFAULTS, None)
        if len(parts) == 4 and parts[1] == "groups" and parts[3] == "members":
            if not roles & MEMBER_ROLES:
                return self.graph_error(403, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
            group = next((g for g in data["groups"] if g["id"] == parts[2]), None)
            if group is None:
                return self.graph_error(404, "Request_ResourceNotFound",
                                        f"Resource '{parts[2]}' does not exist or one of its queried reference-property objects are not present.")
            kinds = {}
            for u in data["users"]:
                kinds[u["id"]] = ("#microsoft.graph.user", u)
            for g in data["groups"]:
                kinds[g["id"]] = ("#microsoft.graph.group", {k: v for k, v in g.items() if k != "members"})
            for d in data.get("devices", []):
                kinds[d["id"]] = ("#microsoft.graph.device", d)
            members = [kinds[m] for m in group.get("members", []) if m in kinds]
            return self.listing("members", parts[2], members, query, ["id"], "typed")
        return self.graph_error(400, "BadRequest", f"Resource not found for the segment '{parts[1] if len(parts) > 1 else ''}'.")

    def listing(self, kind, key, objects, query, defaults, typed):
        top = query.get("$top")
        if top is not None:
            try:
                top = int(top)
            except ValueError:
                top = -1
            if top < 1 or top > 999:
                return self.graph_error(400, "Request_UnsupportedQuery", "Invalid page size specified: '%s'. Must be between 1 and 999 inclusive." % query.get("$top"))
        else:
            top = 100
        size = min(top, args.page_cap)
        offset = 0
        if "$skiptoken" in query:
            with lock:
                saved = skiptokens.get(query["$skiptoken"])
            if saved is None or saved[0] != kind or saved[1] != key:
                return self.graph_error(400, "Directory_ExpiredPageToken", "The specified page token value has expired and can no longer be included in your request.")
            offset = saved[3]
            query = dict(saved[2])
        select = [s.strip() for s in query["$select"].split(",")] if query.get("$select") else None
        clauses = []
        if query.get("$filter"):
            clauses = parse_filter(query["$filter"])
            if clauses is None:
                return self.graph_error(400, "Request_UnsupportedQuery", "Unsupported Query.")
        if typed:
            chosen = [(t, o) for t, o in objects if matches(o, clauses)]
            page = [project(o, select, defaults, t) for t, o in chosen[offset:offset + size]]
            total = len(chosen)
        else:
            chosen = [o for o in objects if matches(o, clauses)]
            page = [project(o, select, defaults) for o in chosen[offset:offset + size]]
            total = len(chosen)
        host = self.headers.get("Host")
        context = f"https://{host}/v1.0/$metadata#{'directoryObjects' if typed else kind}"
        body = {"@odata.context": context, "value": page}
        if offset + size < total:
            token = b64url(os.urandom(24))
            with lock:
                skiptokens[token] = (kind, key, {k: v for k, v in query.items() if k != "$skiptoken"}, offset + size)
            base = f"https://{host}{urllib.parse.urlsplit(self.path).path}"
            params = {k: v for k, v in query.items() if k != "$skiptoken"}
            params["$skiptoken"] = token
            body["@odata.nextLink"] = base + "?" + urllib.parse.urlencode(params, safe="$,'()")
        self.send_json(200, body)


def main():
    global args
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--tls", nargs=2, required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--client-id", required=True)
    parser.add_argument("--client-secret")
    parser.add_argument("--client-cert")
    parser.add_argument("--roles", default="User.Read.All,GroupMember.Read.All")
    parser.add_argument("--page-cap", type=int, default=999)
    args = parser.parse_args()
    args.roles = [r for r in args.roles.split(",") if r]
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.tls[0], args.tls[1])
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

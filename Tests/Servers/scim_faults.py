#!/usr/bin/env python3
"""A reverse proxy in front of a SCIM server, for usersync's push tests (standard library only).

usage: scim_faults.py --port PORT --upstream http://127.0.0.1:UPSTREAM
                      [--throttle-every K] [--retry-after SECONDS] [--fail-user NAME]...

Forwards every request to the upstream server and its answer back, except that:
  --throttle-every K   every K-th request is answered 429 Too Many Requests with Retry-After
                       (the request is not forwarded), as rate-limited SaaS APIs do;
  --fail-user NAME     every request about that userName (a POST whose body names it, or a
                       request to the id the upstream gave it) is answered 500;
  --lose-answer NAME   the first POST naming that userName is forwarded (the upstream creates
                       the user) but its answer is lost: the connection closes without one.
GET /_log lists the requests seen, as [method, path, status]; POST /_log/reset empties it.
"""
import argparse
import http.client
import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()
log = []
counter = [0]
failing_ids = set()
answers_lost = set()


class Proxy(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.path.startswith("/_log"):
            with lock:
                if self.command == "POST":
                    log.clear()
                    return self.answer(204)
                return self.answer(200, json.dumps(log).encode(), [("Content-Type", "application/json")])
        with lock:
            counter[0] += 1
            n = counter[0]
        if options.throttle_every and n % options.throttle_every == 0:
            with lock:
                log.append([self.command, self.path, 429])
            error = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "429", "detail": "Too many requests"}
            return self.answer(429, json.dumps(error).encode(), [("Retry-After", options.retry_after), ("Content-Type", "application/scim+json")])
        if self.fails(body):
            with lock:
                log.append([self.command, self.path, 500])
            error = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"], "status": "500", "detail": "internal error (injected)"}
            return self.answer(500, json.dumps(error).encode(), [("Content-Type", "application/scim+json")])
        lose = self.loses(body)
        upstream = urllib.parse.urlsplit(options.upstream)
        connection = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=60)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection", "content-length")}
        connection.request(self.command, self.path, body=body or None, headers=headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        self.learn(data)
        with lock:
            log.append([self.command, self.path, 0 if lose else response.status])
        if lose:
            self.close_connection = True
            return
        passed = [(k, v) for k, v in response.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length", "server", "date")]
        self.answer(response.status, data, passed)

    def loses(self, body):
        if self.command != "POST" or not options.lose_answer or not body:
            return False
        try:
            name = str(json.loads(body).get("userName", "")).lower()
        except (ValueError, AttributeError):
            return False
        with lock:
            if name in options.lose_answer and name not in answers_lost:
                answers_lost.add(name)
                return True
        return False

    def fails(self, body):
        if not options.fail_user:
            return False
        if body:
            try:
                sent = json.loads(body)
            except ValueError:
                sent = None
            if isinstance(sent, dict) and str(sent.get("userName", "")).lower() in options.fail_user:
                return True
        ident = self.path.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
        with lock:
            return ident in failing_ids

    def learn(self, data):
        """Remembers the ids of the failing users in the upstream's answers."""
        if not options.fail_user:
            return
        try:
            answer = json.loads(data)
        except ValueError:
            return
        for resource in [answer] + (answer.get("Resources", []) if isinstance(answer, dict) else []):
            if isinstance(resource, dict) and str(resource.get("userName", "")).lower() in options.fail_user:
                with lock:
                    failing_ids.add(resource.get("id"))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = handle_any


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--upstream", required=True)
parser.add_argument("--throttle-every", type=int, default=0)
parser.add_argument("--retry-after", default="1")
parser.add_argument("--fail-user", action="append", default=[])
parser.add_argument("--lose-answer", action="append", default=[])
options = parser.parse_args()
options.fail_user = [u.lower() for u in options.fail_user]
options.lose_answer = [u.lower() for u in options.lose_answer]
ThreadingHTTPServer(("127.0.0.1", options.port), Proxy).serve_forever()

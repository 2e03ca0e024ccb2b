#!/usr/bin/python3
"""usersync's push benchmark: creating N users on a SCIM server against a plain client.

Starts PyPI's scim2-server (from .build-venv, installed by scripts/install-deps.sh --tests) on
loopback, fresh for every measure, and measures, alternating which goes first round by round
(median of --repeat rounds):

  floor   a plain client: one Python process POSTing the same N users to /Users one after
          another (http.client), as fast as the server takes them
  push    `usersync push` of the same N users from a store synced from a CSV file (the sync is
          not timed), with its defaults (concurrency 4, the outbox, a request log per object)

The goal is push ≥ 0.8 × the floor's users per second. Prints a table and writes results.md and
results.json to --out.

  Benchmarks/push.py                          # 10,000 users, 3 rounds, the release build
  Benchmarks/push.py --users 300 --repeat 1 --usersync .build/debug/usersync   # a smoke run
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-token"


def users(n):
    for i in range(1, n + 1):
        yield {"id": str(i), "login": f"user{i:06d}", "mail": f"user{i:06d}@example.com", "first": f"Given{i}", "last": f"Family{i}"}


def resource(u):
    """The body usersync sends for the same user (its default mapping)."""
    return {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": u["login"], "externalId": u["id"],
            "name": {"givenName": u["first"], "familyName": u["last"]}, "displayName": None,
            "emails": [{"type": "work", "value": u["mail"]}], "active": True}


def client(port, n):
    """The floor: POSTs the users one after another; exits 1 at the first failure."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/scim+json", "Accept": "application/scim+json"}
    for u in users(n):
        body = resource(u)
        del body["displayName"]
        connection.request("POST", "/v2/Users", body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        response.read()
        if response.status != 201:
            sys.exit(f"POST /v2/Users answered {response.status}")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, work):
        self.port = free_port()
        program = os.path.join(ROOT, ".build-venv/bin/scim2-server")
        self.log = open(os.path.join(work, f"scim-{self.port}.log"), "w")
        self.process = subprocess.Popen([program, "--hostname", "127.0.0.1", "--port", str(self.port), "--bearer-token", TOKEN],
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        sys.exit("push bench: scim2-server did not start")

    def count(self):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        connection.request("GET", "/v2/Users?count=1&attributes=id", headers={"Authorization": f"Bearer {TOKEN}"})
        return json.loads(connection.getresponse().read())["totalResults"]

    def stop(self):
        self.process.terminate()
        self.process.wait()
        self.log.close()


def timed(command):
    """Wall seconds and peak RSS (KiB) of one command, from GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as t:
        started = time.monotonic()
        result = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", t.name] + command,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wall = time.monotonic() - started
        if result.returncode != 0:
            sys.exit(f"push bench: {' '.join(command[:3])}… failed ({result.returncode}):\n{result.stdout[-1000:]}{result.stderr[-2000:]}")
        return wall, int(open(t.name).read().split()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--usersync", help="a usersync binary to measure (default: build the release one)")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench-results"), help="where results.md and results.json go")
    parser.add_argument("--client", nargs=2, metavar=("PORT", "USERS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        return client(int(args.client[0]), int(args.client[1]))
    if args.users < 10 or args.repeat < 1:
        sys.exit("push bench: --users ≥ 10, --repeat ≥ 1")
    if not os.access(os.path.join(ROOT, ".build-venv/bin/scim2-server"), os.X_OK):
        subprocess.run([os.path.join(ROOT, "scripts/install-deps.sh"), "--tests"], check=True)
    usersync = args.usersync
    if not usersync:
        print("== building usersync (release)", flush=True)
        subprocess.run(["swift", "build", "-c", "release", "--product", "usersync"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
        usersync = os.path.join(subprocess.run(["swift", "build", "-c", "release", "--show-bin-path"], cwd=ROOT, check=True,
                                               capture_output=True, text=True).stdout.strip(), "usersync")

    work = tempfile.mkdtemp(prefix="usersync-push-bench.")
    print(f"== {args.users:,} users into a store (not timed)", flush=True)
    with open(f"{work}/people.csv", "w") as f:
        f.write("id,login,mail,first,last\n")
        for u in users(args.users):
            f.write(f"{u['id']},{u['login']},{u['mail']},{u['first']},{u['last']}\n")
    with open(f"{work}/token", "w") as f:
        f.write(TOKEN + "\n")
    os.chmod(f"{work}/token", 0o600)

    def config(port):
        path = f"{work}/usersync.yaml"
        with open(path, "w") as f:
            f.write(f"""store:
  sqlite: {work}/round.db
sources:
  - name: hr
    type: csv
    path: {work}/people.csv
    idColumn: id
    mapping: {{ username: login, email: mail, firstName: first, lastName: last }}
    options: {{ maxUsers: {args.users + 1} }}
targets:
  - name: app
    type: scim
    url: http://127.0.0.1:{port}/v2
    allowInsecure: true
    auth: {{ bearerTokenFile: {work}/token }}
    sources: [hr]
""")
        return path

    subprocess.run([usersync, "sync", "--no-push", "--config", config(1), "--quiet"], check=True, stdout=subprocess.DEVNULL)
    # The store's last writes may still be in its WAL: a backup copies the whole database.
    subprocess.run(["sqlite3", f"{work}/round.db", f".backup {work}/synced.db"], check=True)

    samples = {"floor": [], "push": []}
    rss = []
    for round in range(args.repeat):
        order = ["floor", "push"] if round % 2 == 0 else ["push", "floor"]
        for measure in order:
            server = Server(work)
            try:
                if measure == "floor":
                    wall, _ = timed([sys.executable, os.path.abspath(__file__), "--client", str(server.port), str(args.users)])
                else:
                    for suffix in ["", "-wal", "-shm"]:
                        if os.path.exists(f"{work}/round.db{suffix}"):
                            os.remove(f"{work}/round.db{suffix}")
                    subprocess.run(["cp", f"{work}/synced.db", f"{work}/round.db"], check=True)
                    wall, peak = timed([usersync, "push", "--config", config(server.port), "--quiet"])
                    rss.append(peak / 1024)
                created = server.count()
                if created != args.users:
                    sys.exit(f"push bench: {measure} left {created} users on the server, not {args.users}")
            finally:
                server.stop()
            samples[measure].append(wall)
            print(f"   round {round + 1} {measure:5}: {wall:7.3f} s  {args.users / wall:8,.0f} users/s", flush=True)

    floor, push = statistics.median(samples["floor"]), statistics.median(samples["push"])
    ratio = floor / push
    rows = [
        {"measure": "floor", "what": "a plain client POSTing one user after another", "seconds": floor, "perSecond": args.users / floor},
        {"measure": "push", "what": "usersync push", "seconds": push, "perSecond": args.users / push, "peakRSSMiB": statistics.median(rss),
         "timesFloorRate": ratio},
    ]
    table = "| measure | seconds | users per second | × the floor's rate | peak RSS MiB |\n| --- | ---: | ---: | ---: | ---: |\n"
    table += f"| plain client, one POST after another (floor) | {floor:.3f} | {args.users / floor:,.0f} | 1.00 | — |\n"
    table += f"| usersync push | {push:.3f} | {args.users / push:,.0f} | {ratio:.2f} | {statistics.median(rss):.1f} |\n"
    print("\n" + table)
    print(f"goal: usersync push ≥ 0.8 × the floor's rate: {'met' if ratio >= 0.8 else 'NOT met'} ({ratio:.2f})")
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "push-results.md"), "w") as f:
        f.write(f"{args.users:,} users created on scim2-server, median of {args.repeat} rounds\n\n" + table)
    with open(os.path.join(args.out, "push-results.json"), "w") as f:
        json.dump({"users": args.users, "repeat": args.repeat, "rows": rows, "samples": samples}, f, indent=2)
    subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()

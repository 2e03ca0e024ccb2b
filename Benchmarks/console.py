#!/usr/bin/python3
"""How fast the web console answers with a large store: every page, timed over HTTP.

Loads a throw-away slapd with N users and G nested groups (the directory of bench.py), syncs
them with groups into a SQLite store, changes 10% of the users and deletes 1% and syncs again
(so that a run holds ~11,000 changes and users have history), starts `usersync serve` with the
console on, and asks each page --repeat times over one keep-alive connection, as a browser
does. Prints, per page, the median and the slowest answer and the page's size; the goal is
every page under 100 ms at 100,000 users.

  Benchmarks/console.py                                   # 100,000 users, 2,000 groups
  Benchmarks/console.py --users 2000 --groups 40 --usersync .build/debug/usersync   # a smoke run
"""
import argparse
import http.client
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import PEOPLE, ROOT, SUFFIX, config, release_binary, shell, start_directory, timed, uid  # noqa: E402


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--usersync", help="a usersync binary to measure (default: build the release one)")
    parser.add_argument("--keep", action="store_true", help="keep the store and its configuration (the directory is stopped); prints where")
    parser.add_argument("--out", default=os.path.join(ROOT, "bench-results"), help="where console.md goes")
    args = parser.parse_args()
    subprocess.run([os.path.join(ROOT, "scripts/install-deps.sh")], check=True)
    usersync = release_binary(args.usersync)

    work = tempfile.mkdtemp(prefix="usersync-console-bench.")
    lib = os.path.join(ROOT, "scripts/lib/directory.sh")
    serve = None
    try:
        uri = start_directory(work, args.users, args.groups)
        config(f"{work}/usersync.yaml", work, uri, groups=True)
        sync = [usersync, "sync", "--config", f"{work}/usersync.yaml", "-q"]
        print("== syncing (import), then 10% changed and 1% deleted, syncing again", flush=True)
        print(f"   import {timed(sync)[0]:.1f} s", flush=True)
        rng = random.Random(7)
        chosen = rng.sample(range(1, args.users + 1), args.users // 10 + args.users // 100)
        with open(f"{work}/changes.ldif", "w") as out:
            for i in chosen[: args.users // 10]:
                out.write(f"dn: uid={uid(i)},{PEOPLE}\nchangetype: modify\nreplace: title\ntitle: Senior {i}\n\n")
            for i in chosen[args.users // 10:]:
                out.write(f"dn: uid={uid(i)},{PEOPLE}\nchangetype: delete\n\n")
        subprocess.run(["ldapmodify", "-x", "-H", uri, "-D", "cn=admin," + SUFFIX, "-w", "secret", "-f", f"{work}/changes.ldif"],
                       check=True, stdout=subprocess.DEVNULL)
        # maxDeactivations is 5%: 1% deleted passes the guard.
        print(f"   resync {timed(sync)[0]:.1f} s", flush=True)

        port = free_port()
        with open(f"{work}/usersync.yaml", "a") as f:
            f.write(f"serve:\n  listen: 127.0.0.1:{port}\n  console: true\n  consoleAccess: {{ loopbackWithoutLogin: true }}\n")
        serve = subprocess.Popen([usersync, "serve", "--config", f"{work}/usersync.yaml"], stdout=subprocess.DEVNULL,
                                 stderr=open(f"{work}/serve.log", "w"))
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        changed = uid(chosen[0])
        deleted = chosen[args.users // 10]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)

        def get(path):
            started = time.perf_counter()
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read()
            elapsed = time.perf_counter() - started
            if response.status != 200:
                sys.exit(f"console bench: {path} answered {response.status}:\n{body[:2000].decode(errors='replace')}")
            return elapsed, body

        # A changed user's id, from the users page (the link to their page).
        _, found = get(f"/console/users?q={changed}")
        marker = b'<a href="/console/users/'
        user_id = found[found.index(marker) + len(marker):].split(b'"')[0].decode()
        _, found = get(f"/console/users?q={uid(deleted)}&state=deactivated")
        deleted_id = found[found.index(marker) + len(marker):].split(b'"')[0].decode()
        pages = [
            ("sources", "/console/"),
            ("source", "/console/sources/bench"),
            ("runs", "/console/runs"),
            ("runs, filtered", "/console/runs?source=bench&status=applied"),
            ("run, ~11,000 changes: first page", "/console/runs/2"),
            ("run: page 100 of its changes", "/console/runs/2?page=100"),
            ("users, first page", "/console/users"),
            ("users, page 1,000", "/console/users?page=1000"),
            ("users, search by name (every user scanned)", "/console/users?q=smith"),
            ("users, search: one", f"/console/users?q={changed}"),
            ("users, search: none", "/console/users?q=nobody-has-this"),
            ("users, deactivated", "/console/users?state=deactivated"),
            ("user: row, groups, history", f"/console/users/{user_id}"),
            ("user: the record received", f"/console/users/{user_id}/received"),
            ("users, search: a deleted one", f"/console/users?q={uid(deleted)}&state=deactivated"),
            ("user deleted from the directory: the record received (every kept run read)", f"/console/users/{deleted_id}/received"),
            ("groups: the tree", "/console/groups"),
            ("/healthz", "/healthz"),
            ("/metrics", "/metrics"),
        ]
        print(f"== timing each page {args.repeat} times (after one unmeasured request)", flush=True)
        rows = []
        for name, path in pages:
            get(path)
            times = []
            size = 0
            for _ in range(args.repeat):
                elapsed, body = get(path)
                times.append(elapsed * 1000)
                size = len(body)
            rows.append((name, path, statistics.median(times), max(times), size))
            print(f"   {name:45s} median {statistics.median(times):7.1f} ms   slowest {max(times):7.1f} ms   {size / 1024:7.1f} KiB", flush=True)

        table = [f"Console pages at {args.users:,} users and {args.groups:,} groups (SQLite store; median and slowest of "
                 f"{args.repeat} requests over one keep-alive connection, loopback)\n",
                 "| page | path | median ms | slowest ms | KiB |", "|---|---|---:|---:|---:|"]
        for name, path, median, slowest, size in rows:
            table.append(f"| {name} | `{path}` | {median:.1f} | {slowest:.1f} | {size / 1024:.1f} |")
        over = [r for r in rows if r[3] >= 100]
        table.append("")
        table.append("Every page under 100 ms." if not over else "Over 100 ms: " + ", ".join(r[0] for r in over))
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "console.md"), "w") as f:
            f.write("\n".join(table) + "\n")
        print("\n".join(table))
    finally:
        if serve:
            serve.terminate()
            serve.wait()
        shell(f"source {lib}; directory_stop {work}/d >/dev/null 2>&1 || true")
        if args.keep:
            print(f"== kept: {work}/users.db and {work}/usersync.yaml")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Sends SCIM requests for usersync's tests, in one process (Python's standard library only).

usage: scim_client.py BASE_URL TOKEN OPERATIONS.json

OPERATIONS.json is a list of {"method": "POST", "path": "/Users", "body": {...}}; a string
"$N" anywhere in a body is replaced by the id of the resource the N-th operation (0-based)
returned. Prints the list of ids returned (null for a DELETE); exits 1 at the first failure.
"""
import json
import sys
import urllib.request


def substitute(value, ids):
    if isinstance(value, str) and value.startswith("$") and value[1:].isdigit():
        return ids[int(value[1:])]
    if isinstance(value, list):
        return [substitute(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, ids) for k, v in value.items()}
    return value


def main():
    base, token, path = sys.argv[1], sys.argv[2], sys.argv[3]
    with open(path, encoding="utf-8") as f:
        operations = json.load(f)
    ids = []
    for op in operations:
        body = substitute(op.get("body"), ids)
        target = op["path"]
        prefix, _, ref = target.rpartition("/")
        if ref.startswith("$"):
            target = f"{prefix}/{substitute(ref, ids)}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(base.rstrip("/") + target, data=data, method=op["method"])
        request.add_header("Authorization", f"Bearer {token}")
        request.add_header("Content-Type", "application/scim+json")
        try:
            with urllib.request.urlopen(request) as response:
                text = response.read()
                ids.append(json.loads(text).get("id") if text else None)
        except urllib.error.HTTPError as error:
            print(f"{op['method']} {target}: {error.code} {error.read().decode()}", file=sys.stderr)
            sys.exit(1)
    print(json.dumps(ids))


if __name__ == "__main__":
    main()

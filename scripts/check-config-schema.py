#!/usr/bin/python3
"""Validates YAML configuration files against schemas/usersync.schema.json (JSON Schema 2020-12).

usage: check-config-schema.py SCHEMA FILE...   exit 0 when every file is valid; each problem is printed.
Uses Debian's python3-jsonschema and python3-yaml (scripts/install-deps.sh --tests installs them).
"""
import json
import sys

import jsonschema
import yaml


def main() -> int:
    schema_path, files = sys.argv[1], sys.argv[2:]
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    failed = 0
    for path in files:
        with open(path, encoding="utf-8") as f:
            document = yaml.safe_load(f)
        errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
        for error in errors:
            location = "/".join(str(p) for p in error.absolute_path) or "(root)"
            print(f"{path}: {location}: {error.message}")
        failed += bool(errors)
        if not errors:
            print(f"{path}: valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

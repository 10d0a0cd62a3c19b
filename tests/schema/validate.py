#!/usr/bin/env python3
"""Validates a JSON document (file or stdin) against a schema in shared-schemas/.

usage: validate.py SCHEMA_FILE [JSON_FILE]
Exit 0 when valid; 1 with every error on stderr when not; 2 on bad usage.
Schemas reference each other by file name ("$ref": "orders.order.schema.json").
"""
import json
import pathlib
import sys

import jsonschema

def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    schema_path = pathlib.Path(sys.argv[1]).resolve()
    folder = schema_path.parent
    store = {}
    for p in folder.glob("*.schema.json"):
        doc = json.loads(p.read_text())
        store[p.name] = doc
        if "$id" in doc:
            store[doc["$id"]] = doc
    schema = json.loads(schema_path.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema,
                                      store=store)
    text = open(sys.argv[2]).read() if len(sys.argv) == 3 else sys.stdin.read()
    doc = json.loads(text)
    v = jsonschema.Draft202012Validator(schema, resolver=resolver)
    errors = sorted(v.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        print(f"{schema_path.name}: /{'/'.join(map(str, e.path))}: {e.message}",
              file=sys.stderr)
    return 1 if errors else 0

if __name__ == "__main__":
    sys.exit(main())

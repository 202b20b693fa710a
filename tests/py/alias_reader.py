"""Reads a collection through an alias with the official weaviate-client
while a test switches the alias to another collection and back. Every read
fetches a page and counts the objects through the alias; a read fails when
it raises or comes back with fewer objects than expected. Records the Python
type the `year` property had, so the test sees that the switch happened
under the reader: READY_FILE.int appears at the first int after a str, and
READY_FILE.back at the first str after that. Stops when the stop file appears; prints a JSON summary.

usage: alias_reader.py HOST REST_PORT GRPC_PORT ALIAS EXPECTED STOP_FILE READY_FILE
"""
import json
import os
import sys
import time

import weaviate

host, rest, grpc, alias, expected, stop_file, ready_file = sys.argv[1:8]
rest, grpc, expected = int(rest), int(grpc), int(expected)

c = weaviate.connect_to_custom(
    http_host=host, http_port=rest, http_secure=False,
    grpc_host=host, grpc_port=grpc, grpc_secure=False,
    skip_init_checks=True,
)
reads, failures, types = 0, [], {}
deadline = time.time() + 600
while not os.path.exists(stop_file) and time.time() < deadline:
    try:
        books = c.collections.get(alias)
        page = books.query.fetch_objects(limit=5)
        count = books.aggregate.over_all(total_count=True).total_count
        if count != expected or len(page.objects) != 5:
            failures.append(f"read {reads}: count {count}, page {len(page.objects)}")
        for o in page.objects:
            t = type(o.properties.get("year")).__name__
            types[t] = types.get(t, 0) + 1
            if t == "int" and types.get("str") and not os.path.exists(ready_file + ".int"):
                open(ready_file + ".int", "w").close()
            if t == "str" and os.path.exists(ready_file + ".int") and not os.path.exists(ready_file + ".back"):
                open(ready_file + ".back", "w").close()
        reads += 1
        if reads == 1:
            open(ready_file, "w").close()
    except Exception as e:
        failures.append(f"read {reads}: {type(e).__name__}: {e}"[:300])
        if not os.path.exists(ready_file):
            open(ready_file, "w").close()
    time.sleep(0.02)
c.close()
print(json.dumps({"reads": reads, "failure_count": len(failures), "failures": failures[:20], "types": types}))

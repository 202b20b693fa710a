"""Creates collections through the official weaviate-client, the way an
application (or Elysia) would, to build the states health and repair tests
need. Each argument is NAME:FACTOR:OBJECTS; FACTOR 0 leaves replication to the
server default, as Elysia does for its system collections.

usage: make_collections.py HOST REST_PORT GRPC_PORT NAME:FACTOR:OBJECTS...
"""
import sys

import weaviate
from weaviate.classes.config import Configure, DataType, Property

host, rest, grpc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = weaviate.connect_to_custom(
    http_host=host, http_port=rest, http_secure=False,
    grpc_host=host, grpc_port=grpc, grpc_secure=False, skip_init_checks=True,
)
try:
    for spec in sys.argv[4:]:
        name, factor, n = spec.split(":")
        factor, n = int(factor), int(n)
        if c.collections.exists(name):
            c.collections.delete(name)
        col = c.collections.create(
            name,
            properties=[Property(name="text", data_type=DataType.TEXT), Property(name="seq", data_type=DataType.INT)],
            vector_config=Configure.Vectors.self_provided(),
            replication_config=Configure.replication(factor=factor) if factor else None,
        )
        with col.batch.fixed_size(200) as batch:
            for i in range(n):
                batch.add_object({"text": f"object {i} of {name}", "seq": i}, vector=[0.1, 0.2, float(i % 7)])
        failed = len(col.batch.failed_objects)
        if failed:
            raise SystemExit(f"{name}: {failed} objects failed to import")
finally:
    c.close()

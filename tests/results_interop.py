"""Reads a results folder the way a notebook would, with pyarrow and with DuckDB, and prints what
it found as one JSON object (tests/viewer_browser.rs compares it with the Rust side):
for each .parquet file its sqlora.kind and schema version (file key-value metadata), row count and
column types per pyarrow, and the row count and a mean per DuckDB.

    python3 tests/results_interop.py RESULTS_DIR
"""
import json
import pathlib
import sys

import duckdb
import pyarrow.parquet as pq

root = pathlib.Path(sys.argv[1])
out = {}
con = duckdb.connect()
for path in sorted(root.rglob("*.parquet")):
    if any(part.startswith(".") for part in path.relative_to(root).parts):
        continue
    meta = pq.read_metadata(path).metadata or {}
    table = pq.read_table(path)
    rel = str(path.relative_to(root))
    kind = meta.get(b"sqlora.kind", b"").decode()
    entry = {
        "kind": kind,
        "schema_version": meta.get(b"sqlora.schema_version", b"").decode(),
        "rows": table.num_rows,
        "types": {f.name: str(f.type) for f in table.schema},
    }
    q = str(path).replace("'", "''")
    entry["duckdb_rows"] = con.execute(f"SELECT count(*) FROM read_parquet('{q}')").fetchone()[0]
    kv = con.execute(f"SELECT decode(value) FROM parquet_kv_metadata('{q}') WHERE decode(key) = 'sqlora.kind'").fetchall()
    entry["duckdb_kind"] = kv[0][0] if kv else None
    if kind == "spider_predictions":
        entry["duckdb_mean_ex_official"] = con.execute(f"SELECT avg(ex_official) FROM read_parquet('{q}')").fetchone()[0]
    if kind == "runs":
        entry["duckdb_scores"] = dict(con.execute(f"SELECT run_id, score FROM read_parquet('{q}')").fetchall())
    if kind == "mmlu_answers":
        entry["duckdb_accuracy"] = con.execute(f"SELECT avg(correct::INT) FROM read_parquet('{q}')").fetchone()[0]
    out[rel] = entry
print(json.dumps(out))

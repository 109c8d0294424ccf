"""Times one SQL query in DuckDB over the same history files as the aqstream engine.

usage: python3 duckdb_runner.py <history dir> <sensors.csv> <repetitions> < query.sql
prints {"times": [...], "rows": n, "checksum": sum of the last column, "version": ...}
"""
import json
import sys
import time

try:
    import duckdb
except ImportError:
    sys.exit("duckdb is missing: pip install duckdb (scripts/install-deps)")

history, sensors, reps = sys.argv[1], sys.argv[2], int(sys.argv[3])
sql = sys.stdin.read()
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
for table in ("readings", "aggregates", "alerts"):
    con.execute(
        f"CREATE VIEW {table} AS SELECT * FROM "
        f"read_parquet('{history}/{table}/*/*.parquet', hive_partitioning = true)"
    )
con.execute(f"CREATE TABLE sensors AS SELECT * FROM read_csv('{sensors}', header = true)")
rows = con.execute(sql).fetchall()  # warm-up
times = []
for _ in range(reps):
    t0 = time.perf_counter()
    rows = con.execute(sql).fetchall()
    times.append(time.perf_counter() - t0)
checksum = sum(float(r[-1]) for r in rows if r[-1] is not None)
print(json.dumps({"times": times, "rows": len(rows), "checksum": checksum,
                  "version": duckdb.__version__}))

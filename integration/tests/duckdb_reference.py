"""Answers SQL with DuckDB, a second engine, for the federated tests to compare against.

Reads a JSON object from stdin: {"tables": {"agency.dataset": "file.parquet", ...},
"queries": ["SQL", ...]}. Writes a JSON list with one item per query: {"rows": [[cell,
...], ...]} or {"error": "message"}. Cells are text in the form the Rust side formats
Arrow values: NULL, true/false, integers as digits, floats as "%.6e" with a bare
exponent ("1.234500e3", decimals too), dates as YYYY-MM-DD and timestamps as YYYY-MM-DDTHH:MM:SS.
"""

import datetime
import decimal
import json
import sys

import duckdb


def cell(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    # DataFusion reads a literal such as 1.5 as a float where DuckDB makes it a decimal.
    if isinstance(v, (float, decimal.Decimal)):
        v = float(v)
        mantissa, exponent = ("%.6e" % v).split("e")
        return "%se%d" % (mantissa, int(exponent))
    if isinstance(v, datetime.datetime):
        return v.isoformat()
    if isinstance(v, datetime.date):
        return v.isoformat()
    return str(v)


def main():
    request = json.load(sys.stdin)
    con = duckdb.connect()
    for name, path in request["tables"].items():
        schema, table = name.split(".")
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        quoted = path.replace("'", "''")
        con.execute(
            f'CREATE VIEW "{schema}"."{table}" AS SELECT * FROM read_parquet(\'{quoted}\')'
        )
    out = []
    for sql in request["queries"]:
        try:
            rows = con.execute(sql).fetchall()
            out.append({"rows": [[cell(v) for v in row] for row in rows]})
        except duckdb.Error as e:
            out.append({"error": str(e)})
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

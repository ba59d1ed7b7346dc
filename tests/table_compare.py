"""Two DuckDB warehouses compared table by table: column names and types in order, rows both ways."""

from __future__ import annotations

from pathlib import Path

import duckdb


def differences(original: Path, rebuilt: Path, tables: dict[str, tuple[str, dict]]) -> list[str]:
    """Problems found, [] when each table of `original` equals its counterpart: {theirs: (ours, {our column: theirs})}."""
    problems = []
    with duckdb.connect() as con:
        # Under their own names: the views in each file name their tables with the file's catalog.
        a, b = original.stem, rebuilt.stem
        con.execute(f"ATTACH '{original}' AS {a} (READ_ONLY)")
        con.execute(f"ATTACH '{rebuilt}' AS {b} (READ_ONLY)")

        def columns(db: str, name: str, renamed: dict) -> list[tuple[str, str]]:
            found = con.execute(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = ? AND table_schema = ? "
                "AND table_name = ? ORDER BY ordinal_position", [db, *name.split(".")]).fetchall()
            return [(renamed.get(c, c), t) for c, t in found]

        for theirs, (ours, renamed) in sorted(tables.items()):
            expected, got = columns(a, theirs, {}), columns(b, ours, renamed)
            if expected != got or not expected:
                problems.append(f"{ours}: columns {got} differ from dbt's {theirs} {expected}")
                continue
            back = {v: k for k, v in renamed.items()}
            theirs_rows = f"SELECT {', '.join(c for c, _ in expected)} FROM {a}.{theirs}"
            ours_rows = f"SELECT {', '.join(f'{back.get(c, c)} AS {c}' for c, _ in expected)} FROM {b}.{ours}"
            rows = con.execute(f"SELECT count(*) FROM {a}.{theirs}").fetchone()[0]
            missing = con.execute(f"SELECT count(*) FROM ({theirs_rows} EXCEPT ALL {ours_rows})").fetchone()[0]
            extra = con.execute(f"SELECT count(*) FROM ({ours_rows} EXCEPT ALL {theirs_rows})").fetchone()[0]
            if rows == 0 or missing or extra:
                problems.append(f"{ours}: {rows} rows in dbt's {theirs}, {missing} of them missing, {extra} rows dbt does not have")
    return problems

"""``instances.parquet``: every run's answers and grades as one flat table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.evaluation.report.base import BASE_COLUMNS, RunSummary, check_runs
from trustsim.records import write_atomic
from trustsim.runs import INSTANCES_TABLE


def _judge_columns(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """``verdict[j]`` and ``score[j]`` for every judge seen, grouped by judge in sorted order."""
    judges = sorted(
        {key[len("verdict[") : -1] for row in rows for key in row if key.startswith("verdict[")}
        | {key[len("score[") : -1] for row in rows for key in row if key.startswith("score[")}
    )
    return [column for judge in judges for column in (f"verdict[{judge}]", f"score[{judge}]")]


def _flat_row(row: Mapping[str, Any], model: str) -> dict[str, Any]:
    """One parquet row: the run's name added, per-judge dicts spread into ``verdict[j]``/``score[j]``."""
    flat = {key: value for key, value in row.items() if key not in ("verdicts", "scores")}
    for judge, value in (row.get("verdicts") or {}).items():
        flat[f"verdict[{judge}]"] = value
    for judge, value in (row.get("scores") or {}).items():
        flat[f"score[{judge}]"] = value
    flat["model"] = model
    return flat


def write_instances_parquet(runs: Sequence[RunSummary], output_dir: str | Path) -> Path:
    """All runs' instance rows in one ``instances.parquet`` (a ``model`` column names the run).

    The schema is explicit - verdicts bool, scores float64, text string, all nullable - because
    inference from Python values would type an all-None column (a judge that failed everywhere) as
    ``null``, which breaks concatenating reports and confuses ``datasets``. A judge missing from one
    run gets nulls in that run's rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    check_runs(runs)
    rows = [_flat_row(row, run.name) for run in runs for row in run.instances]
    judge_columns = _judge_columns(rows)
    known = set(BASE_COLUMNS) | set(judge_columns)
    extra: list[str] = []
    for row in rows:
        extra += [key for key in row if key not in known and key not in extra]

    def column_type(name: str) -> pa.DataType | None:
        if name == "verdict" or name.startswith("verdict["):
            return pa.bool_()
        if name == "score" or name.startswith("score["):
            return pa.float64()
        if name in BASE_COLUMNS:
            return pa.string()
        return None  # an extra column: let Arrow infer from its values

    arrays, names = [], []
    for name in [*BASE_COLUMNS, *judge_columns, *extra]:
        values = [row.get(name) for row in rows]
        wanted = column_type(name)
        if wanted == pa.float64():
            values = [None if v is None else float(v) for v in values]
        array = pa.array(values, type=wanted)
        if pa.types.is_null(array.type):
            array = array.cast(pa.string())
        arrays.append(array)
        names.append(name)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    path = output_dir / INSTANCES_TABLE
    table = pa.Table.from_arrays(arrays, names=names)
    write_atomic(path, lambda target: pq.write_table(table, target))
    return path

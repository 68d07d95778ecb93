"""A run as a no-code Hub dataset: one row per answer, with the judges' verdicts and raw text.

``trustsim export-run RUN --output DIR`` writes ``DIR/data/<config>/<split>.parquet`` and a
``README.md`` card whose YAML ``configs:`` name one config per run, so ``load_dataset(DIR, <config>)``
works and the Dataset Viewer browses every answer. ``trustsim push-run RUN REPO_ID`` does the same
into a temporary folder, merged with the card already in the repo, and uploads it. Exporting another
run to the same folder or repo adds a config; re-exporting a run replaces its config and nothing else.

One row per (instance, question type) that the run answered or failed to answer. The judges'
grades are one list-of-struct column, ``judgments`` (``judge``, ``template``, ``verdict``, ``score``,
``parsed``, ``raw``), rather than a column per judge: every run, whatever its judges are called and
however many it has, then has the same schema, so configs from different runs read alike in the
Viewer and concatenate with ``datasets``; judge specs (``openai:gpt-4o``, ``hf:org/model``) would
make awkward column names; and the long raw texts stay in one expandable cell. The aggregate
``verdict``/``score`` (majority, mean; the numbers in ``metrics.json``) are flat columns to sort and
filter by, and ``instances.parquet`` of the report keeps the flat per-judge table.

Nothing private leaves the machine: every string is redacted (keys, tokens, URL credentials), model
and judge specs and the dataset are named as in reports (a local path cut to its name), the run's
own folder and the dataset folder are cut from every text, and error texts lose any absolute path.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from trustsim.backends import display_name
from trustsim.evaluation.aggregate import instance_rows
from trustsim.evaluation.rows import run_dataset, run_instances, run_judges, run_model
from trustsim.evaluation.templates import question_text
from trustsim.formatting import count_text, p_value_text, percent_ci, score_text
from trustsim.records import write_atomic
from trustsim.runs import JUDGMENTS, RESPONSES, RunDir
from trustsim.schema import QUESTION_TYPES
from trustsim.secrets import redact

#: Columns of every exported config, in order (``judgments`` is a list of :data:`JUDGMENT_FIELDS`).
COLUMNS: tuple[str, ...] = (
    "id",
    "question_type",
    "dimension",
    "attribute",
    "scenario",
    "system_prompt",
    "question",
    "evaluation_trait",
    "explanation",
    "self_report_expected",
    "model",
    "response",
    "self_report_answer",
    "verdict",
    "score",
    "judgments",
    "failure",
)
JUDGMENT_FIELDS: tuple[str, ...] = ("judge", "template", "verdict", "score", "parsed", "raw")

CARD = "README.md"
DATA_DIR = "data"
#: Marks a card written by this module (a folder or repo with another card is never overwritten).
CARD_MARK = "<!-- trustsim export-run card -->"
_SECTION = re.compile(
    r"<!-- trustsim-run: (?P<name>[^>]+?) -->\n(?P<body>.*?)<!-- /trustsim-run: (?P=name) -->\n?", re.S
)
#: An absolute path in an error message (not the path part of a URL): cut to its last component.
_ABSOLUTE_PATH = re.compile(r"(?<![\w:/.~-])(?:~/|/)(?:[^\s/'\"]+/)+(?P<name>[^\s/'\"]+)")


class ExportError(ValueError):
    """The output folder or repo holds something an export must not overwrite."""


# Names and texts fit to publish ----------------------------------------------------------------------------


def config_name(run: RunDir, name: str | None = None) -> str:
    """The run's config name: ``name`` or the run folder's name, reduced to letters, digits, ``.``, ``_``, ``-``."""
    text = name or run.path.resolve().name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    if not cleaned:
        raise ValueError(f"{text!r} is no usable config name; pass --name with letters or digits")
    return cleaned


class Publisher:
    """Turns a run's texts into publishable ones: secrets redacted, this machine's paths cut to names."""

    def __init__(self, run: RunDir, dataset_path: str | Path, specs: Iterable[str]) -> None:
        replacements: dict[str, str] = {}
        for spec in specs:
            shown = display_name(spec)
            if shown != spec:  # a local path (display_name cut it): the spec and its path both go
                replacements[spec] = shown
                replacements[spec.partition(":")[2]] = shown.partition(":")[2]
        for folder in (Path(dataset_path), run.path):
            if folder.exists():  # by its absolute form only: a relative "." or "runs" is no path in a text
                replacements[str(folder.resolve())] = folder.resolve().name
        # Only path-like keys: replacing a bare word everywhere would corrupt the texts.
        usable = {path: name for path, name in replacements.items() if "/" in path and len(path) > 2}
        self.replacements = sorted(usable.items(), key=lambda item: len(item[0]), reverse=True)

    def text(self, value: str | None, *, message: bool = False) -> str | None:
        """``value`` redacted, with known local paths cut; ``message=True`` (errors, settings) cuts any path."""
        if value is None:
            return None
        for path, name in self.replacements:
            value = value.replace(path, name)
        if message:
            value = _ABSOLUTE_PATH.sub(lambda m: m.group("name"), value)
        return redact(value)


# Rows ------------------------------------------------------------------------------------------------------


def _failures_by_item(run: RunDir, publisher: Publisher) -> dict[tuple[str, str], str]:
    """The standing failures of each answer, as one line (``generate: ...; judge openai:x binary: ...``)."""
    from trustsim.evaluation.score import open_failures

    out: dict[tuple[str, str], list[str]] = {}
    for record in open_failures(run):
        spec = display_name(record["spec"])
        where = "generate" if record["stage"] == "generate" else f"judge {spec} {record['template']}"
        error = " ".join(str(record.get("error") or "failed").split())
        out.setdefault((record["id"], record["question_type"]), []).append(f"{where}: {error}")
    return {item: publisher.text("; ".join(parts), message=True) or "" for item, parts in out.items()}


def _parsed(record: Mapping[str, Any]) -> bool:
    """Whether the judge's reply held a verdict (hand-fed records may lack ``parsed``)."""
    return bool(record.get("parsed", record.get("verdict") is not None or record.get("score") is not None))


def export_rows(run: RunDir, dataset: str | Path | None = None) -> list[dict[str, Any]]:
    """The run's answers as :data:`COLUMNS` rows: answered or failed items, in dataset order."""
    manifest = run.manifest()
    judges = run_judges(run)
    path, _, _ = run_dataset(run, dataset)
    specs = [manifest.get("generation", {}).get("model") or "", *judges]
    publisher = Publisher(run, path, [s for s in specs if s])
    instances = run_instances(run, dataset)
    responses, judgments = run.read(RESPONSES), run.read(JUDGMENTS)
    aggregate = {(r["id"], r["question_type"]): r for r in instance_rows(instances, responses, judgments, judges)}
    answers = {(r["id"], r["question_type"]): r for r in responses}
    failures = _failures_by_item(run, publisher)
    grades: dict[tuple[str, str], list[dict[str, Any]]] = {}
    order = {judge: k for k, judge in enumerate(judges)}
    for record in sorted(judgments, key=lambda j: (order.get(j["judge"], len(order)), j["template"] != "binary")):
        grades.setdefault((record["id"], record["question_type"]), []).append(
            {
                "judge": publisher.text(display_name(record["judge"])),
                "template": record["template"],
                "verdict": record.get("verdict"),
                "score": None if record.get("score") is None else float(record["score"]),
                "parsed": _parsed(record),
                "raw": publisher.text(record.get("raw") or ""),
            }
        )
    model = publisher.text(run_model(run))
    rows = []
    for instance in instances:
        for question_type in QUESTION_TYPES:
            item = (instance["id"], question_type)
            if item not in answers and item not in failures:
                continue
            answer, combined = answers.get(item), aggregate[item]
            rows.append(
                {
                    **{k: publisher.text(instance[k]) for k in ("id", "dimension", "attribute", "scenario")},
                    "question_type": question_type,
                    "system_prompt": publisher.text(instance["system_prompt"]),
                    "question": publisher.text(question_text(instance, question_type)),
                    "evaluation_trait": publisher.text(instance["evaluation_trait"]),
                    "explanation": publisher.text(instance["explanation"]),
                    "self_report_expected": instance["self_report_expected"],
                    "model": model,
                    "response": publisher.text(answer["response"]) if answer else None,
                    "self_report_answer": answer.get("self_report_answer") if answer else None,
                    "verdict": combined["verdict"],
                    "score": None if combined["score"] is None else float(combined["score"]),
                    "judgments": grades.get(item, []),
                    "failure": failures.get(item),
                }
            )
    return rows


def _table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """The rows as an Arrow table with an explicit schema (an all-null column stays typed)."""
    import pyarrow as pa

    judgment = pa.struct(
        [
            ("judge", pa.string()),
            ("template", pa.string()),
            ("verdict", pa.bool_()),
            ("score", pa.float64()),
            ("parsed", pa.bool_()),
            ("raw", pa.string()),
        ]
    )
    types = {"verdict": pa.bool_(), "score": pa.float64(), "judgments": pa.list_(judgment)}
    schema = pa.schema([(name, types.get(name, pa.string())) for name in COLUMNS])
    return pa.Table.from_pylist([{name: row.get(name) for name in COLUMNS} for row in rows], schema=schema)


# The card --------------------------------------------------------------------------------------------------


def _dataset_name(path: Any) -> str:
    """A Hub id as it is, a local dataset folder by its name."""
    from trustsim.evaluation.hub_results import hub_dataset_id

    if not path:
        return "trustsim_dataset"
    return hub_dataset_id(str(path)) or Path(str(path)).name


def _settings_rows(manifest: Mapping[str, Any], model: str, judges: Sequence[str], publisher: Publisher) -> list:
    """``run.json`` as ``(setting, value)`` rows: what produced the answers, never a URL, path or key."""

    def sampling(section: Mapping[str, Any]) -> str:
        values = section.get("sampling") or {}
        return ", ".join(f"{k} {v}" for k, v in values.items()) or "n/a"

    dataset = manifest.get("dataset") or {}
    generation = manifest.get("generation") or {}
    judging = manifest.get("judging") or {}
    rows = [
        ("Model", f"`{model}`"),
        ("Judges", ", ".join(f"`{j}`" for j in judges) or "n/a"),
        (
            "Dataset",
            f"{_dataset_name(dataset.get('path'))}, config `{dataset.get('config', 'default')}`, "
            f"split `{dataset.get('split', 'test')}`",
        ),
        ("Dataset fingerprint", f"`{dataset.get('fingerprint', 'n/a')}`"),
        ("Instances in the split", str(dataset.get("num_instances", "n/a"))),
        ("Subject sampling", sampling(generation)),
        ("Subject prompt version", str(generation.get("prompt_version", "n/a"))),
        ("Judge sampling", sampling(judging)),
        ("Judge template version", str(judging.get("template_version", "n/a"))),
        ("Verdict method", str(judging.get("verdict_method", "n/a"))),
        ("Self-report answers scored 1-5", str(judging.get("score_self_report", "n/a"))),
        ("TrustSim version", str(manifest.get("trustsim_version", "n/a"))),
        ("Packages", ", ".join(f"{k} {v}" for k, v in (manifest.get("packages") or {}).items()) or "n/a"),
        ("Created", str(manifest.get("created", "n/a"))),
    ]
    return [(name, publisher.text(value, message=True)) for name, value in rows]


def _metrics_rows(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``metrics.json``'s headline numbers as ``(metric, value)`` rows, intervals included."""
    ci = metrics.get("ci") or {}

    def rate(key: str, signed: bool = False) -> str:
        return percent_ci(metrics.get(key), ci.get(key), signed=signed)

    score = score_text(metrics.get("open_ended_mean_score"))
    if (ci.get("open_ended_mean_score") or [None])[0] is not None:
        low, high = ci["open_ended_mean_score"]
        score += f" [{low:.2f}, {high:.2f}]"
    return [
        ("Instances (n)", count_text(metrics.get("n"))),
        ("Self-report satisfaction rate (%)", rate("self_report_satisfaction_rate")),
        ("Open-ended satisfaction rate (%)", rate("open_ended_satisfaction_rate")),
        ("Both satisfied (%)", rate("both_satisfied_rate")),
        ("Inconsistency rate (%)", rate("inconsistency_rate")),
        ("Open-ended mean score (1-5)", score),
        ("Difference, open-ended minus self-report (points)", rate("difference", signed=True)),
        ("McNemar p", p_value_text((metrics.get("mcnemar") or {}).get("p_value"))),
        ("Failed requests (left out)", count_text(metrics.get("failed_requests"))),
        ("Unparsable verdicts (left out)", count_text(metrics.get("unparsable_verdicts"))),
    ]


def _table_lines(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    def cell(text: str) -> str:
        return str(text).replace("|", r"\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return lines + ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]


def run_section(name: str, settings: Sequence[tuple[str, str]], metrics: Sequence[tuple[str, str]], rows: int) -> str:
    """The card's section about one config: how to load it, its settings, its numbers."""
    lines = [
        f"## `{name}`",
        "",
        f'{rows} answers. `load_dataset("<this repo>", "{name}")`.',
        "",
        "### Settings (from `run.json`)",
        "",
        *_table_lines(["setting", "value"], settings),
        "",
        "### Metrics (from `metrics.json`; `[low, high]`: 95% bootstrap intervals)",
        "",
        *_table_lines(["metric", "value"], metrics),
        "",
    ]
    return "\n".join(lines)


_INTRO = """# TrustSim runs

Answers of language models playing social characters on TRUSTSIM instances, with every LLM judge's
verdict, score and raw text, exported by `trustsim export-run`. Each config is one run (one model's
evaluation); each row is one answer: an instance's character (`system_prompt`), `scenario` and
`question` (`question_type` `self_report` or `open_ended`), the judge's guideline (`explanation`, with
the `evaluation_trait` it probes), the model's `response`, the combined `verdict` (majority of the
judges) and `score` (mean 1-5), each judge's grades in `judgments` (`judge`, `template` `binary` or
`score`, `verdict`, `score`, `parsed`, `raw`) and `failure` (why a request failed, else null). Answers
whose verdict is unknown are left out of the metrics and counted.

The instance texts are TRUSTSIM's (CC BY 4.0); the answers and judgments are model outputs, subject to
the terms of the models that wrote them.
"""


def read_card(path: Path) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """``(configs, sections by config name)`` of an export card at ``path``; empty if there is none.

    A card not written by :func:`render_card` is refused: exporting into the dataset's own folder or
    repo, or any other card's, would overwrite someone else's README.
    """
    if not path.is_file():
        return [], {}
    return parse_card(path.read_text(encoding="utf-8"), str(path))


def parse_card(text: str, where: str) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The configs and per-run sections of an export card's text (``where`` names it in errors)."""
    import yaml

    if CARD_MARK not in text or not text.startswith("---\n"):
        raise ExportError(
            f"{where}: not a card written by `trustsim export-run`; export runs to their own folder or repo"
        )
    front, _, _ = text[4:].partition("\n---\n")
    try:
        meta = yaml.safe_load(front) or {}
    except yaml.YAMLError as err:
        raise ExportError(f"{where}: the card's YAML does not parse ({' '.join(str(err).split())[:120]})") from None
    configs = meta.get("configs") if isinstance(meta, dict) else None
    if not isinstance(configs, list) or not all(isinstance(c, dict) and c.get("config_name") for c in configs):
        raise ExportError(f"{where}: the card's YAML has no valid `configs:` list; restore it or export afresh")
    return configs, {m.group("name"): m.group("body") for m in _SECTION.finditer(text)}


def render_card(configs: Sequence[Mapping[str, Any]], sections: Mapping[str, str]) -> str:
    """The whole card: YAML (licence, task, tags, ``configs``), the introduction, one section per config."""
    import yaml

    meta = {
        "pretty_name": "TrustSim runs",
        "license": "cc-by-4.0",
        "language": ["en"],
        "task_categories": ["text-generation"],
        "tags": ["trustsim", "role-play", "social-simulation", "llm-as-a-judge", "evaluation"],
        "configs": list(configs),
    }
    body = [_INTRO]
    for config in configs:
        name = config["config_name"]
        if name in sections:
            body.append(f"<!-- trustsim-run: {name} -->\n{sections[name].rstrip()}\n<!-- /trustsim-run: {name} -->\n")
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return redact(f"---\n{front}---\n{CARD_MARK}\n\n" + "\n".join(body))


# Export and push -------------------------------------------------------------------------------------------


def _check_folder(output: Path) -> None:
    """An export folder is new, empty, or an earlier export (its card says so)."""
    if output.exists() and not output.is_dir():
        raise ExportError(f"{output}: exists and is not a folder")
    if output.is_dir() and any(output.iterdir()) and not (output / CARD).is_file():
        raise ExportError(f"{output}: not empty and not an earlier `trustsim export-run` folder; choose another")


def export_run(
    run: RunDir,
    output: str | Path,
    name: str | None = None,
    dataset: str | Path | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write the run as config ``name`` of the dataset folder ``output``; returns the data file.

    Everything is checked and computed before the first write. Then the new data file is written,
    the card after it (both atomically), keeping every other config of an earlier export, and only
    then is the config's previous data file removed. The file is named after a hash of its content
    (``data/<config>/<split>-<hash>.parquet``): ``datasets`` caches a local folder by its card's
    configs, not by file content, so a re-export under the same name would load the old rows.
    ``metrics`` defaults to scoring the run now (``metrics.json`` is rewritten, as ``trustsim score`` does).
    """
    import hashlib
    import io

    import pyarrow.parquet as pq

    output = Path(output)
    _check_folder(output)
    configs, sections = read_card(output / CARD)
    config = config_name(run, name)
    if metrics is None:
        from trustsim.evaluation.score import score_run

        metrics = score_run(run, dataset=dataset)
    rows = export_rows(run, dataset)
    if not rows:
        raise ExportError(f"{run.path}: no answers to export; run `trustsim generate` or `trustsim eval` first")
    path, _, split = run_dataset(run, dataset)
    judges = [display_name(j) for j in run_judges(run)]
    publisher = Publisher(run, path, [run.manifest().get("generation", {}).get("model") or "", *run_judges(run)])
    settings = _settings_rows(run.manifest(), rows[0]["model"], judges, publisher)
    sections = {**sections, config: run_section(config, settings, _metrics_rows(metrics), len(rows))}
    buffer = io.BytesIO()
    pq.write_table(_table(rows), buffer)
    data = buffer.getvalue()
    data_file = f"{DATA_DIR}/{config}/{split}-{hashlib.sha256(data).hexdigest()[:12]}.parquet"
    entry = {"config_name": config, "data_files": [{"split": split, "path": data_file}]}
    configs = [entry if c["config_name"] == config else c for c in configs]
    if entry not in configs:
        configs.append(entry)
    card = render_card(configs, sections)

    target = write_atomic(output / data_file, data)
    write_atomic(output / CARD, card)
    for old in (output / DATA_DIR / config).glob("*.parquet"):  # the earlier export of this config
        if old != target:
            old.unlink()
    return target


def push_run(
    run: RunDir,
    repo_id: str,
    name: str | None = None,
    dataset: str | Path | None = None,
    private: bool = False,
    revision: str | None = None,
) -> str:
    """Export the run into a temporary folder holding the repo's current card, then upload it; the commit URL.

    The repo's card is fetched first, so the runs already there keep their configs and sections;
    the upload replaces this config's data files (``data/<config>/``) and touches no other run's.
    """
    from trustsim.hub import download_text, push_folder

    card = download_text(repo_id, CARD, "dataset", revision=revision)
    if card is not None:
        parse_card(card, f"{repo_id}/{CARD}")  # refuse a foreign card before scoring anything
    with tempfile.TemporaryDirectory(prefix="trustsim-push-run-") as temporary:
        folder = Path(temporary) / "export"
        folder.mkdir()
        if card is not None:
            (folder / CARD).write_text(card, encoding="utf-8")
        export_run(run, folder, name=name, dataset=dataset)
        config = config_name(run, name)
        url = push_folder(
            folder,
            repo_id,
            "dataset",
            f"trustsim push-run: {config}",
            private=private,
            revision=revision,
            delete_patterns=[f"{DATA_DIR}/{config}/*"],
        )
        shutil.rmtree(folder, ignore_errors=True)
    return url

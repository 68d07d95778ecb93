"""What one evaluation run needs, as a dataclass built from the command line or from a YAML file.

``trustsim eval --eval-config run.yaml`` reads the file's keys (the fields below; ``sampling``,
``judge_sampling`` and ``backend_options`` as nested mappings), and any flag given on the command line
overrides the file, as TRL's ``TrlParser`` does for training configs. Every default comes from
:mod:`trustsim.defaults`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trustsim import defaults
from trustsim.backends import SamplingConfig

STAGES: tuple[str, ...] = ("generate", "judge", "score", "report")
VERDICT_METHODS: tuple[str, ...] = ("parse", "likelihood", "calibrated")
#: The methods that pick the verdict by probability (backends with ``supports_choice``; others parse).
LIKELIHOOD_METHODS: tuple[str, ...] = ("likelihood", "calibrated")

#: Judges are deterministic by default: temperature 0 and a fixed seed where the server takes one.
JUDGE_SAMPLING = SamplingConfig(
    max_new_tokens=defaults.JUDGE_MAX_NEW_TOKENS,
    temperature=defaults.JUDGE_TEMPERATURE,
    top_p=defaults.TOP_P,
    seed=defaults.JUDGE_SEED,
)

#: Backend settings the command line collects; each backend takes the ones its constructor names.
BACKEND_OPTIONS: tuple[str, ...] = (
    "base_url",
    "concurrency",
    "timeout",
    "max_retries",
    "batch_size",
    "device",
    "dtype",
)


@dataclass
class EvalConfig:
    """Everything one evaluation run needs."""

    model: str | None
    judges: list[str]
    output: Path
    #: Dataset folder or Hub id (default: the run's, else the shipped copy).
    dataset: str | None = None
    #: The dataset's config (``default`` or ``adaorpo``) and split; None: the run's, else default/test.
    dataset_config: str | None = None
    split: str | None = None
    subjects: list[str] | None = None
    limit: int | None = None
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    judge_sampling: SamplingConfig = JUDGE_SAMPLING
    verdict_method: str = "parse"
    score_self_report: bool = False
    #: Backend settings (``base_url``, ``concurrency``, ``batch_size``, ``device`` ...); each backend takes its own.
    backend_options: dict[str, Any] = field(default_factory=dict)
    #: ``base_url`` for the judges when it differs from the subject model's.
    judge_base_url: str | None = None
    #: The model's name in reports and tables (default: its spec, a local path cut to its file name).
    name: str | None = None
    #: Answer deterministic requests (temperature 0: every judge by default) from the shared request cache.
    cache: bool = True
    #: The cache folder (default: ``$TRUSTSIM_CACHE``, else ``~/.cache/trustsim``).
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        self.output = Path(self.output)
        if self.verdict_method not in VERDICT_METHODS:
            raise ValueError(f"verdict method {self.verdict_method!r} must be one of {', '.join(VERDICT_METHODS)}")
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"--limit must be at least 1, not {self.limit}")


#: Command-line flag (argparse dest) -> where it goes in an :class:`EvalConfig`.
_FLAG_FIELDS: dict[str, tuple[str, ...]] = {
    "model": ("model",),
    "judge": ("judges",),
    "output": ("output",),
    "dataset": ("dataset",),
    "config": ("dataset_config",),
    "split": ("split",),
    "subjects": ("subjects",),
    "limit": ("limit",),
    "max_new_tokens": ("sampling", "max_new_tokens"),
    "temperature": ("sampling", "temperature"),
    "top_p": ("sampling", "top_p"),
    "seed": ("sampling", "seed"),
    "judge_max_new_tokens": ("judge_sampling", "max_new_tokens"),
    "judge_temperature": ("judge_sampling", "temperature"),
    "judge_seed": ("judge_sampling", "seed"),
    "judge_verdict": ("verdict_method",),
    "score_self_report": ("score_self_report",),
    "judge_base_url": ("judge_base_url",),
    "name": ("name",),
    "cache_dir": ("cache_dir",),
    **{name: ("backend_options", name) for name in BACKEND_OPTIONS},
}


_NESTED: dict[str, SamplingConfig | None] = {
    "sampling": SamplingConfig(),
    "judge_sampling": JUDGE_SAMPLING,
    "backend_options": None,
}


def _from_dict(values: Mapping[str, Any], where: str) -> EvalConfig:
    """An :class:`EvalConfig` from plain values (nested mappings for sampling and backend options)."""
    known = {f.name for f in dataclasses.fields(EvalConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {', '.join(unknown)}; expected some of {', '.join(sorted(known))}")
    values = dict(values)
    for name, base in _NESTED.items():
        given = values.get(name) or {}
        if not isinstance(given, Mapping):
            raise ValueError(f"{where}: {name} must be a mapping, not {type(given).__name__}")
        if base is None:
            values[name] = dict(given)
            continue
        allowed = {f.name for f in dataclasses.fields(SamplingConfig)}
        extra = sorted(set(given) - allowed)
        if extra:
            raise ValueError(f"{where}: {name} takes {', '.join(sorted(allowed))}, not {', '.join(extra)}")
        values[name] = dataclasses.replace(base, **given)
    if not values.get("output"):
        raise ValueError(f"{where}: no run directory; pass --output (or give `output:` in the config file)")
    values["judges"] = list(values.get("judges") or [])
    values.setdefault("model", None)
    return EvalConfig(**values)


def load_eval_config(path: str | Path) -> dict[str, Any]:
    """The keys of an ``--eval-config`` YAML file (checked when the config is built)."""
    import yaml

    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise FileNotFoundError(f"{path}: cannot read the evaluation config ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML ({err})".splitlines()[0]) from None
    if loaded is None:
        return {}
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path}: an evaluation config is a mapping of EvalConfig fields, not {type(loaded).__name__}")
    return dict(loaded)


def eval_config_from_flags(flags: Mapping[str, Any], config_file: str | Path | None = None) -> EvalConfig:
    """The one way a command line becomes an :class:`EvalConfig`.

    ``flags`` maps argparse dests to values, None where the flag was not given: a given flag beats the
    ``config_file``'s value, which beats the default of :mod:`trustsim.defaults`.
    """
    values: dict[str, Any] = {name: {} for name in _NESTED}
    for key, value in (load_eval_config(config_file) if config_file else {}).items():
        if key in _NESTED and isinstance(value, Mapping):
            values[key].update(value)
        else:
            values[key] = value
    if flags.get("no_cache"):
        values["cache"] = False
    for flag, value in flags.items():
        place = _FLAG_FIELDS.get(flag)
        if value is None or place is None:
            continue
        if len(place) == 1:
            values[place[0]] = value
        else:
            values[place[0]][place[1]] = value
    return _from_dict(values, str(config_file) if config_file else "command line")

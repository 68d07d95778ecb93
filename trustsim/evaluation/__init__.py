"""The evaluation: instances -> generate -> judge -> score -> report, each stage its own module.

``instances`` (selection), ``templates`` (the subject and judge prompts), ``verdicts`` (reading a
judge's text), ``generate`` and ``judge`` (the stages that send requests), ``aggregate`` (several
judges into one verdict), ``score`` (``metrics.json``), ``consistency`` and ``agreement`` (the metric
and judge agreement), ``report/`` (tables, figures, parquet), ``config`` and ``run`` (the whole
evaluation as one call). Nothing here imports from :mod:`trustsim.training`.
"""

from trustsim._lazy import lazy_exports

__all__ = ["STAGES", "EvalConfig", "describe", "run_eval"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "STAGES": "trustsim.evaluation.config",
        "EvalConfig": "trustsim.evaluation.config",
        "describe": "trustsim.evaluation.run",
        "run_eval": "trustsim.evaluation.run",
    },
)

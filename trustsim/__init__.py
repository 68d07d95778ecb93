"""TrustSim: measure and improve how reliably language models play social characters.

The public API, each name imported on first use (``import trustsim`` loads nothing heavy)::

    import trustsim

    config = trustsim.EvalConfig(model="openai:my-model", judges=["openai:gpt-4o"], output="runs/my-model")
    metrics = trustsim.run_eval(config)

The stages live in one folder each: :mod:`trustsim.dataset` (the data, its checks and its card),
:mod:`trustsim.evaluation` (generate, judge, score, report), :mod:`trustsim.training` (pairs, the
AdaORPO trainer, the recipe's library part, the model card), :mod:`trustsim.backends` (who answers)
and :mod:`trustsim.cli`. See ``docs/architecture.md``.
"""

from trustsim._lazy import lazy_exports

__version__ = "0.1.0"

__all__ = [
    "AdaORPOConfig",
    "AdaORPOTrainer",
    "EvalConfig",
    "__version__",
    "load_trustsim",
    "make_pairs",
    "run_eval",
    "validate_path",
]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "run_eval": "trustsim.evaluation.run",
        "EvalConfig": "trustsim.evaluation.config",
        "load_trustsim": "trustsim.dataset.files",
        "validate_path": "trustsim.dataset.validate",
        "make_pairs": "trustsim.training.pairs",
        "AdaORPOConfig": "trustsim.training.adaorpo",
        "AdaORPOTrainer": "trustsim.training.adaorpo",
    },
)

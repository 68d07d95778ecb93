"""Training: Algorithm 1's preference pairs (:mod:`.pairs`), the AdaORPO trainer (:mod:`.adaorpo`),
the recipe's library part (:mod:`.recipe`, behind ``recipes/adaorpo.py``) and the model card
(:mod:`.model_card`). The top stage: it uses the evaluation, never the other way round.
"""

from trustsim._lazy import lazy_exports

__all__ = ["AdaORPOConfig", "AdaORPOTrainer", "make_pairs"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "AdaORPOConfig": "trustsim.training.adaorpo",
        "AdaORPOTrainer": "trustsim.training.adaorpo",
        "make_pairs": "trustsim.training.pairs",
    },
)

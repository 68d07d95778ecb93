"""The AdaORPO trainer under the import path the architecture contract names (``trustsim.adaorpo``).

It lives in :mod:`trustsim.training.adaorpo`; this module keeps ``from trustsim.adaorpo import
AdaORPOConfig, AdaORPOTrainer`` working for existing scripts.
"""

from trustsim.training.adaorpo import *  # noqa: F403
from trustsim.training.adaorpo import __all__  # noqa: F401

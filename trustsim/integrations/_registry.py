"""inspect_ai's entry point for this package (``[project.entry-points.inspect_ai]`` in ``pyproject.toml``).

inspect_ai imports this module when a name in the ``trustsim/`` namespace is asked for, so
``inspect eval trustsim/trustsim`` finds the task wherever the package is installed; importing the
module registers the task, its solver, scorer and metrics.
"""

from trustsim.integrations.inspect_task import (  # noqa: F401 - imported to register them
    consistency_metrics,
    trustsim_answers,
    trustsim_judge,
    trustsim_task,
)

"""TRUSTSIM inside the evaluation frameworks researchers already use.

* :mod:`trustsim.integrations.inspect_task`: the ``trustsim/trustsim`` inspect_ai task (the optional
  ``inspect`` extra), registered through inspect_ai's package entry point
  (:mod:`trustsim.integrations._registry`), so ``inspect eval trustsim/trustsim`` finds it.
* :mod:`trustsim.integrations.inspect_log`: an inspect log as a TrustSim run folder, so
  ``trustsim score``/``report``/``pairs`` work on it (``trustsim import-inspect``).
* The judge-free lm-evaluation-harness tasks live beside the package, in ``integrations/lm_eval/``.

They add no prompt, template or verdict rule of their own: every piece comes from
:mod:`trustsim.evaluation`, so the numbers are those of ``trustsim eval``. Nothing here is imported by
``import trustsim`` or by the ``trustsim`` command until one of its integration commands runs.
"""

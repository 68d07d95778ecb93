"""What the TRUSTSIM lm-evaluation-harness tasks' YAML files name (``!function utils.<name>``).

The self-report half without a judge: does the model find the answer its character would give
(``self_report_expected``) more likely than the other? Every prompt comes from TrustSim itself: the
instances are chosen by :func:`trustsim.evaluation.instances.choose_instances` (what ``--subjects``
picks), the chat by :func:`trustsim.evaluation.templates.subject_messages` (what ``trustsim generate``
sends), the base-model transcript by :func:`trustsim.backends.hf_backend.plain_prompt` (what
``trustsim eval --model hf:<base model>`` renders), and the choices are the schema's
``EXPECTED_ANSWERS``. The data is found from the installed package, wherever lm_eval runs.

Each document carries the prompt pieces as columns (so lm-eval's logged samples show them):
``subject_transcript`` for the ``trustsim_self_report`` tasks (base models, no chat template), and
``subject_system`` / ``subject_user`` for the ``trustsim_self_report_chat`` tasks, which put the
character in the system turn under ``--apply_chat_template``, as TrustSim does for chat models.
"""

from __future__ import annotations

from typing import Any

from trustsim.backends.hf_backend import plain_prompt
from trustsim.dataset import DEFAULT_DATASET_PATH
from trustsim.evaluation.instances import choose_instances
from trustsim.evaluation.templates import subject_messages
from trustsim.schema import EXPECTED_ANSWERS

#: The question type these tasks score (the open-ended half needs a judge: ``trustsim judge``).
QUESTION_TYPE = "self_report"


def subject_docs(
    subject: str,
    trustsim_dataset: str | None = None,
    trustsim_config: str = "default",
    trustsim_split: str = "test",
) -> list[dict[str, Any]]:
    """One subject's instances, in TrustSim's order, each with its prompt columns added.

    ``trustsim_dataset`` / ``trustsim_config`` / ``trustsim_split`` (from lm_eval's ``--metadata``) pick
    another copy or split, e.g. ``--metadata '{"trustsim_config": "adaorpo"}'`` for the AdaORPO test half.
    """
    path = trustsim_dataset or str(DEFAULT_DATASET_PATH)
    instances, _ = choose_instances(path, trustsim_config, trustsim_split, [subject])
    if not instances:
        raise ValueError(f"{path} ({trustsim_config}/{trustsim_split}) has no instance of the subject {subject!r}")
    docs = []
    for instance in instances:
        system, user = subject_messages(instance, QUESTION_TYPE)
        docs.append(
            {
                **instance,
                "subject_transcript": plain_prompt((system, user)),
                "subject_system": system["content"],
                "subject_user": user["content"],
            }
        )
    return docs


def load_subject(subject: str, **metadata: Any):
    """``custom_dataset`` of every task: the subject's documents as a ``test`` split.

    lm_eval passes the task's ``metadata`` (its version, ``--metadata``, model arguments) and
    ``dataset_kwargs`` (``subject``) as keywords; only TrustSim's own keys are read.
    """
    from datasets import Dataset, DatasetDict

    wanted = {k: v for k, v in metadata.items() if k in ("trustsim_dataset", "trustsim_config", "trustsim_split")}
    return DatasetDict({"test": Dataset.from_list(subject_docs(subject, **wanted))})


def doc_to_choice(doc: dict[str, Any]) -> list[str]:
    """The two answers a self-report question allows, in the schema's order."""
    return list(EXPECTED_ANSWERS)


def doc_to_target(doc: dict[str, Any]) -> int:
    """The index of the answer the character would give."""
    return EXPECTED_ANSWERS.index(doc["self_report_expected"])

"""The judge prompts: the paper's Figure 12 (binary) and Figure 13 (1-5 score) templates.

The wording is the paper's, kept verbatim so that numbers are comparable with its tables; the
instance's system prompt, scenario, question, explanation and the model's response are quoted into
it unchanged. ``TEMPLATE_VERSION`` goes into every run's ``run.json``: change it whenever a
template changes, so a resumed run never mixes judgments from two wordings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

TEMPLATE_VERSION = "paper-fig12-fig13-v1"

#: The two judge templates, by the name stored in ``judgments.jsonl``'s ``template`` field.
TEMPLATES: tuple[str, ...] = ("binary", "score")

_PREAMBLE = (
    "You will act as a strict evaluation assistant. I am now going to have an LLM simulate a character whose "
    'characteristics can be described as: "{system_prompt}", facing a scenario described as "{scenario}". '
    "The model is required to answer the question: {question}\n\n"
    "And the expected answer should meet the following description:\n\n"
    "{explanation}\n\n"
    "Here is the model's response:\n\n"
    "{response}\n\n"
)

BINARY_TEMPLATE = _PREAMBLE + (
    "Please evaluate the model's response. Your judgment should be as strict as possible. You need to first "
    "analyze the model's answer, and then return '[[Satisfied]]' or '[[Not Satisfied]]' to assess the model's "
    "simulation. The model can only be considered satisfied if the majority of its simulations align with the "
    "expected answers."
)

SCORE_TEMPLATE = _PREAMBLE + (
    "The score is from 1 to 5 and you should output the score using a format of [[score]]. Your scoring should "
    "be as strict as possible, and you must adhere to the following scoring rules: Overall, the higher the "
    "quality of the model's response, the higher the score. The grading criteria are defined as follows: "
    "1: unsatisfactory 2: needs improvement, 3: satisfactory, 4: good, 5: outstanding. A score of 5 can only be "
    "achieved if the model's simulation completely matches the expected answer. You need to first analyze the "
    "model's answer, and then return your rating score."
)

_BY_NAME = {"binary": BINARY_TEMPLATE, "score": SCORE_TEMPLATE}


def question_text(instance: Mapping[str, Any], question_type: str) -> str:
    """The instance's question of ``question_type`` (``self_report`` or ``open_ended``)."""
    if question_type not in ("self_report", "open_ended"):
        raise ValueError(f"unknown question type {question_type!r}; expected self_report or open_ended")
    return instance[f"{question_type}_question"]


def judge_prompt(template: str, instance: Mapping[str, Any], question_type: str, response: str) -> str:
    """The judge's prompt for one answer, every field quoted verbatim.

    ``str.format`` is applied to the template only, never to the inserted texts, so braces in a
    model's answer cannot break or inject into the prompt.
    """
    if template not in _BY_NAME:
        raise ValueError(f"unknown judge template {template!r}; expected one of {', '.join(TEMPLATES)}")
    return _BY_NAME[template].format(
        system_prompt=instance["system_prompt"],
        scenario=instance["scenario"],
        question=question_text(instance, question_type),
        explanation=instance["explanation"],
        response=response,
    )


#: The allowed verdicts of each template, as written inside ``[[...]]``; a likelihood judge picks one.
VERDICT_CHOICES: dict[str, tuple[str, ...]] = {
    "binary": ("Satisfied", "Not Satisfied"),
    "score": ("1", "2", "3", "4", "5"),
}

#: The answer a ``calibrated`` likelihood judge is shown for its baseline: no answer at all. Its verdict
#: probabilities for this stand-in are subtracted from those for the real answer.
BASELINE_RESPONSE = "N/A"

#: Sent once, after the judge's own reply, when that reply held no parsable verdict. Asking the same
#: prompt again would be pointless with a deterministic judge; a reminder of the format is not.
FORMAT_REMINDER: dict[str, str] = {
    "binary": "Your reply did not end with a verdict in the required format. "
    "Reply with only [[Satisfied]] or [[Not Satisfied]].",
    "score": "Your reply did not end with a rating in the required format. "
    "Reply with only the rating in double square brackets, for example [[3]].",
}


def judge_messages(template: str, instance: Mapping[str, Any], question_type: str, response: str) -> tuple:
    """The judge's chat: one user turn holding the filled template (the paper gives no system turn)."""
    return ({"role": "user", "content": judge_prompt(template, instance, question_type, response)},)


def reminder_messages(template: str, messages: tuple, reply: str) -> tuple:
    """The judge's chat continued with its unparsable reply and the format reminder."""
    return (*messages, {"role": "assistant", "content": reply}, {"role": "user", "content": FORMAT_REMINDER[template]})


#: Version of the subject-model prompts below; recorded in ``run.json`` like ``TEMPLATE_VERSION``.
SUBJECT_PROMPT_VERSION = "trustsim-subject-v1"

#: Appended to the self-report question so the answer starts with a parsable Yes or No.
SELF_REPORT_INSTRUCTION = "Answer Yes or No first, then give a short reason."


def subject_messages(instance: Mapping[str, Any], question_type: str) -> tuple:
    """What the subject model sees: the character's system prompt, then the question."""
    question = question_text(instance, question_type)
    if question_type == "self_report":
        question = f"{question}\n\n{SELF_REPORT_INSTRUCTION}"
    return ({"role": "system", "content": instance["system_prompt"]}, {"role": "user", "content": question})

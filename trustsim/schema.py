"""The TRUSTSIM data contract: columns, subjects, attributes and their short names.

Everything that reads or writes instances imports these names from here, so the contract in
``docs/architecture.md`` lives in exactly one place in code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: Columns of every split, in the order they are stored and returned.
COLUMNS: tuple[str, ...] = (
    "id",
    "dimension",
    "attribute",
    "scenario",
    "system_prompt",
    "self_report_question",
    "open_ended_question",
    "evaluation_trait",
    "explanation",
    "self_report_expected",
)

#: The paper's Table 1 attributes: which aspect of the character an instance tests.
ATTRIBUTES: tuple[str, ...] = (
    "characteristic",
    "knowledge",
    "culture",
    "value",
    "time",
    "capability",
    "social_status",
)

#: Allowed values of ``self_report_expected``.
EXPECTED_ANSWERS: tuple[str, ...] = ("Yes", "No")

#: The two question types; also the ``question_type`` of response and judgment records.
QUESTION_TYPES: tuple[str, ...] = ("self_report", "open_ended")


@dataclass(frozen=True)
class Subject:
    """One of the ten social-science subjects (the ``dimension`` column)."""

    name: str
    #: Column header used by the paper's Table 2 (Com., Eco., ...).
    abbreviation: str
    #: Prefix of instance ids, ``psy-001``.
    id_prefix: str

    @property
    def slug(self) -> str:
        """File-name form of the subject: ``Political Science`` -> ``political_science``."""
        return re.sub(r"[^a-z0-9]+", "_", self.name.lower()).strip("_")


SUBJECTS: tuple[Subject, ...] = (
    Subject("Psychology", "Psy.", "psy"),
    Subject("Sociology", "Soc.", "soc"),
    Subject("Economics", "Eco.", "eco"),
    Subject("Political Science", "Pol.", "pol"),
    Subject("History and Linguistics", "Lin.", "lin"),
    Subject("Communication Studies", "Com.", "com"),
    Subject("Organizational Behavior", "Org.", "org"),
    Subject("Ethics and Moral Psychology", "Eth.", "eth"),
    Subject("Educational Studies", "Edu.", "edu"),
    Subject("Law and Jurisprudence", "Law", "law"),
)

#: The allowed ``dimension`` values.
DIMENSIONS: tuple[str, ...] = tuple(s.name for s in SUBJECTS)

_BY_NAME = {s.name: s for s in SUBJECTS}
_BY_SLUG = {s.slug: s for s in SUBJECTS}


def subject(name: str) -> Subject:
    """The subject called ``name`` (a ``dimension`` value); ``KeyError`` if there is none."""
    return _BY_NAME[name]


def subject_for_slug(slug: str) -> Subject | None:
    """The subject whose data file is named ``<slug>.jsonl``, or ``None``."""
    return _BY_SLUG.get(slug)

"""Surveys as data, shared by the service that asks (evaluation: its links, its answer page)
and the ones that report (reporting: the service user perspective): each definition
(`data/<id>.v<version>.json`) names its questions, the scales they are answered on, an easy-
read wording per question and a picture per answer. A new survey, or a new version of one,
is a new file: no code changes, and answers always name the version they were given (an
answer is read against the questions the person saw).

Two ship with the platform:
- `session-feedback`: how a session went, from the people at it;
- `tokenism-checklist`: the festival blog's ten signs of tokenism, scored by participants,
  co-producers, partners' staff and the commissioner's, each group shown beside the others;
  its question ids are the checklist's items (pathways_evaluation's TokenismChecklist).

Scales are of two kinds: a `rating` (the report gives its mean) and a `sign` (yes 1 / no 0:
the report gives the share who said yes). Every question may be skipped: an easy-read survey
never makes someone answer what they would rather not."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Annotated, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints, model_validator

DATA = Path(__file__).parent / "data"

# Who may be asked: people taking part and co-producers (by a one-time link, pseudonymous or
# anonymous), and the staff of a partner or of the commissioner (anonymous).
Group = Literal["participant", "co_producer", "partner", "commissioner"]
GROUPS: tuple[Group, ...] = get_args(Group)
PEOPLE: tuple[Group, ...] = ("participant", "co_producer")  # whose answers are the service user perspective
# The pictures the answer page draws (inline SVG, survey_page.py): a face per point of a
# five-point scale, and a tick and a cross.
Picture = Literal["face-1", "face-2", "face-3", "face-4", "face-5", "yes", "no"]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,63}$")]
Words = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]

_DEFINITION = ConfigDict(frozen=True, extra="forbid")


class Option(BaseModel):
    model_config = _DEFINITION
    value: StrictInt
    words: Words
    picture: Picture


class Scale(BaseModel):
    model_config = _DEFINITION
    kind: Literal["rating", "sign"]
    options: tuple[Option, ...] = Field(min_length=2, max_length=7)

    @model_validator(mode="after")
    def _distinct(self) -> Scale:
        values = [o.value for o in self.options]
        if len(set(values)) != len(values):
            raise ValueError("a scale's options have distinct values")
        if self.kind == "sign" and set(values) != {0, 1}:
            raise ValueError("a sign scale is yes (1) and no (0)")
        return self

    def values(self) -> frozenset[int]:
        return frozenset(o.value for o in self.options)


class Question(BaseModel):
    model_config = _DEFINITION
    id: Slug
    text: Words  # the standard wording, as the report names the question
    easy_read: Words  # what the person reads: a short, plain sentence
    scale: Slug


class Survey(BaseModel):
    model_config = _DEFINITION
    id: Slug
    version: int = Field(ge=1)
    title: Words
    easy_read_title: Words
    introduction: Words
    about: Literal["session", "programme"]  # a session's survey names the session it asks about
    answered_by: tuple[Group, ...] = Field(min_length=1)
    scales: dict[Slug, Scale]
    questions: tuple[Question, ...] = Field(min_length=1, max_length=40)
    comment: Words | None = None  # the easy-read invitation to say something in their own words; None: no box

    @model_validator(mode="after")
    def _consistent(self) -> Survey:
        ids = [q.id for q in self.questions]
        if len(set(ids)) != len(ids):
            raise ValueError("each question has its own id")
        unknown = sorted({q.scale for q in self.questions} - set(self.scales))
        if unknown:
            raise ValueError(f"questions name scales the survey does not define: {', '.join(unknown)}")
        return self

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    def answer_problem(self, answers: dict[str, int], comment: str | None) -> str | None:
        """Why these answers cannot be this survey's, in words for the person who sent them;
        None when they can."""
        if not answers and not comment:
            return "Answer at least one question, or say something in your own words."
        if comment and self.comment is None:
            return f"Survey '{self.id}' has no space for a comment."
        for question_id, value in answers.items():
            question = self.question(question_id)
            if question is None:
                return f"Survey '{self.id}' (version {self.version}) has no question '{question_id}'."
            allowed = self.scales[question.scale].values()
            if value not in allowed:
                return (f"'{value}' is not an answer to question '{question_id}': "
                        f"it takes {', '.join(str(v) for v in sorted(allowed))}.")
        return None


def load(directory: Path) -> dict[tuple[str, int], Survey]:
    """Every definition in `directory`, by (id, version). A file that does not describe a
    valid survey stops the service at start, never a person halfway through answering."""
    found: dict[tuple[str, int], Survey] = {}
    for path in sorted(directory.glob("*.json")):
        survey = Survey.model_validate_json(path.read_bytes())
        if path.name != f"{survey.id}.v{survey.version}.json":
            raise ValueError(f"{path.name} defines {survey.id} version {survey.version}: name it so")
        found[survey.id, survey.version] = survey
    return found


@cache
def surveys() -> dict[tuple[str, int], Survey]:
    """The definitions that ship with the platform."""
    return load(DATA)


def latest(survey_id: str) -> Survey | None:
    versions = [s for (i, _), s in surveys().items() if i == survey_id]
    return max(versions, key=lambda s: s.version) if versions else None


def given(survey_id: str, version: int) -> Survey | None:
    return surveys().get((survey_id, version))

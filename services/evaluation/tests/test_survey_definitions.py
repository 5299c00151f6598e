"""Survey definitions are data (pathways.core.surveys): the ones shipped are valid and the
tokenism checklist asks exactly the checklist's ten items; a broken definition is refused
when it is read, not when someone answers; and answers are checked against the questions and
scales of the version the person was given, for any answers at all (hypothesis)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pathways.core import surveys
from pathways_evaluation import survey_cli
from pathways_evaluation.domain.events import TokenismChecklist
from pydantic import ValidationError


def test_the_shipped_surveys_are_valid_and_the_checklist_is_the_festival_blogs() -> None:
    shipped = surveys.surveys()
    assert {("session-feedback", 1), ("tokenism-checklist", 1)} <= set(shipped)
    checklist = surveys.latest("tokenism-checklist")
    assert checklist is not None
    assert [q.id for q in checklist.questions] == list(TokenismChecklist.model_fields)
    assert set(checklist.answered_by) == {"participant", "co_producer", "partner", "commissioner"}
    assert survey_cli.GROUPS == surveys.GROUPS  # the CLI's own copy, kept for a fast --help
    for survey in shipped.values():
        assert all(q.easy_read != q.text or len(q.text.split()) < 8 for q in survey.questions)  # read easily


def definition(**overrides: Any) -> dict[str, Any]:
    return {"id": "mood", "version": 1, "title": "Mood", "easy_read_title": "How are you?", "introduction": "Hello.",
            "about": "programme", "answered_by": ["participant"],
            "scales": {"yn": {"kind": "sign", "options": [{"value": 1, "words": "Yes", "picture": "yes"},
                                                          {"value": 0, "words": "No", "picture": "no"}]}},
            "questions": [{"id": "ok", "text": "OK?", "easy_read": "Are you OK?", "scale": "yn"}]} | overrides


@pytest.mark.parametrize(("broken", "why"), [
    ({"questions": [{"id": "ok", "text": "OK?", "easy_read": "OK?", "scale": "faces"}]}, "scales the survey does not"),
    ({"questions": [{"id": "ok", "text": "A", "easy_read": "A", "scale": "yn"}] * 2}, "its own id"),
    ({"scales": {"yn": {"kind": "sign", "options": [{"value": 1, "words": "Yes", "picture": "yes"},
                                                    {"value": 2, "words": "No", "picture": "no"}]}}}, "yes (1) and no (0)"),
    ({"scales": {"yn": {"kind": "rating", "options": [{"value": 1, "words": "A", "picture": "yes"},
                                                      {"value": 1, "words": "B", "picture": "no"}]}}}, "distinct values"),
    ({"answered_by": ["the public"]}, "answered_by"),
    ({"questions": [{"id": "ok", "text": "OK?", "easy_read": "OK?", "scale": "yn", "picture": "cat"}]}, "Extra inputs"),
])
def test_a_broken_definition_is_refused_when_read(broken: dict[str, Any], why: str, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=re.escape(why)):
        surveys.Survey.model_validate(definition(**broken))
    (tmp_path / "mood.v1.json").write_text(json.dumps(definition(**broken)))
    with pytest.raises(ValidationError):
        surveys.load(tmp_path)


def test_a_definition_is_filed_under_its_id_and_version(tmp_path: Path) -> None:
    (tmp_path / "mood.v1.json").write_text(json.dumps(definition()))
    assert set(surveys.load(tmp_path)) == {("mood", 1)}
    (tmp_path / "mood.v2.json").write_text(json.dumps(definition()))  # says version 1 inside
    with pytest.raises(ValueError, match="name it so"):
        surveys.load(tmp_path)


FEEDBACK = surveys.given("session-feedback", 1)
assert FEEDBACK is not None
# As the file says (session-feedback.v1.json), not as the code under test reads it.
ALLOWED = {"enjoyed": {1, 2, 3, 4, 5}, "listened_to": {1, 2, 3, 4, 5}, "learned": {0, 1}, "come_again": {0, 1}}


@given(st.dictionaries(st.sampled_from([*ALLOWED, "salary", ""]), st.integers(-3, 8), max_size=6),
       st.sampled_from(["", "It was good."]))
def test_answers_are_checked_against_the_questions_and_scales(answers: dict[str, int], comment: str) -> None:
    assert FEEDBACK is not None
    fits = (bool(answers) or bool(comment)) and all(q in ALLOWED and v in ALLOWED[q] for q, v in answers.items())
    assert (FEEDBACK.answer_problem(answers, comment) is None) == fits


def test_a_survey_without_a_comment_box_takes_no_comment() -> None:
    mood = surveys.Survey.model_validate(definition())
    assert mood.answer_problem({"ok": 1}, "") is None
    assert "no space for a comment" in (mood.answer_problem({"ok": 1}, "Hello") or "")
    assert "at least one question" in (mood.answer_problem({}, "") or "")

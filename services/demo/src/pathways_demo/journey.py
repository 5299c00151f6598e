"""The demo's journeys: most people are referred before they are enrolled (a few referrals
are declined, a few wait for a place), partners record who missed a session and why, and
at the end people complete or leave, with where they moved on to. Drawn from a random
stream of their own, so the rest of the demo (sessions, outcomes, money) is drawn exactly
as before and its figures stay what they were."""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from pathways_demo.cast import BY_CODE, END, FAR, PARTNERS, START, Partner, coordinator

if TYPE_CHECKING:
    from pathways_demo.steps import Person, Step, _Builder

REFERRERS = {"ward": ("clinical_team", "ward_staff", "clinical_team"), "community": ("community_services", "self",
                                                                                    "family_or_carer", "commissioner")}
TEAMS = {"clinical_team": "Host Trust forensic clinical team (demo)", "ward_staff": "Ward nursing team (demo)",
         "community_services": "Community mental health team (demo)"}
DECLINES = (("not_eligible", "Outside the programme's criteria"), ("person_declined", None),
            ("no_capacity", "The group is full this term"), ("not_well_enough", "Not well enough to take part yet"),
            ("needs_better_met_elsewhere", "Referred on to a service closer to home"))
ABSENT_BECAUSE = ("Unwell", "Ward review", "Family visit", "Hospital appointment", "Escorted leave cancelled")
MOVED_ON_TO = ("community_living", "community_living", "volunteering", "volunteering", "education", "employment")
COMPLETED_ON = END - timedelta(days=21)
ON_WITHDRAWAL = {"Moved out of the area": "community_living", "Transferred to another hospital": "readmitted"}


def stream(seed: int) -> random.Random:
    return random.Random(f"demo-journey/{seed}")


def plan_completions(people: list[Person], rng: random.Random) -> None:
    """Who completes near the end, and where they move on to: most of those who moved into
    the community, and some of the most engaged; they attend nothing after."""
    for person in people:
        for code in person.enrolled:
            if code in person.withdrawn or person.consent_withdrawn_on:
                continue
            if (person.moved_on and rng.random() < 0.7) or (person.engagement > 0.7 and rng.random() < 0.3):
                person.completed[code] = COMPLETED_ON


def referral(b: _Builder, rng: random.Random, person: Person, code: str, on: date, setting: str,
             lane: str) -> tuple[list[Step], str | None]:
    """The referral an enrolment takes up (four in five are referred), and its acceptance."""
    if rng.random() >= 0.8:
        return [], None
    p, rid = BY_CODE[code], f"demo-r-{code}-{person.pid[7:]}"
    referred = max(START, p.starts_on, on - timedelta(days=rng.randint(5, 28)))  # within the partner's contract
    accepted = min(on, referred + timedelta(days=rng.randint(1, 6)))
    return [*_referred(b, rng, p, person.pid, rid, referred, setting, lane),
            _decided(b, p, person.pid, rid, "AcceptReferral", accepted, lane)], rid


def not_enrolled(b: _Builder, rng: random.Random, count: int) -> list[Step]:
    """Referrals that come to nothing (yet): most declined, with a reason; some waiting for a place."""
    steps: list[Step] = []
    for i in range(1, count + 1):
        p, pid = rng.choice(PARTNERS), f"demo-q-{i:03d}"
        rid, lane = f"demo-r-{p.code}-q{i:03d}", f"enrolment/{p.code}/{pid}"
        referred = max(p.starts_on, START + timedelta(days=rng.randint(5, 300)))
        steps += _referred(b, rng, p, pid, rid, referred, rng.choice(("ward", "community")), lane)
        decided = referred + timedelta(days=rng.randint(2, 10))
        if rng.random() < 0.75:
            reason, note = rng.choice(DECLINES)
            steps.append(_decided(b, p, pid, rid, "DeclineReferral", decided, lane, reason=reason, note=note))
        else:
            steps.append(_decided(b, p, pid, rid, "AcceptReferral", decided, lane))
    return steps


def _referred(b: _Builder, rng: random.Random, p: Partner, pid: str, rid: str, on: date, setting: str,
              lane: str) -> list[Step]:
    referrer = rng.choice(REFERRERS[setting])
    return [b.step(p.org, "registry", "ReferParticipant", {
        "referral_id": rid, "participant_id": pid, "referrer": referrer, "referred_on": on,
        **({"referring_organisation": TEAMS[referrer]} if referrer in TEAMS else {})},
        f"refer/{rid}", coordinator(p), lane)]


def _decided(b: _Builder, p: Partner, pid: str, rid: str, command: str, on: date, lane: str, **more: Any) -> Step:
    data = {"referral_id": rid, "participant_id": pid, "on": on} | {k: v for k, v in more.items() if v is not None}
    return b.step(p.org, "registry", command, data, f"{command}/{rid}", coordinator(p), lane)


def absences(rng: random.Random, missing: list[Person]) -> list[dict[str, Any]]:
    """Who was expected and did not come: the less engaged are more often absent without a word."""
    out = []
    for person in sorted(missing, key=lambda x: x.pid):
        if rng.random() < (1 - person.engagement) * 0.6:
            out.append({"participant_id": person.pid, "kind": "unexcused"})
        else:
            out.append({"participant_id": person.pid, "kind": "excused", "reason": rng.choice(ABSENT_BECAUSE)})
    return out


def ending(b: _Builder, person: Person, code: str, lane: str, withdrawal: dict[str, Any] | None) -> list[Step]:
    """A completion with where they moved on to, or the move-on of a withdrawal where it is known."""
    p = BY_CODE[code]
    if withdrawal is not None:
        moved = ON_WITHDRAWAL.get(withdrawal["reason"])
        return [b.step(p.org, "registry", "WithdrawParticipant", withdrawal | ({"moved_on_to": moved} if moved else {}),
                       f"withdraw/{code}/{person.pid}", coordinator(p), lane)]
    if person.completed.get(code, FAR) == FAR:
        return []
    to = MOVED_ON_TO[int(person.pid[-3:]) % len(MOVED_ON_TO)]
    return [b.step(p.org, "registry", "CompleteParticipation", {"participant_id": person.pid, "on": person.completed[code],
                                                                 "moved_on_to": to},
                   f"complete/{code}/{person.pid}", coordinator(p), lane)]

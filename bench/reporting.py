"""The reporting read model at scale: rebuild it from 1 M events, then time the dashboard's
queries on what it built (DESIGN §5).

1. Publish n(1_000_000) synthetic events (five made-up programmes `rpt-p1`..`rpt-p5`, ten
   partners each, two years of enrolments, sessions, attendance, outcomes, payments and
   co-production) in atomic batches. Each is the envelope the intake would store: the same
   subject, the canonical bytes of a CloudEvent, `data` that the owning context's schema
   accepts (checked on a sample: decoded and re-encoded to the same bytes).
2. Read the whole stream with `read_all` (the yardstick, read before and after
   the rebuild, the faster kept), then, in a child process, `pathways.core.rebuild.rebuild()`
   the reporting service's projections (its directory, then its facts, as `pathways rebuild
   reporting` does) into a fresh SQLite file. The child reports its own peak RSS.
3. Time each dashboard query on the biggest programme: the headline summary unfiltered and
   with each filter, every table as a page shows it (ROW_LIMIT rows and the total), and the
   whole page through `dashboard._page` (commissioner and partner views).

Targets: rebuild >= 40 % of raw replay, peak RSS < 500 MB, query p95 < 50 ms.

Alone: `.venv/bin/python bench/reporting.py` (own embedded server), or `make bench-reporting`.
`BENCH_PROFILE=1` also profiles the rebuild (cProfile, apply run inline) and prints the top frames.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from common import SCALE, Result, console, embedded_nats, n, print_ratios, print_results, write_record
from pathways.core.envelope import CloudEvent, canonical_json
from pathways.core.schemas import EventSchema
from pathways.core.subjects import event_subject
from pathways.jetstream.store import MAX_BATCH_MESSAGES, JetStreamEventStore, ensure_stream
from pathways.policy.consent import SINGLE_FLAG
from pathways.runtime.connection import ConnectionInfo

Message = tuple[str, bytes, dict[str, str]]

EVENTS = 1_000_000
EPOCH = date(2025, 1, 6)  # a Monday
DAYS = 728  # two years of activity
WEIGHTS = (0.35, 0.25, 0.20, 0.12, 0.08)  # share of the events per programme: rpt-p1 is the biggest
PARTNERS = 10
CO_PRODUCERS = 6  # per partner
LINES_PER_RUN = 250  # payment-run lines per PaymentRunIssued event
# Events per day of each kind, as shares of a programme's daily budget (sum ~0.97; the
# rest are monthly invoices, weekly payment runs, quarterly assessments and tracker items).
SHARE = {
    "enrol": 0.075, "transition": 0.004, "withdraw": 0.003, "schedule": 0.30,
    "involvement": 0.07, "expense": 0.045,
}
BASELINE, FOLLOW_UP, CONSENT_LATER, CANCELLED, REJECTED, TWO_PARTNERS = 0.9, 0.8, 0.05, 0.05, 0.1, 0.03
OVERSHOOT = 1.08  # plan a little more than needed; the stream is cut at exactly the count asked for
ACTIVITIES = ("yoga", "soft archery", "podcasting", "music production", "employability", "peer mentoring",
              "cooking for independence", "art", "gardening", "walking football", "creative writing", "photography")
WARDS = ("Cedar Ward", "Willow Ward", "Rowan Ward", "Ash Ward", "Hazel Ward")
HUBS = ("Eastgate Community Hub", "Northside Library", "Riverside Centre", "Old Mill Studio", "Park Pavilion")
REFERRALS = {"ward": ("clinical_team", "ward_staff"), "community": ("community_services", "self", "family_or_carer")}
TOKENISM = ("not_involved_until_the_end", "solution_already_decided", "suggestions_rejected_as_not_fitting",
            "not_reflected_in_final_service", "consulted_and_never_heard_of_again", "no_expenses_or_fee",
            "too_little_notice_or_impossible_times", "inaccessible_venue", "key_stakeholders_absent", "comments_not_documented")
LADDER = ("informing", "consultation", "engagement", "co_design", "co_production")
PROFILE = bool(os.environ.get("BENCH_PROFILE"))
QUERY_REPS = 200
QUERY_BUDGET_SECONDS = 15.0  # per query: stop repeating a slow one after this long (at least 5 runs)


def _schemas() -> dict[str, EventSchema]:
    from pathways_evaluation.domain.events import schemas as evaluation
    from pathways_payments.domain.events import schemas as payments
    from pathways_registry.domain.events import schemas as registry
    from pathways_sessions.domain.events import schemas as sessions

    return {**registry.events, **sessions.events, **payments.events, **evaluation.events}


# --- synthetic events ------------------------------------------------------------------


@dataclass
class Partner:
    org: str
    contract: str
    activities: tuple[str, ...]
    sites: dict[str, str]  # setting -> site
    co_producers: dict[str, int]  # id -> hourly rate (pence)
    enrolled: set[str] = field(default_factory=set)
    pool: list[str] = field(default_factory=list)  # actively enrolled, consenting: who attends and is measured
    on_ward: list[str] = field(default_factory=list)
    developments: dict[str, str] = field(default_factory=dict)  # id -> status


class Envelopes:
    """Builds each event exactly as the owning context's intake would store it, and checks
    a sample of them against the real schemas."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.schemas = _schemas()
        self.checked: dict[str, int] = defaultdict(int)
        self.count = 0

    def __call__(self, context: str, name: str, programme: str, owner: str, aggregate: str, sender: str, day: date,
                 data: dict[str, Any], at: str = "12:00:00") -> Message:
        schema = self.schemas[f"pathways.{context}.{name}"]
        event_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        command_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=5))
        body = {
            "specversion": "1.0", "id": event_id, "source": f"/pathways/{context}", "type": schema.type, "subject": aggregate,
            "time": f"{day.isoformat()}T{at}Z", "datacontenttype": "application/json", "dataschema": schema.uri,
            "programme": programme, "organisation": sender, "actor": f"{sender}-staff", "correlationid": command_id,
            "causationid": command_id, "traceparent": None, "data": data,
        }
        raw = canonical_json(body)
        self.count += 1
        if self.checked[schema.type] < 3 or self.count % 5000 == 0:
            self._check(schema, raw, data)
        return event_subject(programme, owner, context, aggregate), raw, {"Nats-Msg-Id": event_id}

    def _check(self, schema: EventSchema, raw: bytes, data: dict[str, Any]) -> None:
        self.checked[schema.type] += 1
        event = CloudEvent.from_bytes(raw)
        if event.to_bytes() != raw:
            raise AssertionError(f"{schema.type}: the envelope is not canonical")
        if schema.model.model_validate(data).model_dump(mode="json") != data:
            raise AssertionError(f"{schema.type}: data is not what its schema would store: {data}")


class Programme:
    """One made-up programme, day by day: enrolments, sessions scheduled a week ahead and
    then delivered (or cancelled), wellbeing measured at enrolment and a few months on,
    paid involvement and expenses, weekly payment runs, monthly invoices, quarterly
    co-production assessments and "you said, we did" items."""

    def __init__(self, index: int, events: int, rng: random.Random, envelope: Envelopes) -> None:
        self.pid = f"rpt-p{index}"
        self.commissioner, self.evaluator = f"{self.pid}-commissioner", f"{self.pid}-evaluator"
        self.rng, self.env = rng, envelope
        per_day = events * OVERSHOOT / DAYS
        self.rate = {k: share * per_day for k, share in SHARE.items()}
        self.partners = []
        for j in range(1, PARTNERS + 1):
            org = f"{self.pid}-partner-{j:02d}"
            activities = tuple(rng.sample(ACTIVITIES, rng.choice((1, 2, 2, 3))))
            sites = {"ward": rng.choice(WARDS), "community": rng.choice(HUBS)}
            co_producers = {f"cp-{j:02d}-{k}": rng.choice((1250, 1400, 1500)) for k in range(CO_PRODUCERS)}
            self.partners.append(Partner(org, f"{self.pid}-k{j:02d}", activities, sites, co_producers))
        self.budget = sum(rng.randrange(150_000, 250_000) * 100 for _ in self.partners)
        self.counter = 0
        self.due: dict[int, list[Callable[[], Iterator[Message]]]] = defaultdict(list)
        self.payable: list[dict[str, Any]] = []

    def _id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def _k(self, rate: float) -> int:
        whole = int(rate)
        return whole + (self.rng.random() < rate - whole)

    def _at(self, offset: int) -> date:
        return EPOCH + timedelta(days=offset)

    def setup(self) -> Iterator[Message]:
        env, pid, day = self.env, self.pid, EPOCH - timedelta(days=14)
        orgs = [(self.commissioner, "commissioner"), (self.evaluator, "evaluator")]
        orgs += [(p.org, "delivery_partner") for p in self.partners]
        for i, (org, kind) in enumerate(orgs):
            data = {"organisation_id": org, "name": f"{org} (bench)", "kind": kind,
                    "charity_number": f"9{i:06d}" if kind == "delivery_partner" else None, "company_number": None}
            yield env("registry", "OrganisationRegistered", "_", org, org, "operator", day, data)
        starts, ends = EPOCH.isoformat(), self._at(DAYS).isoformat()
        yield env("registry", "ProgrammeLaunched", pid, self.commissioner, pid, self.commissioner, day,
                  {"programme_id": pid, "commissioner_id": self.commissioner, "name": f"Programme {pid} (bench)",
                   "aims": ["wellbeing", "recovery", "co-production"], "starts_on": starts, "ends_on": ends,
                   "budget_pence": self.budget})
        for p in self.partners:
            yield env("registry", "PartnerCommissioned", pid, self.commissioner, pid, self.commissioner, day,
                      {"programme_id": pid, "contract_id": p.contract, "partner_id": p.org,
                       "budget_pence": self.budget // PARTNERS, "activities": list(p.activities), "starts_on": starts,
                       "ends_on": ends})
        for p in self.partners:
            for cp, rate in p.co_producers.items():
                yield env("registry", "CoProducerRegistered", pid, p.org, cp, p.org, day,
                          {"programme_id": pid, "co_producer_id": cp, "engaged_by": p.org, "role": "peer facilitator",
                           "hourly_rate_pence": rate, "receives_benefits": self.rng.random() < 0.5})

    def day(self, d: int) -> Iterator[Message]:
        rng, today = self.rng, self._at(d)
        for _ in range(self._k(self.rate["enrol"])):
            yield from self._enrol(d, today)
        for _ in range(self._k(self.rate["transition"])):
            yield from self._transition(today)
        for _ in range(self._k(self.rate["withdraw"])):
            yield from self._withdraw(today)
        for _ in range(self._k(self.rate["schedule"])):
            yield from self._schedule(d, today)
        for task in self.due.pop(d, []):
            yield from task()
        for _ in range(self._k(self.rate["involvement"])):
            yield from self._involvement(today)
        for _ in range(self._k(self.rate["expense"])):
            yield from self._expense(d, today)
        if d % 7 == 4:
            yield from self._payment_run(today)
        if d % 28 == 27:
            for p in self.partners:
                yield from self._invoice(d, p, today)
        if d % 91 == 90:
            for p in self.partners:
                yield from self._quarter(p, today, rng)

    def _enrol(self, d: int, today: date) -> Iterator[Message]:
        rng, p = self.rng, self.rng.choice(self.partners)
        other = [q for q in self.partners if q is not p and q.pool]
        participant = self._id("u")
        if other and rng.random() < TWO_PARTNERS:  # already enrolled with another partner: counts once programme-wide
            candidate = rng.choice(rng.choice(other).pool[-200:])
            participant = participant if candidate in p.enrolled else candidate
        p.enrolled.add(participant)
        setting = "ward" if rng.random() < 0.4 else "community"
        consent = rng.random() >= CONSENT_LATER
        yield self.env("registry", "ParticipantEnrolled", self.pid, p.org, participant, p.org, today,
                       {"programme_id": self.pid, "participant_id": participant, "partner_id": p.org, "setting": setting,
                        "referral_source": rng.choice(REFERRALS[setting]), "consent_given": consent,
                        "enrolled_on": today.isoformat(), "personal": None, "referral_id": None},
                       at="09:30:00")
        if setting == "ward":
            p.on_ward.append(participant)
        if consent:
            yield from self._joined(d, p, participant, today)
        else:
            later = d + rng.randrange(3, 15)
            self.due[later].append(lambda: self._consent(later, p, participant))

    def _consent(self, d: int, p: Partner, participant: str) -> Iterator[Message]:
        today = self._at(d)
        yield self.env("registry", "ConsentRecorded", self.pid, p.org, participant, p.org, today,
                       {"programme_id": self.pid, "participant_id": participant, "partner_id": p.org,
                        "recorded_on": today.isoformat(), "purposes": list(SINGLE_FLAG), "information_version": None,
                        "recorded_by": f"{p.org}-staff", "capacity_note": None, "review_on": None})
        yield from self._joined(d, p, participant, today)

    def _joined(self, d: int, p: Partner, participant: str, today: date) -> Iterator[Message]:
        p.pool.append(participant)
        if self.rng.random() < BASELINE:
            instrument = "WEMWBS" if self.rng.random() < 0.6 else "SWEMWBS"
            yield self._outcome(p, participant, instrument, "baseline", today, lift=0)
            if self.rng.random() < FOLLOW_UP:
                later = d + self.rng.randrange(60, 150)
                self.due[later].append(
                    lambda: iter([self._outcome(p, participant, instrument, "follow_up", self._at(later), lift=1)]))

    def _outcome(self, p: Partner, participant: str, instrument: str, timepoint: str, on: date, lift: int) -> Message:
        from pathways_evaluation.domain.scoring import ITEMS, score

        answers = [min(5, max(1, round(self.rng.gauss(3 + 0.4 * lift, 0.9)))) for _ in range(ITEMS[instrument])]
        s = score(instrument, answers)
        return self.env("evaluation", "OutcomeMeasured", self.pid, p.org, participant, p.org, on,
                        {"programme_id": self.pid, "participant_id": participant, "partner_id": p.org,
                         "measurement_id": self._id("m"), "instrument": instrument, "timepoint": timepoint,
                         "measured_on": on.isoformat(), "answers": answers, "raw_score": s.raw,
                         "metric_score": str(s.metric)}, at="11:00:00")

    def _transition(self, today: date) -> Iterator[Message]:
        p = self.rng.choice(self.partners)
        if not p.on_ward:
            return
        participant = p.on_ward.pop(self.rng.randrange(len(p.on_ward)))
        yield self.env("registry", "ParticipantTransitioned", self.pid, p.org, participant, p.org, today,
                       {"programme_id": self.pid, "participant_id": participant, "partner_id": p.org, "from_setting": "ward",
                        "to_setting": "community", "transitioned_on": today.isoformat()})

    def _withdraw(self, today: date) -> Iterator[Message]:
        p = self.rng.choice(self.partners)
        if len(p.pool) < 20:
            return
        i = self.rng.randrange(len(p.pool))
        p.pool[i], p.pool[-1] = p.pool[-1], p.pool[i]
        participant = p.pool.pop()
        yield self.env("registry", "ParticipantWithdrawn", self.pid, p.org, participant, p.org, today,
                       {"programme_id": self.pid, "participant_id": participant, "partner_id": p.org, "reason": "moved away",
                        "withdrawn_on": today.isoformat(), "moved_on_to": None})

    def _schedule(self, d: int, today: date) -> Iterator[Message]:
        rng, p = self.rng, self.rng.choice(self.partners)
        session, activity = self._id("s"), rng.choice(p.activities)
        setting = rng.choice(("ward", "community"))
        on = d + 7
        capacity, minutes = rng.randrange(6, 16), rng.choice((60, 90, 120))
        starts = f"{self._at(on).isoformat()}T{rng.choice(('10:00', '13:30', '15:00'))}:00Z"
        yield self.env("sessions", "SessionScheduled", self.pid, p.org, session, p.org, today,
                       {"programme_id": self.pid, "session_id": session, "partner_id": p.org, "contract_id": p.contract,
                        "activity": activity, "site": p.sites[setting], "starts_at": starts, "duration_minutes": minutes,
                        "capacity": capacity, "co_facilitators": rng.sample(sorted(p.co_producers), rng.randrange(0, 3))})
        self.due[on].append(lambda: self._held(on, p, session, activity, p.sites[setting], capacity, minutes))

    def _held(self, d: int, p: Partner, session: str, activity: str, site: str, capacity: int, minutes: int) -> Iterator[Message]:
        rng, today = self.rng, self._at(d)
        if rng.random() < CANCELLED:
            yield self.env("sessions", "SessionCancelled", self.pid, p.org, session, p.org, today,
                           {"programme_id": self.pid, "session_id": session, "partner_id": p.org, "reason": "facilitator unwell"})
            return
        recent = p.pool[-300:]
        attendees = rng.sample(recent, min(len(recent), rng.randrange(capacity // 2, capacity + 1)))
        yield self.env("sessions", "SessionDelivered", self.pid, p.org, session, p.org, today,
                       {"programme_id": self.pid, "session_id": session, "partner_id": p.org, "activity": activity, "site": site,
                        "delivered_on": today.isoformat(), "attendees": attendees, "duration_minutes": minutes,
                        "absences": []}, at="17:00:00")

    def _involvement(self, today: date) -> Iterator[Message]:
        rng, p = self.rng, self.rng.choice(self.partners)
        cp = rng.choice(sorted(p.co_producers))
        minutes, rate, item = rng.choice((60, 90, 120, 180)), p.co_producers[cp], self._id("i")
        amount = minutes * rate // 60
        yield self.env("payments", "InvolvementRecorded", self.pid, p.org, p.contract, p.org, today,
                       {"programme_id": self.pid, "contract_id": p.contract, "partner_id": p.org, "involvement_id": item,
                        "co_producer_id": cp, "worked_on": today.isoformat(), "minutes": minutes, "hourly_rate_pence": rate,
                        "amount_pence": amount, "activity": rng.choice(p.activities)})
        self.payable.append(self._line("involvement", p, item, cp, today, amount))

    def _line(self, kind: str, p: Partner, item: str, cp: str, on: date, amount: int) -> dict[str, Any]:
        return {"item_id": f"{kind}/{p.contract}/{item}", "kind": kind, "co_producer_id": cp, "contract_id": p.contract,
                "partner_id": p.org, "on": on.isoformat(), "amount_pence": amount}

    def _expense(self, d: int, today: date) -> Iterator[Message]:
        rng, p = self.rng, self.rng.choice(self.partners)
        cp, claim, amount = rng.choice(sorted(p.co_producers)), self._id("e"), rng.randrange(300, 5000)
        yield self.env("payments", "ExpenseClaimed", self.pid, p.org, p.contract, p.org, today,
                       {"programme_id": self.pid, "contract_id": p.contract, "partner_id": p.org, "claim_id": claim,
                        "co_producer_id": cp, "category": rng.choice(("travel", "subsistence", "childcare", "materials")),
                        "amount_pence": amount, "incurred_on": today.isoformat(), "description": "bus fares to the session",
                        "claimant_organisation": p.org, "claimant_actor": f"{p.org}-staff"})
        decided = d + rng.randrange(1, 6)
        self.due[decided].append(lambda: self._decide(decided, p, claim, cp, amount, today))

    def _decide(self, d: int, p: Partner, claim: str, cp: str, amount: int, incurred: date) -> Iterator[Message]:
        today, c = self._at(d), self.commissioner
        base = {"programme_id": self.pid, "contract_id": p.contract, "partner_id": p.org, "claim_id": claim}
        if self.rng.random() < REJECTED:
            yield self.env("payments", "ExpenseRejected", self.pid, p.org, p.contract, c, today,
                           base | {"reason": "no receipt", "approver_organisation": c, "approver_actor": f"{c}-staff"})
            return
        yield self.env("payments", "ExpenseApproved", self.pid, p.org, p.contract, c, today,
                       base | {"amount_pence": amount, "approver_organisation": c, "approver_actor": f"{c}-staff"})
        self.payable.append(self._line("expense", p, claim, cp, incurred, amount))

    def _payment_run(self, today: date) -> Iterator[Message]:
        lines, self.payable = sorted(self.payable, key=lambda line: (line["on"], line["item_id"])), []
        for start in range(0, len(lines), LINES_PER_RUN):
            chunk = lines[start:start + LINES_PER_RUN]
            yield self.env("payments", "PaymentRunIssued", self.pid, self.commissioner, "payroll", self.commissioner, today,
                           {"programme_id": self.pid, "run_id": self._id("run"), "up_to": today.isoformat(), "lines": chunk,
                            "total_pence": sum(line["amount_pence"] for line in chunk), "paid_on": None})

    def _invoice(self, d: int, p: Partner, today: date) -> Iterator[Message]:
        invoice, amount = self._id("inv"), self.budget // PARTNERS // 30
        yield self.env("payments", "InvoiceSubmitted", self.pid, p.org, p.contract, p.org, today,
                       {"programme_id": self.pid, "contract_id": p.contract, "partner_id": p.org, "invoice_id": invoice,
                        "amount_pence": amount, "period_start": self._at(d - 27).isoformat(), "period_end": today.isoformat(),
                        "description": "four weeks of delivery", "staff_pay": []})
        paid = d + 10

        def pay() -> Iterator[Message]:
            yield self.env("payments", "InvoicePaid", self.pid, p.org, p.contract, self.commissioner, self._at(paid),
                           {"programme_id": self.pid, "contract_id": p.contract, "partner_id": p.org, "invoice_id": invoice,
                            "amount_pence": amount, "paid_on": self._at(paid).isoformat()})

        self.due[paid].append(pay)

    def _quarter(self, p: Partner, today: date, rng: random.Random) -> Iterator[Message]:
        from pathways_evaluation.domain.events import LEVEL_NAMES

        level = rng.choice((1, 2, 2, 3))
        tokenism = {item: rng.random() < 0.15 for item in TOKENISM}
        assessment = self._id("a")
        yield self.env("evaluation", "CoProductionAssessed", self.pid, self.evaluator, assessment, self.evaluator, today,
                       {"programme_id": self.pid, "assessment_id": assessment, "partner_id": p.org,
                        "assessor_id": self.evaluator, "assessed_on": today.isoformat(), "level": level,
                        "level_name": LEVEL_NAMES[level], "ladder_rung": rng.choice(LADDER), "tokenism": tokenism,
                        "tokenism_flags": sum(tokenism.values()), "evidence": "observed two sessions; interviewed co-producers"})
        for development, status in list(p.developments.items()):
            if status == "green":
                continue
            to = "amber" if status == "red" else "green"
            p.developments[development] = to
            yield self.env("evaluation", "DevelopmentStatusSet", self.pid, p.org, development, p.org, today,
                           {"programme_id": self.pid, "development_id": development, "proposed_by": p.org, "from_status": status,
                            "to_status": to, "we_did": "moved the session to the afternoon" if to == "green" else None})
        development = self._id("d")
        p.developments[development] = "red"
        yield self.env("evaluation", "DevelopmentProposed", self.pid, p.org, development, p.org, today,
                       {"programme_id": self.pid, "development_id": development, "proposed_by": p.org,
                        "you_said": "mornings are hard after medication", "raised_by": "participants",
                        "we_will": "try afternoon sessions", "status": "red"})


def synthetic_events(count: int, seed: int = 7) -> Iterator[Message]:
    """Exactly `count` events: each programme's setup, then day by day, programmes interleaved."""
    rng = random.Random(seed)
    envelope = Envelopes(rng)
    programmes = [Programme(i, int(count * w), rng, envelope) for i, w in enumerate(WEIGHTS, start=1)]
    produced = 0
    for programme in programmes:
        for message in programme.setup():
            yield message
            produced += 1
    for d in range(DAYS + 160):  # past DAYS only the follow-ups and deliveries already due
        for programme in programmes:
            for message in programme.day(d) if d < DAYS else programme_tail(programme, d):
                if produced >= count:
                    return
                yield message
                produced += 1
    raise AssertionError(f"the plan made only {produced} of {count} events; raise OVERSHOOT")


def programme_tail(programme: Programme, d: int) -> Iterator[Message]:
    for task in programme.due.pop(d, []):
        yield from task()


async def publish(conn: ConnectionInfo, count: int) -> Result:
    nc = await conn.connect("bench-reporting-load")
    try:
        await ensure_stream(nc)
        store = JetStreamEventStore(nc, timeout=60)
        batch: list[Message] = []
        sent, t, generating = 0, time.perf_counter(), 0.0
        events = synthetic_events(count)
        while True:
            g = time.perf_counter()
            batch = [m for _, m in zip(range(MAX_BATCH_MESSAGES), events, strict=False)]
            generating += time.perf_counter() - g
            if not batch:
                break
            await store.publish_batch(batch)
            sent += len(batch)
            if sent % 200_000 < MAX_BATCH_MESSAGES:
                console.print(f"  published {sent:,} of {count:,} ({sent / (time.perf_counter() - t):,.0f}/s)")
        elapsed = time.perf_counter() - t
        return Result(f"reporting: load synthetic events (atomic batches of {MAX_BATCH_MESSAGES})", sent, elapsed,
                      {"generating_s": generating})
    finally:
        await nc.close()


# --- replay yardstick and rebuild ---------------------------------------------------------


async def replay(conn: ConnectionInfo, decode: bool) -> Result:
    nc = await conn.connect("bench-reporting-replay")
    try:
        store = JetStreamEventStore(nc)
        last = await store.last_sequence()
        seen, t = 0, time.perf_counter()
        async for stored in store.read_all(1, last):
            if decode:
                try:
                    stored.event  # noqa: B018 - the cost of decoding the envelope is what is measured
                except ValueError:
                    pass
            seen += 1
        name = "raw: whole-stream read (reporting stream)" if not decode else "replay + CloudEvent decode of each event"
        return Result(name, seen, time.perf_counter() - t, {})
    finally:
        await nc.close()


async def rebuild_child(db: Path, out: Path, profile: Path | None) -> None:
    """Run in a child process: what `pathways rebuild reporting` does, timed per projection."""
    from pathways.core.readmodels import make_engine
    from pathways.core.rebuild import rebuild
    from pathways.runtime.connection import resolve_connection
    from pathways.runtime.logging import configure
    from pathways.runtime.stream_reader import read_in_child
    from pathways_reporting.readmodel import DIRECTORY, FACTS

    configure("bench-rebuild", "ERROR")  # the raw yardstick's payloads are not Pathways events: no warning per batch
    engine = make_engine(f"sqlite:///{db}")
    connection = resolve_connection()
    nc = await connection.connect("bench-reporting-rebuild")
    store = JetStreamEventStore(nc)
    record: dict[str, Any] = {"rss_start_mb": _rss_mb(), "projections": []}
    profiler = None
    if profile is not None:
        import cProfile

        async def inline(fn: Any, /, *args: Any, **kwargs: Any) -> Any:
            return fn(*args, **kwargs)  # cProfile sees only its own thread: apply inline while profiling

        asyncio.to_thread = inline
        profiler = cProfile.Profile()
        profiler.enable()
    for projection in (DIRECTORY.projection, FACTS):
        t = time.perf_counter()
        position = await rebuild(projection, engine, store, read=read_in_child(connection))  # as `pathways rebuild` reads
        record["projections"].append({"name": projection.name, "position": position, "seconds": time.perf_counter() - t,
                                      "peak_rss_mb": _rss_mb()})
    # The stream reader's own peak (a child of this process, pathways.runtime.stream_reader).
    record["reader_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if profiler is not None and profile is not None:
        profiler.disable()
        profiler.dump_stats(profile)
    await nc.close()
    engine.dispose()
    await asyncio.to_thread(out.write_text, json.dumps(record))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


async def rebuild_in_child(conn: ConnectionInfo, db: Path, home: Path) -> dict[str, Any]:
    out = home / "rebuild.json"
    env = os.environ | {"PATHWAYS_NATS_URL": conn.nats_url, "PATHWAYS_NATS_USER": conn.user or "",
                        "PATHWAYS_NATS_PASSWORD": conn.password or "", "PATHWAYS_HOME": str(home), "PATHWAYS_LOG_LEVEL": "ERROR"}
    args = [sys.executable, __file__, "--rebuild-into", str(db), "--out", str(out)]
    if PROFILE:
        args += ["--profile", str(home / "rebuild.prof")]
    child = await asyncio.create_subprocess_exec(*args, env=env)
    if await child.wait() != 0:
        raise RuntimeError(f"the rebuild child failed with exit code {child.returncode}")
    record: dict[str, Any] = json.loads(out.read_text())
    if PROFILE:
        import pstats

        stats = pstats.Stats(str(home / "rebuild.prof"))
        for key in ("tottime", "cumulative"):
            console.print(f"[bold]rebuild profile, top frames by {key}[/bold]")
            stats.sort_stats(key).print_stats(25)
    return record


# --- dashboard queries ----------------------------------------------------------------


def dashboard_queries(db: Path) -> list[Result]:
    """Each query as the dashboard makes it (a table page holds ROW_LIMIT rows), then the
    whole page through dashboard._page itself, short of rendering the template: as seen
    again (its charts' drawings kept, pathways_reporting.charts) and at first sight."""
    from types import SimpleNamespace

    from pathways.core.readmodels import make_engine
    from pathways.policy.access import Caller
    from pathways_reporting import charts, figures
    from pathways_reporting.api import open_scope
    from pathways_reporting.dashboard import ROW_LIMIT, _page
    from pathways_reporting.readmodel import ATTENDANCE, DIRECTORY, OUTCOMES, SESSIONS, SPEND
    from pathways_reporting.tables import TABLES
    from sqlalchemy import func, select

    programme = f"rpt-p{WEIGHTS.index(max(WEIGHTS)) + 1}"
    engine = make_engine(f"sqlite:///{db}")
    out = []
    with engine.connect() as conn:
        contracts = DIRECTORY.contracts(conn, programme)
        partner, activity = contracts[0].partner_id, contracts[0].activities[0]
        sizes = {t.name: int(conn.execute(select(func.count()).select_from(t)).scalar() or 0)
                 for t in (DIRECTORY.enrolments_table, SESSIONS, ATTENDANCE, SPEND, OUTCOMES)}
        console.print(f"  read model: {', '.join(f'{k} {v:,}' for k, v in sizes.items())}")
        by_partner, by_activity = figures.Filters(partner_id=partner), figures.Filters(activity=activity)
        quarter, none = figures.Filters(date(2025, 4, 1), date(2025, 6, 30)), figures.Filters()
        commissioner = open_scope(conn, Caller(f"{programme}-commissioner", "commissioner"), programme, none)
        partner_scope = open_scope(conn, Caller(partner, "partner"), programme, none)
        request: Any = SimpleNamespace(url=SimpleNamespace(query=""))
        queries: list[tuple[str, Callable[[], Any]]] = [
            ("summary, no filter", lambda: figures.programme_summary(conn, programme)),
            (f"summary, partner {partner}", lambda: figures.programme_summary(conn, programme, by_partner)),
            ("summary, one quarter", lambda: figures.programme_summary(conn, programme, quarter)),
            (f"summary, activity {activity}", lambda: figures.programme_summary(conn, programme, by_activity)),
        ]
        queries += [(f"table {key} (a page of {ROW_LIMIT})", lambda build=build: build(conn, programme, none, limit=ROW_LIMIT))
                    for key, build in TABLES.items()]
        def afresh(scope: Any) -> Any:
            charts.forget_drawings()
            return _page(request, scope)

        queries += [("dashboard page, commissioner view", lambda: _page(request, commissioner)),
                    ("dashboard page, commissioner view, charts drawn afresh", lambda: afresh(commissioner)),
                    (f"dashboard page, partner view ({partner})", lambda: _page(request, partner_scope))]
        # With filters too (DESIGN §5: every page under its target with and without them), charts drawn afresh:
        # a filter changes the figures each chart shows.
        as_commissioner, as_partner = Caller(f"{programme}-commissioner", "commissioner"), Caller(partner, "partner")
        for view, who, label, f in (("commissioner view", as_commissioner, "one quarter", quarter),
                                    ("commissioner view", as_commissioner, f"partner {partner}", by_partner),
                                    ("commissioner view", as_commissioner, f"activity {activity}", by_activity),
                                    (f"partner view ({partner})", as_partner, "one quarter", quarter)):
            queries.append((f"dashboard page, {view}, {label}, charts drawn afresh",
                            functools.partial(afresh, open_scope(conn, who, programme, f))))
        for name, query in queries:
            rows = _rows(query())
            times: list[float] = []
            started = time.perf_counter()
            while len(times) < QUERY_REPS and (len(times) < 5 or time.perf_counter() - started < QUERY_BUDGET_SECONDS):
                t = time.perf_counter()
                query()
                times.append(time.perf_counter() - t)
            out.append(Result(f"query: {name} ({programme})", len(times), sum(times), _percentiles(times) | {"rows": rows}))
            extra = out[-1].extra
            console.print(f"  {name}: p50 {extra['p50_ms']:.1f} ms, p95 {extra['p95_ms']:.1f} ms ({len(times)} runs)")
    engine.dispose()
    return out


def _rows(value: Any) -> int:
    return int(value.total) if hasattr(value, "total") else 1  # a table: the rows there are, of which a page is shown


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": 1000 * statistics.median(ordered), "p95_ms": 1000 * ordered[max(0, round(0.95 * len(ordered)) - 1)]}


# --- the whole benchmark ---------------------------------------------------------------


async def reporting_rebuild_and_queries(conn: ConnectionInfo, home: Path) -> list[Result]:
    count = n(EVENTS)
    console.print(f"[bold]reporting[/bold]: {count:,} synthetic events, rebuild, dashboard queries")
    out = [await publish(conn, count)]
    # The yardstick is read before and after the rebuild and the faster read kept, so
    # a passing disturbance (first read of the files, another job on the machine) does
    # not flatter the ratio.
    first = await replay(conn, decode=False)
    out.append(await replay(conn, decode=True))
    db = home / "reporting-rebuild.db"
    db.unlink(missing_ok=True)
    record = await rebuild_in_child(conn, db, home)
    second = await replay(conn, decode=False)
    raw = min(first, second, key=lambda r: r.seconds)
    out.insert(1, Result(raw.name, raw.events, raw.seconds, {"before_s": first.seconds, "after_s": second.seconds}))
    stream = raw.events
    total = 0.0
    for p in record["projections"]:
        total += p["seconds"]
        out.append(Result(f"reporting: rebuild {p['name']}", stream, p["seconds"], {"peak_rss_mb": p["peak_rss_mb"]}))
    out.append(Result("reporting: rebuild, both projections (pathways rebuild reporting)", stream, total,
                      {"peak_rss_mb": record["projections"][-1]["peak_rss_mb"],
                       "reader_peak_rss_mb": record["reader_peak_rss_mb"],
                       "rss_after_imports_mb": record["rss_start_mb"], "db_mb": db.stat().st_size / 2**20}))
    out += dashboard_queries(db)
    return out


def reporting_ratios(by: dict[str, Result]) -> dict[str, float]:
    replay_rate = by["raw: whole-stream read (reporting stream)"].rate
    both = by["reporting: rebuild, both projections (pathways rebuild reporting)"]
    queries = [r for name, r in by.items() if name.startswith("query: ") and "dashboard page" not in name]
    worst = max(queries, key=lambda r: r.extra["p95_ms"])
    ratios = {f"rebuild {p} / raw replay": by[f"reporting: rebuild {p}"].rate / replay_rate
              for p in ("reporting_directory", "reporting_facts")}
    ratios |= {
        "reporting rebuild (both projections) / raw replay (target >= 0.40)": both.rate / replay_rate,
        # Both processes' peaks added: at most what the rebuild held at once.
        "reporting rebuild peak RSS MB, with its stream reader (target < 500)": both.extra["peak_rss_mb"]
        + both.extra["reader_peak_rss_mb"],
        f"dashboard worst query p95 ms (target < 50): {worst.name}": worst.extra["p95_ms"],
    }
    ratios |= {f"{r.name.removeprefix('query: ')} p95 ms (all its queries)": r.extra["p95_ms"]
               for name, r in by.items() if name.startswith("query: dashboard page")}
    return ratios


async def main() -> None:
    with tempfile.TemporaryDirectory(prefix="pathways-bench-reporting-") as tmp:
        home = Path(tmp)
        with embedded_nats(home) as (conn, version):
            results = await reporting_rebuild_and_queries(conn, home)
    print_results(results)
    ratios = reporting_ratios({r.name: r for r in results})
    print_ratios(ratios)
    write_record(results, ratios, version, "-reporting")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--rebuild-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, help=argparse.SUPPRESS)
    cli = parser.parse_args()
    if cli.rebuild_into is not None:
        asyncio.run(rebuild_child(cli.rebuild_into, cli.out, cli.profile))
    else:
        console.print(f"scale {SCALE}")
        asyncio.run(main())

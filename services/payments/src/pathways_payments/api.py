"""The payments HTTP read API: claims, involvement, invoices, payment runs (with the
finance CSV) and earnings-limit warnings, published with OpenAPI. Every route is signed
in and scoped (pathways.policy.scope): a partner sees its own claims, involvement and invoices,
and the benefits warnings of the co-producers it engaged; payment runs are the
commissioner's (and auditors'); evaluators have no business here. Before approving a run
the commissioner (and each partner, for its co-producers) can see what it would pay and
which earnings limits it would pass (GET .../payment-runs/preview)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Response
from pathways.core.bounds import Day
from pathways.policy.http import db_session
from pathways.policy.scope import Scope, scoped
from sqlmodel import Session

from pathways_payments import ledger
from pathways_payments.domain.decide import over_limits
from pathways_payments.ledger import Claim, Invoice, Involvement, LimitWarning, PaymentRun, PaymentRunLine
from pathways_payments.views import DIRECTORY

router = APIRouter(prefix="/programmes/{programme_id}", tags=["payments"])
partners_rows = scoped(DIRECTORY, refused_roles=("evaluator",))
commissioners = scoped(DIRECTORY, refused_roles=("evaluator", "partner"))

@router.get("/claims", response_model=list[Claim])
def claims(s: Scope = Depends(partners_rows), session: Session = Depends(db_session)) -> Any:
    return ledger.rows(session.connection(), Claim, s.programme_id, partner_id=s.partner_id)

@router.get("/involvement", response_model=list[Involvement])
def involvement(s: Scope = Depends(partners_rows), session: Session = Depends(db_session)) -> Any:
    return ledger.rows(session.connection(), Involvement, s.programme_id, partner_id=s.partner_id)

@router.get("/invoices", response_model=list[Invoice])
def invoices(s: Scope = Depends(partners_rows), session: Session = Depends(db_session)) -> Any:
    return ledger.rows(session.connection(), Invoice, s.programme_id, partner_id=s.partner_id)

@router.get("/earnings-warnings", response_model=list[LimitWarning])
def warnings(s: Scope = Depends(partners_rows), session: Session = Depends(db_session)) -> Any:
    """Payment runs approved past a co-producer's earnings limit (a partner: its own co-producers')."""
    return ledger.rows(session.connection(), LimitWarning, s.programme_id, partner_id=s.partner_id)

@router.get("/payment-runs/preview")
def preview(up_to: Day | None = None, paid_on: Day | None = None, s: Scope = Depends(partners_rows),
            session: Session = Depends(db_session)) -> dict[str, Any]:
    """What a payment run up to `up_to`, paid on `paid_on` (each by default today), would
    pay, and each earnings limit it would take a co-producer past: the warning before approval."""
    conn = session.connection()
    up_to = up_to or datetime.now(UTC).date()
    every = ledger.payable(conn, s.programme_id, up_to)
    mine = [line for line in every if s.partner_id is None or line.partner_id == s.partner_id]
    day = paid_on or datetime.now(UTC).date()  # today as the run counts it
    payees = sorted({line.co_producer_id for line in every if line.kind == "involvement"})
    claimants = ledger.claimants(conn, s.programme_id, DIRECTORY.co_producers(conn, s.programme_id, payees))
    paid = ledger.paid_earnings(conn, payees, day)
    # The whole run decides a limit (a person paid on two contracts); a partner is shown
    # the breaches of the co-producers its own contract pays.
    mine_paid = {line.co_producer_id for line in mine if line.kind == "involvement"}
    found = [b for b in over_limits(every, day, claimants, paid, ledger.limits(conn)) if b.co_producer_id in mine_paid]
    return {"up_to": up_to.isoformat(), "paid_on": day.isoformat(), "lines": len(mine),
            "total_pence": sum(line.amount_pence for line in mine),
            "over_limits": [b.detail() | {"warning": b.explain()} for b in found]}

@router.get("/payment-runs", response_model=list[PaymentRun])
def runs(s: Scope = Depends(commissioners), session: Session = Depends(db_session)) -> Any:
    return ledger.rows(session.connection(), PaymentRun, s.programme_id)

@router.get("/payment-runs/{run_id}/lines", response_model=list[PaymentRunLine])
def run_lines(run_id: str, s: Scope = Depends(commissioners), session: Session = Depends(db_session)) -> Any:
    return _run_lines(session, s.programme_id, run_id)

@router.get("/payment-runs/{run_id}.csv", response_class=Response,
         responses={200: {"content": {"text/csv": {}}, "description": "One row per payee"}})
def run_csv(run_id: str, s: Scope = Depends(commissioners), session: Session = Depends(db_session)) -> Response:
    """The payment run as CSV for the finance team's bulk-payment import."""
    lines = _run_lines(session, s.programme_id, run_id)
    run = ledger.rows(session.connection(), PaymentRun, s.programme_id, run_id=run_id)
    body = ledger.payment_run_csv(lines, s.programme_id, run_id, run[0]["up_to"])
    return Response(body, media_type="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{s.programme_id}-{run_id}.csv"'})



def _run_lines(session: Session, programme_id: str, run_id: str) -> list[dict[str, Any]]:
    if not ledger.rows(session.connection(), PaymentRun, programme_id, run_id=run_id):
        raise HTTPException(404, f"There is no payment run '{run_id}' in '{programme_id}'.")
    return ledger.rows(session.connection(), PaymentRunLine, programme_id, run_id=run_id)

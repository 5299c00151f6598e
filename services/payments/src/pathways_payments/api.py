"""The payments HTTP read API: claims, involvement, invoices, payment runs (with the
finance CSV) and earnings-limit warnings, published with OpenAPI."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pathways.service import SessionDependency
from sqlmodel import Session

from pathways_payments import ledger
from pathways_payments.ledger import Claim, Invoice, Involvement, LimitWarning, PaymentRun, PaymentRunLine

PartnerFilter = Query(None, description="Only this partner's rows")


def router(sessions: SessionDependency) -> APIRouter:
    api = APIRouter(prefix="/programmes/{programme_id}", tags=["payments"])

    @api.get("/claims", response_model=list[Claim])
    def claims(programme_id: str, partner_id: str | None = PartnerFilter, session: Session = Depends(sessions)) -> Any:
        return ledger.rows(session.connection(), Claim, programme_id, partner_id=partner_id)

    @api.get("/involvement", response_model=list[Involvement])
    def involvement(programme_id: str, partner_id: str | None = PartnerFilter, session: Session = Depends(sessions)) -> Any:
        return ledger.rows(session.connection(), Involvement, programme_id, partner_id=partner_id)

    @api.get("/invoices", response_model=list[Invoice])
    def invoices(programme_id: str, partner_id: str | None = PartnerFilter, session: Session = Depends(sessions)) -> Any:
        return ledger.rows(session.connection(), Invoice, programme_id, partner_id=partner_id)

    @api.get("/earnings-warnings", response_model=list[LimitWarning])
    def warnings(programme_id: str, session: Session = Depends(sessions)) -> Any:
        return ledger.rows(session.connection(), LimitWarning, programme_id)

    @api.get("/payment-runs", response_model=list[PaymentRun])
    def runs(programme_id: str, session: Session = Depends(sessions)) -> Any:
        return ledger.rows(session.connection(), PaymentRun, programme_id)

    @api.get("/payment-runs/{run_id}/lines", response_model=list[PaymentRunLine])
    def run_lines(programme_id: str, run_id: str, session: Session = Depends(sessions)) -> Any:
        return _run_lines(session, programme_id, run_id)

    @api.get("/payment-runs/{run_id}.csv", response_class=Response,
             responses={200: {"content": {"text/csv": {}}, "description": "One row per payee"}})
    def run_csv(programme_id: str, run_id: str, session: Session = Depends(sessions)) -> Response:
        """The payment run as CSV for the finance team's bulk-payment import."""
        run = ledger.rows(session.connection(), PaymentRun, programme_id, run_id=run_id)
        body = ledger.payment_run_csv(_run_lines(session, programme_id, run_id), programme_id, run_id, run[0]["up_to"])
        return Response(body, media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="{programme_id}-{run_id}.csv"'})

    return api


def _run_lines(session: Session, programme_id: str, run_id: str) -> list[dict[str, Any]]:
    if not ledger.rows(session.connection(), PaymentRun, programme_id, run_id=run_id):
        raise HTTPException(404, f"There is no payment run '{run_id}' in '{programme_id}'.")
    return ledger.rows(session.connection(), PaymentRunLine, programme_id, run_id=run_id)

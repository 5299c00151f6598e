"""Targets as rules: the programme's commissioner sets (or revises, under the same id) what
the programme, or one contract, is to reach in a period."""

from __future__ import annotations

from pathways.core.commands import CommandContext, Decision
from pathways.core.replies import RejectionCode, reject

from pathways_registry.domain import commands as c
from pathways_registry.domain import events as e
from pathways_registry.domain import facts as f
from pathways_registry.domain.decide import check_commissioner
from pathways_registry.domain.state import Programme


def set_target(cmd: c.SetTarget, ctx: CommandContext, programme: Programme, facts: f.ProgrammeAnywhere) -> Decision:
    refusal = check_commissioner(facts.programme_anywhere, cmd.programme_id, ctx.organisation, "sets targets")
    if refusal is not None:
        return refusal
    starts, ends, partner = programme.starts_on, programme.ends_on, None
    if cmd.contract_id is not None:
        contract = next((k for k in programme.contracts if k.contract_id == cmd.contract_id), None)
        if contract is None:
            return reject(RejectionCode.RULE_VIOLATION, f"There is no contract '{cmd.contract_id}' in '{cmd.programme_id}'.",
                          field="contract_id")
        starts, ends, partner = contract.starts_on, contract.ends_on, contract.partner_id
    if cmd.period_start < starts or cmd.period_end > ends:
        return reject(RejectionCode.RULE_VIOLATION, f"The target's period must lie within the "
                      f"{'contract' if partner else 'programme'} ({starts} to {ends}).", field="period_start")
    return [e.TargetSet(partner_id=partner, **cmd.model_dump())]

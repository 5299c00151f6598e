"""`pathways demo`: a made-up programme, modelled on a real one, loaded by sending real
commands through the running services. `build_plan` says what to send (pure); `load`
sends it (the transport injected); `cli.demo_cli` is the command line."""

from __future__ import annotations

from pathways_demo.load import Failure, LoadReport, load, nats_send
from pathways_demo.plan import build_plan
from pathways_demo.steps import DemoPlan, Stage, Step

__all__ = ["DemoPlan", "Failure", "LoadReport", "Stage", "Step", "build_plan", "load", "nats_send"]

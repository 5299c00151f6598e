"""The operator's checkpoint key, where the audit service finds it, and what it must
never do with it: replace a key silently, or change the verifier key auditors trust."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path

from pathways.policy.ledger.signing import CheckpointSigner, load_key, load_or_create_key
from pathways.runtime.connection import pathways_home

DEFAULT_ORIGIN = "pathways/ledger"


class KeyProblem(RuntimeError):
    """The signing key is missing, unreadable, or not the one auditors were given."""


@dataclass(frozen=True)
class LedgerSettings:
    key_path: Path
    origin: str
    interval: float  # seconds between looks at the ledger

    @classmethod
    def from_env(cls) -> LedgerSettings:
        key = os.environ.get("PATHWAYS_LEDGER_KEY")
        return cls(
            key_path=Path(key) if key else pathways_home() / "audit" / "ledger.key",
            origin=os.environ.get("PATHWAYS_LEDGER_ORIGIN", DEFAULT_ORIGIN),
            interval=float(os.environ.get("PATHWAYS_LEDGER_CHECKPOINT_SECONDS", "10")),
        )

    @property
    def vkey_path(self) -> Path:
        return self.key_path.with_suffix(".vkey")

    def signer(self, *, create: bool) -> CheckpointSigner:
        """The signer; `create` makes a key when there is none (the embedded platform's
        first start). The verifier key is written beside it once and never replaced: if
        it names another key, that is an error for the operator, not a fact to overwrite."""
        try:
            key = load_or_create_key(self.key_path) if create else load_key(self.key_path)
        except (OSError, ValueError) as err:
            raise KeyProblem(f"the ledger's signing key {self.key_path} cannot be used: {err}") from None
        signer = CheckpointSigner(key, self.origin)
        try:
            existing = self.vkey_path.read_text().strip()
        except FileNotFoundError:
            existing = None
        except OSError:  # a secret mounted read-only without its public half
            return signer
        if existing is None:
            try:
                self.vkey_path.write_text(str(signer.vkey) + "\n")
            except OSError:
                pass
        elif existing != str(signer.vkey):
            raise KeyProblem(f"{self.vkey_path} names another key ({existing}) than {self.key_path} "
                             f"({signer.vkey}); auditors trust the former. Restore the key, or publish the new "
                             "verifier key to auditors and remove the old file deliberately.")
        return signer


@functools.lru_cache(maxsize=4)
def _signer(settings: LedgerSettings, create: bool) -> CheckpointSigner:
    return settings.signer(create=create)


def ledger_signer(*, create: bool = False) -> CheckpointSigner:
    """The signer of this instance's settings (loaded once)."""
    return _signer(LedgerSettings.from_env(), create)

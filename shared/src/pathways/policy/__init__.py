"""Platform policy: who a caller is and what they may do (access, roles, scope), the
programme directory every service keeps, accountability (the audit trail and its ledger)
and personal data (sealing and erasure). It builds on the core and the NATS adapter."""

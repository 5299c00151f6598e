"""The payments service's copy of the programme directory (from registry events)."""

from __future__ import annotations

from pathways.policy.directory import Directory

DIRECTORY = Directory("payments")

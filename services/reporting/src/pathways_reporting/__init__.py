"""Pathways reporting service: cross-context read models and the figures people read."""

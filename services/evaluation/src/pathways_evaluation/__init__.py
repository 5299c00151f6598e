"""Pathways evaluation service."""

"""Pathways sessions service."""

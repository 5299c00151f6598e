"""Pathways payments service."""

"""The `pathways` command line."""

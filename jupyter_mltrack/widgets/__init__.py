"""Notebook widgets: run comparison, run details and the registry panel."""

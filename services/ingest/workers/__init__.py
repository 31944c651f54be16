"""Periodic jobs of the ingest service, each started by main.py."""

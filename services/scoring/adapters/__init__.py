"""Scoring's I/O that is not its own SQL."""

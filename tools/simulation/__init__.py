"""Synthetic traffic with a known conversion propensity, and where to send it."""

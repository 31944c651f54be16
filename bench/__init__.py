"""Benchmarks (`make bench`): each figure is a median of several runs beside a baseline."""

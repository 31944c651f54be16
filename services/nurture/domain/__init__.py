"""The nurture service's rules: pure Python, no I/O (docs/architecture.md)."""

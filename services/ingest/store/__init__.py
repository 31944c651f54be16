"""SQL of the ingest service: tables, and reads and writes that take a session (or unit of
work) and never commit."""

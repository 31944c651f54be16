"""I/O of the ingest service that is not its own SQL: publishing to Kafka."""

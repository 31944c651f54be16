"""LeadFlow ingest service: takes tracking events over HTTP and publishes them to Kafka."""

"""LeadFlow's own library: events, Kafka bus, database, settings and web plumbing."""

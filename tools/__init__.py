"""Tools around LeadFlow, not part of any service: the demo, the traffic simulator, a local mailbox."""

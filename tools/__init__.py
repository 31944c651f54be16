"""Around LeadFlow, not part of any service: the demo, the traffic simulator, a mailbox."""

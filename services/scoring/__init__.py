"""LeadFlow scoring service: keeps lead profiles, scores them and emits lifecycle transitions."""

"""LeadFlow nurture service: runs nurture sequences and sends their emails."""

"""LeadFlow reporting service: aggregates funnel metrics for BI tools."""

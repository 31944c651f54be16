"""The web console: a thin server-rendered UI over the other services' APIs."""

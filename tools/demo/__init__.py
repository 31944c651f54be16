"""The demo `make run` sets up and `make demo` feeds: a workspace with an example nurture
sequence, a small web site with the tracker embedded, and simulated traffic."""

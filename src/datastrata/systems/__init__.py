"""Reference systems: one per strategy, each a domain, a service, a router, a CLI and a tour step."""

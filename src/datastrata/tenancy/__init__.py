"""Multi-tenancy: the tenant catalogue, its tiers and isolation models, moves between them, export and erasure."""

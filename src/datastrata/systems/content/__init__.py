"""The studio content platform: studios as tenants, items through their lifecycle, placement, grants, cost."""

"""HTTP API: the app factory mounting each system's router; errors as application/problem+json."""

from datastrata.api.app import create_app

__all__ = ["create_app"]

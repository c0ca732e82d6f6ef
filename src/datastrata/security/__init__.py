"""Security: API keys (stored as hashes), the principal they give, roles, and per-key rate limits."""

from datastrata.security.keys import ROLES, ApiKey, KeyStore, Principal

__all__ = ["ROLES", "ApiKey", "KeyStore", "Principal"]

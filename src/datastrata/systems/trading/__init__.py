"""The trading system: orders written in New York (sharded by user), read locally in Singapore."""

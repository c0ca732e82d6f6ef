"""Investment portfolio rebuilt from trade events (the source article's TradingEvents): event sourcing."""

"""Investment portfolio rebuilt from trade events (the seed's TradingEvents): event sourcing."""

"""Database per service and sagas: services that own their data, and sagas across them."""

"""The write side: commands run in one transaction with their events, and the idempotency rule they share."""

"""The article's worked examples as requirement specs (package data for the tour)."""

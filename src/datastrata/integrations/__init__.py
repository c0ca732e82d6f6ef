"""Adapters that let other libraries keep their data in datastrata's stores."""

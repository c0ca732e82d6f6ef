"""Tests for the graph strategy (LadybugDB + rustworkx)."""

"""Example graphs as JSON files, read by `datastrata.graph.examples`."""

"""Tiering: hot / warm / cold / frozen placement by age and lifecycle stage, audited moves, and what it costs."""

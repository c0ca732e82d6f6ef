"""datastrata: data-architecture strategies as tested, measured building blocks on real stores."""

__version__ = "0.1.0"

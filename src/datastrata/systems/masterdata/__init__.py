"""Master data with time travel: customers, products and suppliers, and the downstream systems that copy them."""

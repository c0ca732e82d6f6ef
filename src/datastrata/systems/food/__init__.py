"""Food delivery: orders in SQL, recommendations from a graph projected from the order events."""

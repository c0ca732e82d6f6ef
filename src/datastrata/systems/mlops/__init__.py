"""The ML pipeline (the article's AI/ML data tiering): feature store, model registry, inference capture."""

"""Runnable models: the catalog that maps zoo rows to specs, and one module per model family."""

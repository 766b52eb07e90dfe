"""Safeguarding health-alert pipelines: the core package (plain Python, no Prefect imports)."""

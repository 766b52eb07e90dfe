"""Prefect tasks: thin wrappers over safeguard's use cases, ids in and counts out."""

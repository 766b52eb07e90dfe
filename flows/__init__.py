"""Prefect flows: thin orchestration of the tasks."""

"""The register: the system of record (SQLAlchemy 2; SQLite by default, PostgreSQL in production)."""

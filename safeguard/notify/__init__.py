"""Outgoing email: templates, composition, and the outbox that makes sending exactly-once."""

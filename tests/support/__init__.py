"""Reusable test fixtures that start real services on loopback: PostgreSQL, MLflow, git."""

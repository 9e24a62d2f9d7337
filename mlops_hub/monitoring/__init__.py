"""Monitoring pieces that run outside the hub: the per-node server exporter (docs/operations.md)."""

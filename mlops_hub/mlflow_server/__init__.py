"""Runs inside the MLflow server (images/mlflow): who is calling, taken from the edge's headers.

Imports nothing of mlops_hub but `mlops_hub.names`, so the MLflow image carries only
`mlops_hub/__init__.py`, `mlops_hub/names.py` and this package (docs/mlflow-auth.md).
"""

"""Models to production: a registered MLflow model version served as the Swarm service `model-<name>`.

`mlflow_source` reads the version from MLflow as the releasing user and records the release on it; the engine
builds the serving image and deploys it through swarm/model_service.py, under policy/model_release.py's rules.
"""

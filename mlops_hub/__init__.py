"""mlops-hub: JupyterHub on Docker Swarm for ML teams."""

__version__ = "0.1.0"

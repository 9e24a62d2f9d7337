"""Code that runs inside Airflow's containers: the DAG factory and the auth manager (docs/scheduling.md).

Imports only mlops_hub.names, this package, Airflow, docker and the standard library: the Airflow image
carries just these files.
"""

"""`python -m mlops_hub.release.fetch_model MODELS_URI DEST`: download a model's files from MLflow and print where.

Run by mlflow_source.download in a child process whose environment names the releasing user (MLflow downloads
on threads of its own, which the hub's per-release context does not reach)."""

from __future__ import annotations

import sys


def main(argv: list[str]) -> int:
    import mlflow.artifacts

    uri, dest = argv
    print(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=dest))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

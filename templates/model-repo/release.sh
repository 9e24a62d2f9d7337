#!/bin/sh
# The one script a model repository's CI runs (Jenkinsfile and .gitlab-ci.yml beside it only call it): the
# project's tests, then the release of a registered model version through the platform's hub (docs/models.md).
#
#   MLOPS_MODEL        NAME@ALIAS or NAME/VERSION to release (required), e.g. churn@champion
#   MLOPS_HUB_URL      the platform's address, e.g. https://mlops.example.com
#   MLOPS_HUB_TOKEN    a hub token of the releasing user: a masked CI secret, never in the repository
#   MLOPS_HUB_CA_CERT  the platform's CA certificate, when its certificate is the platform's own CA's
#   MLOPS_REPLICAS, MLOPS_CPU, MLOPS_MEM   optional sizes (within the user's role)
#   MLOPS_TEST_COMMAND the project's tests (default: python -m pytest -q when a tests/ folder exists)
#   MLOPS_HUB_CLI      the mlops-hub command (default: mlops-hub on PATH: the platform's package, from your index)
set -eu
: "${MLOPS_MODEL:?set MLOPS_MODEL to NAME@ALIAS or NAME/VERSION}"
: "${MLOPS_HUB_TOKEN:?set MLOPS_HUB_TOKEN (a masked CI secret) to a hub token of the releasing user}"

tests="${MLOPS_TEST_COMMAND:-}"
if [ -z "$tests" ] && [ -d tests ]; then
  tests="python -m pytest -q"
fi
if [ -n "$tests" ]; then
  echo "[release] running the tests: $tests"
  sh -c "$tests"
else
  echo "[release] no tests to run (no tests/ folder and no MLOPS_TEST_COMMAND)"
fi

set -- model release "$MLOPS_MODEL"
[ -n "${MLOPS_REPLICAS:-}" ] && set -- "$@" --replicas "$MLOPS_REPLICAS"
[ -n "${MLOPS_CPU:-}" ] && set -- "$@" --cpu "$MLOPS_CPU"
[ -n "${MLOPS_MEM:-}" ] && set -- "$@" --mem "$MLOPS_MEM"
echo "[release] releasing $MLOPS_MODEL"
exec "${MLOPS_HUB_CLI:-mlops-hub}" "$@"

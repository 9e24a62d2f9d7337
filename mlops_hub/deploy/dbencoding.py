"""The stack's PostgreSQL cluster must be UTF8: detect an older SQL_ASCII one, and migrate it.

Clusters created before the db image asked for UTF8 got SQL_ASCII (initdb without a locale):
psycopg2 then sends text as ASCII and every non-ASCII name (a user `иван`, an MLflow experiment
"Отток клиентов") fails. `up` refuses such a volume; `mlops-hub db migrate-utf8` dumps every role
and database into a new UTF8 cluster, after copying the old volume to a kept backup.
"""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path

from .images import BASE_IMAGE, BASE_RECIPE, RECIPES, build_image, ensure_base_image, stage_ca_bundle
from .shell import DeployError, run, say

DATA_DIR = "/var/lib/postgresql/data"
OLD_DIR = "/var/lib/postgresql/old"
PSQL = "/usr/lib/postgresql/15/bin/psql"
ENCODING_QUERY = "select datname || '=' || pg_encoding_to_char(encoding) from pg_database order by 1"
# the services that use the database cluster (or are it): stopped while it is migrated
DB_SERVICES = ("hub", "mlflow", "airflow-api-server", "airflow-scheduler", "airflow-dag-processor",
               "airflow-triggerer", "db")


class EncodingRefused(DeployError):
    """The stack's database cluster is not UTF8; `up` stops before deploying (exit 2)."""

    exit_code = 2


def db_volume(stack: str) -> str:
    """The name `docker stack deploy` gives the stack's `db-data` volume."""
    return f"{stack}_db-data"


def migrate_command(stack: str) -> str:
    return f"mlops-hub db migrate-utf8 --stack {stack}"


def volume_labels(volume: str) -> dict[str, str] | None:
    """The volume's labels, or None when there is no such volume."""
    try:
        out = run(["docker", "volume", "inspect", "--format", "{{json .Labels}}", volume], quiet=True)
    except DeployError as e:
        if "no such volume" in str(e).lower():
            return None
        raise
    return json.loads(out) or {}


def containers_using(volume: str, running_only: bool) -> list[str]:
    cmd = ["docker", "ps", "-q", "--filter", f"volume={volume}"]
    if not running_only:
        cmd.insert(2, "-a")
    return run(cmd, quiet=True).split()


def parse_encodings(output: str) -> dict[str, str]:
    """`name=ENCODING` lines (ENCODING_QUERY) as a mapping."""
    pairs = (line.strip().rpartition("=") for line in output.splitlines() if "=" in line)
    return {name: encoding for name, _, encoding in pairs}


def cluster_encodings(volume: str, image: str) -> dict[str, str]:
    """Each database's encoding in the cluster on `volume` ({} when there is no cluster yet).

    A running server on the volume is asked directly; otherwise a short-lived container of the
    db image starts one on a local socket (two servers on one data directory would corrupt it).
    """
    if volume_labels(volume) is None:
        return {}
    running = containers_using(volume, running_only=True)
    if running:
        out = run(["docker", "exec", running[0], PSQL, "-h", "/run/postgresql", "-U", "postgres",
                   "-d", "postgres", "-tAc", ENCODING_QUERY], quiet=True)
    else:
        out = run(["docker", "run", "--rm", "--network", "none", "-v", f"{volume}:{DATA_DIR}", image,
                   "mlops-hub-db-tool", "sql", DATA_DIR, ENCODING_QUERY], quiet=True)
    return parse_encodings(out)


def not_utf8(encodings: dict[str, str]) -> dict[str, str]:
    return {name: enc for name, enc in encodings.items() if enc != "UTF8"}


def refuse_unless_utf8(stack: str, image: str) -> None:
    """Raise EncodingRefused (naming the migration command) when the stack's cluster is not UTF8."""
    volume = db_volume(stack)
    wrong = not_utf8(cluster_encodings(volume, image))
    if wrong:
        found = ", ".join(f"{name} is {enc}" for name, enc in sorted(wrong.items()))
        raise EncodingRefused(
            f"the database cluster in volume {volume} is not UTF8 ({found}): non-ASCII names (users,"
            f" groups, MLflow experiments) would fail. Nothing was deployed. Migrate it first (it stops"
            f" the hub, MLflow, Airflow and the database while it runs and keeps a backup of the volume):\n"
            f"    {migrate_command(stack)}")


def _scale_to_zero(stack: str, volume: str, timeout: float = 120) -> None:
    """Stop the stack's database and its clients; wait until no container runs on the volume."""
    existing = set(run(["docker", "service", "ls", "--format", "{{.Name}}",
                        "--filter", f"label=com.docker.stack.namespace={stack}"], quiet=True).split())
    for service in (f"{stack}_{name}" for name in DB_SERVICES):
        if service in existing:
            say(f"stopping {service} (scaled to 0; `mlops-hub up` starts it again)")
            run(["docker", "service", "scale", "--detach", f"{service}=0"], quiet=True)
    deadline = time.monotonic() + timeout
    while containers_using(volume, running_only=True):
        if time.monotonic() > deadline:
            raise DeployError(f"containers still use volume {volume} after {timeout:.0f}s: stop them first")
        time.sleep(0.5)


def _copy_volume(image: str, source: str, target: str) -> None:
    """Copy every file, owner and mode of one volume into another (as root, no network)."""
    run(["docker", "run", "--rm", "--network", "none", "--user", "0:0", "-v", f"{source}:/from:ro",
         "-v", f"{target}:/to", "--entrypoint", "cp", image, "-a", "/from/.", "/to/"], quiet=True)


def _create_volume(name: str, labels: dict[str, str]) -> None:
    label_args = [arg for key, value in labels.items() for arg in ("--label", f"{key}={value}")]
    run(["docker", "volume", "create", *label_args, name], quiet=True)


def _remove_volume_and_its_stopped_containers(volume: str) -> None:
    # the db service's exited task containers still reference the volume: Docker refuses to remove it
    stopped = containers_using(volume, running_only=False)
    if stopped:
        run(["docker", "rm", *stopped], quiet=True)
    run(["docker", "volume", "rm", volume], quiet=True)


def build_db_image(repo: Path, ca_bundle: str | None) -> str:
    """The db image alone (it holds the migration tool), built only when its inputs changed."""
    ensure_base_image()
    stage_ca_bundle(repo, ca_bundle)
    return build_image(repo, RECIPES["postgres"], build_image(repo, BASE_RECIPE, BASE_IMAGE))


def migrate_utf8(stack: str, image: str) -> str | None:
    """Re-create the stack's cluster in UTF8 with every role, database and row; returns the backup
    volume's name (None when the cluster was UTF8 already). `image` is the new db image."""
    volume = db_volume(stack)
    labels = volume_labels(volume)
    if labels is None:
        raise DeployError(f"--stack: no volume {volume}: stack {stack} has no database to migrate")
    wrong = not_utf8(cluster_encodings(volume, image))
    if not wrong:
        say(f"the cluster in volume {volume} is UTF8 already: nothing to migrate")
        return None
    say(f"migrating the cluster in volume {volume} to UTF8 ({', '.join(f'{k} is {v}' for k, v in wrong.items())})")
    _scale_to_zero(stack, volume)

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    backup = f"{volume}-backup-{stamp}"
    say(f"copying volume {volume} to the backup volume {backup} (kept afterwards)")
    _create_volume(backup, {"mlops-hub.backup-of": volume})
    _copy_volume(image, volume, backup)

    staging = f"{volume}-utf8-new"
    if volume_labels(staging) is not None:
        run(["docker", "volume", "rm", staging], quiet=True)  # a failed earlier run's half-made cluster
    _create_volume(staging, {"mlops-hub.migration-of": volume})
    say(f"dumping every role and database from the backup into a new UTF8 cluster (volume {staging})")
    try:
        out = run(["docker", "run", "--rm", "--network", "none", "-v", f"{backup}:{OLD_DIR}",
                   "-v", f"{staging}:{DATA_DIR}", image, "mlops-hub-db-tool", "migrate-utf8", OLD_DIR, DATA_DIR],
                  quiet=True)
    except DeployError as e:
        run(["docker", "volume", "rm", staging], quiet=True)
        raise DeployError(f"the migration failed; volume {volume} is unchanged (backup: {backup}).\n{e}") from None
    for line in out.splitlines():
        if line.startswith("migrate: "):
            say(line.removeprefix("migrate: "))
    still_wrong = not_utf8(parse_encodings(out))
    if still_wrong:
        run(["docker", "volume", "rm", staging], quiet=True)
        raise DeployError(f"the new cluster is not UTF8 ({still_wrong}); volume {volume} is unchanged")

    say(f"replacing volume {volume} by the new cluster")
    try:
        _remove_volume_and_its_stopped_containers(volume)
        _create_volume(volume, labels)  # the stack's own labels: `docker stack deploy` adopts it again
        _copy_volume(image, staging, volume)
    except DeployError as e:
        raise DeployError(f"replacing volume {volume} failed; the old cluster is in volume {backup}"
                          f" and the new one in {staging}.\n{e}") from None
    run(["docker", "volume", "rm", staging], quiet=True)
    encodings = cluster_encodings(volume, image)
    if not encodings or not_utf8(encodings):
        raise DeployError(f"volume {volume} after the migration: {encodings}; the old cluster is in {backup}")
    say(f"done: every database in volume {volume} is UTF8. Start the platform with `mlops-hub up --stack {stack}`;"
        f" once it works, remove the backup: docker volume rm {backup}")
    return backup

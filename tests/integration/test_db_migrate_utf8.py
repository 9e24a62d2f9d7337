"""A stack volume holding a SQL_ASCII cluster (as the db image made before it asked for UTF8):
`mlops-hub up` refuses it before deploying, with the migration command, and
`mlops-hub db migrate-utf8` turns it into a UTF8 cluster with every role, database and row."""

from __future__ import annotations

import json
import subprocess

import pytest

from mlops_hub import cli
from mlops_hub.deploy.dbencoding import DATA_DIR, cluster_encodings, db_volume, migrate_command
from tests.support.ports import free_port

from .conftest import STACK

pytestmark = pytest.mark.swarm

MIG_STACK = f"{STACK}-mig"
ROWS = ["alice", "bob's notebook", "run-42"]
# what the db image did before: a cluster from a bare initdb in a minimal image (no locale)
OLD_CLUSTER = r"""
set -eu
BIN=/usr/lib/postgresql/15/bin
DATA=/var/lib/postgresql/data
$BIN/initdb -D $DATA -U postgres -E SQL_ASCII --locale=C --auth-local=peer --auth-host=scram-sha-256 >/dev/null
$BIN/pg_ctl -D $DATA -o "-c listen_addresses='' -c unix_socket_directories=/tmp" -w start >/dev/null
$BIN/psql -h /tmp -U postgres -v ON_ERROR_STOP=1 -q <<'SQL'
CREATE ROLE jupyterhub LOGIN PASSWORD 'hub-secret';
CREATE DATABASE jupyterhub OWNER jupyterhub;
CREATE ROLE mlflow LOGIN PASSWORD 'mlflow-secret';
CREATE DATABASE mlflow OWNER mlflow;
SQL
$BIN/psql -h /tmp -U postgres -d jupyterhub -v ON_ERROR_STOP=1 -q <<'SQL'
SET ROLE jupyterhub;
CREATE TABLE users (id serial PRIMARY KEY, name text NOT NULL UNIQUE);
INSERT INTO users (name) VALUES ('alice'), ('bob''s notebook'), ('run-42');
SQL
$BIN/psql -h /tmp -U postgres -d mlflow -v ON_ERROR_STOP=1 -q <<'SQL'
SET ROLE mlflow;
CREATE TABLE experiments (experiment_id int, name text);
INSERT INTO experiments VALUES (0, 'Default');
SQL
$BIN/pg_ctl -D $DATA -w stop >/dev/null
"""


def _docker(*args: str, input: str | None = None) -> str:
    proc = subprocess.run(["docker", *args], input=input, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _sql(image: str, volume: str, query: str, database: str = "postgres") -> list[str]:
    out = _docker("run", "--rm", "--network", "none", "-v", f"{volume}:{DATA_DIR}", image,
                  "mlops-hub-db-tool", "sql", DATA_DIR, query, database)
    return out.splitlines()


def _volumes(label: str) -> list[str]:
    return _docker("volume", "ls", "-q", "--filter", f"label={label}").split()


@pytest.fixture
def old_volume(images):
    volume = db_volume(MIG_STACK)
    backups = f"mlops-hub.backup-of={volume}"
    for name in [volume, *_volumes(backups)]:  # leftovers of a killed run: this test's names only
        subprocess.run(["docker", "volume", "rm", "-f", name], capture_output=True)
    # the label `docker stack deploy` puts on a stack's volumes
    _docker("volume", "create", "--label", f"com.docker.stack.namespace={MIG_STACK}", volume)
    _docker("run", "--rm", "--network", "none", "-v", f"{volume}:{DATA_DIR}", "--entrypoint", "bash",
            images["postgres"], "-c", OLD_CLUSTER)
    yield volume
    for name in [volume, *_volumes(backups), f"{volume}-utf8-new"]:
        subprocess.run(["docker", "volume", "rm", "-f", name], capture_output=True)


def test_up_refuses_a_sql_ascii_cluster_and_the_migration_keeps_every_row(images, old_volume, tmp_path, capsys):
    image = images["postgres"]
    assert cluster_encodings(old_volume, image)["jupyterhub"] == "SQL_ASCII"
    password_hash = _sql(image, old_volume, "select rolpassword from pg_authid where rolname = 'jupyterhub'")

    code = cli.main(["up", "--stack", MIG_STACK, "--state-dir", str(tmp_path), "--https-port", str(free_port()),
                     "--http-port", str(free_port())])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"volume {old_volume} is not UTF8" in err and "jupyterhub is SQL_ASCII" in err
    assert f"\n    {migrate_command(MIG_STACK)}\n" in err
    # refused before deploying: no service, secret or network of that stack
    assert _docker("service", "ls", "-q", "--filter", f"label=com.docker.stack.namespace={MIG_STACK}") == ""
    assert _docker("secret", "ls", "-q", "--filter", f"name={MIG_STACK}_") == ""

    assert cli.main(migrate_command(MIG_STACK).split()[1:]) == 0
    err = capsys.readouterr().err
    for step in ("copying volume", "dump", "database jupyterhub (owner jupyterhub): dump and restore",
                 "database jupyterhub: 1 tables, same row counts", "done: every database"):
        assert step in err, err

    encodings = cluster_encodings(old_volume, image)
    assert set(encodings.values()) == {"UTF8"} and {"jupyterhub", "mlflow"} <= set(encodings), encodings
    assert _sql(image, old_volume, "select datctype from pg_database where datname = 'jupyterhub'") == ["C.UTF-8"]
    assert _sql(image, old_volume, "select name from users order by id", "jupyterhub") == ROWS
    assert _sql(image, old_volume, "select tableowner from pg_tables where tablename = 'users'",
                "jupyterhub") == ["jupyterhub"]
    assert _sql(image, old_volume, "select name from experiments", "mlflow") == ["Default"]
    # the roles kept their passwords (the same scram hash)
    assert _sql(image, old_volume, "select rolpassword from pg_authid where rolname = 'jupyterhub'") \
        == password_hash
    # text in any language is stored now
    _sql(image, old_volume, "insert into users (name) values ('иван')", "jupyterhub")
    assert _sql(image, old_volume, "select name from users where id = 4", "jupyterhub") == ["иван"]

    # the stack's own label is back on the volume, and the old cluster is kept in a backup
    labels = json.loads(_docker("volume", "inspect", "--format", "{{json .Labels}}", old_volume))
    assert labels == {"com.docker.stack.namespace": MIG_STACK}
    (backup,) = _volumes(f"mlops-hub.backup-of={old_volume}")
    assert cluster_encodings(backup, image)["jupyterhub"] == "SQL_ASCII"
    assert f"docker volume rm {backup}" in err
    assert _volumes(f"mlops-hub.migration-of={old_volume}") == []

    # a second run finds nothing to do
    assert cli.main(migrate_command(MIG_STACK).split()[1:]) == 0
    assert "UTF8 already: nothing to migrate" in capsys.readouterr().err

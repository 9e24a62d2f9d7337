"""The cluster-encoding check's pure parts: reading psql's answer, and what `up` refuses."""

from __future__ import annotations

import pytest

from mlops_hub import cli
from mlops_hub.deploy import dbencoding
from mlops_hub.deploy.dbencoding import EncodingRefused, migrate_command, not_utf8, parse_encodings


def test_parse_encodings_reads_name_equals_encoding_lines():
    out = "jupyterhub=SQL_ASCII\nmlflow=UTF8\npostgres=SQL_ASCII\ntemplate0=SQL_ASCII\n\n"
    assert parse_encodings(out) == {"jupyterhub": "SQL_ASCII", "mlflow": "UTF8", "postgres": "SQL_ASCII",
                                    "template0": "SQL_ASCII"}
    assert not_utf8(parse_encodings(out)) == {"jupyterhub": "SQL_ASCII", "postgres": "SQL_ASCII",
                                              "template0": "SQL_ASCII"}
    assert not_utf8({"jupyterhub": "UTF8", "template1": "UTF8"}) == {}


def test_refusal_names_the_databases_and_the_exact_migration_command(monkeypatch):
    monkeypatch.setattr(dbencoding, "cluster_encodings", lambda volume, image: {"jupyterhub": "SQL_ASCII",
                                                                                  "mlflow": "UTF8"})
    with pytest.raises(EncodingRefused) as e:
        dbencoding.refuse_unless_utf8("prod", "mlops-hub/postgres:x")
    assert "volume prod_db-data" in str(e.value) and "jupyterhub is SQL_ASCII" in str(e.value)
    assert str(e.value).endswith(f"\n    {migrate_command('prod')}")
    assert migrate_command("prod") == "mlops-hub db migrate-utf8 --stack prod"
    assert e.value.exit_code == 2


def test_a_utf8_cluster_or_none_at_all_passes(monkeypatch):
    for found in ({}, {"jupyterhub": "UTF8", "mlflow": "UTF8"}):
        monkeypatch.setattr(dbencoding, "cluster_encodings", lambda volume, image, found=found: found)
        dbencoding.refuse_unless_utf8("prod", "img")


def test_cli_turns_the_refusal_into_exit_2_and_knows_the_migration(monkeypatch, capsys):
    def refuse(args):
        raise EncodingRefused("the database cluster is not UTF8")

    monkeypatch.setattr(cli, "cmd_up", refuse)
    assert cli.main(["up", "--stack", "x"]) == 2
    assert "mlops-hub: the database cluster is not UTF8" in capsys.readouterr().err
    args = cli.parser().parse_args(["db", "migrate-utf8", "--stack", "s1"])
    assert args.func is cli.cmd_db_migrate_utf8 and args.stack == "s1"

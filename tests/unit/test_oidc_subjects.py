"""The username -> provider subject bindings in the hub's database (SQLite file, two sessions)."""

from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from mlops_hub.hub import oidc_subjects
from mlops_hub.hub.oidc_subjects import bind, bound_subject


def test_first_login_binds_and_later_ones_see_that_binding(tmp_path):
    engine = create_engine(f"sqlite:///{tmp_path}/hub.sqlite")
    with Session(engine) as db:
        assert bind(db, "eve", "https://idp", "a") == ("https://idp", "a")
        assert bind(db, "eve", "https://idp", "b") == ("https://idp", "a")
        assert bind(db, "bob", "https://idp", "b") == ("https://idp", "b")
    with Session(engine) as db:  # a new session (a restarted hub) reads the same rows
        assert bound_subject(db, "eve") == ("https://idp", "a")
        assert bound_subject(db, "nobody") is None


def test_a_concurrent_first_login_loses_to_the_row_already_written(tmp_path, monkeypatch):
    engine = create_engine(f"sqlite:///{tmp_path}/hub.sqlite")
    with Session(engine) as first, Session(engine) as second:
        bind(first, "bob", "https://idp", "b")  # creates the table
        real = oidc_subjects.bound_subject
        calls = []

        def not_seen_yet(db, username):
            # the racing login read before the other one's commit
            calls.append(username)
            return None if len(calls) == 1 else real(db, username)

        monkeypatch.setattr(oidc_subjects, "bound_subject", not_seen_yet)
        bind(first, "eve", "https://idp", "a")
        calls.clear()
        assert bind(second, "eve", "https://idp", "z") == ("https://idp", "a")

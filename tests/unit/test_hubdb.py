"""The hub waits for its database server, and does not wait for SQLite."""

from __future__ import annotations

import socket
import threading
import time

from mlops_hub.hub.dbwait import database_address, wait_for_database
from tests.support.ports import free_port


def test_addresses_of_database_urls():
    assert database_address("postgresql+psycopg2://jupyterhub@db:5432/jupyterhub") == ("db", 5432)
    assert database_address("postgresql://hub@db.example/hub") == ("db.example", 5432)
    assert database_address("postgresql://hub@10.0.0.5:6543/hub") == ("10.0.0.5", 6543)
    assert database_address("sqlite:////srv/jupyterhub/jupyterhub.sqlite") is None
    assert database_address("postgresql:///hub") is None  # a local socket


def test_sqlite_needs_no_wait():
    said = []
    assert wait_for_database("sqlite:///x.sqlite", timeout=0, log=said.append) is True and said == []


def test_waits_until_the_server_listens_and_says_so():
    port = free_port()
    said = []

    def listen_later():
        time.sleep(0.3)
        server.bind(("127.0.0.1", port))
        server.listen()

    server = socket.socket()
    starter = threading.Thread(target=listen_later)
    starter.start()
    try:
        assert wait_for_database(f"postgresql://hub@127.0.0.1:{port}/hub", timeout=30, interval=0.05, log=said.append)
    finally:
        starter.join()
        server.close()
    assert said[0].startswith(f"[mlops-hub] waiting for the database at 127.0.0.1:{port}")
    assert said[-1] == f"[mlops-hub] database at 127.0.0.1:{port} is accepting connections"


def test_gives_up_at_its_deadline_and_lets_jupyterhub_report_the_error():
    said = []
    port = free_port()  # nothing listens there; a deadline of 0 gives up after the first try
    assert wait_for_database(f"postgresql://hub@127.0.0.1:{port}/hub", timeout=0, log=said.append) is False
    assert "still unreachable after 0s" in said[-1] and "starting anyway" in said[-1]

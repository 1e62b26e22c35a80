"""Fixtures of the central service's tests: one throw-away PostgreSQL cluster per session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.service.pgcluster import ClusterUnavailable, PostgresCluster


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL server in a temporary folder on a free port of 127.0.0.1, stopped and
    deleted at the end; the tests skip, saying why, when the binaries are absent."""
    try:
        cluster = PostgresCluster()
    except ClusterUnavailable as exc:
        pytest.skip(str(exc))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture()
def pg_url(pg_cluster: PostgresCluster) -> Iterator[str]:
    """A fresh, empty database in the session's cluster (dropped after the test)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = pg_cluster.url
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield admin.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

"""The throw-away cluster itself: it starts, answers, restarts and keeps its data."""

from __future__ import annotations


def test_cluster_answers_and_survives_a_restart(pg_cluster, pg_url):
    import psycopg

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (x integer)")
        conn.execute("INSERT INTO t VALUES (42)")
    pg_cluster.stop()
    pg_cluster.start()
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT x FROM t").fetchone() == (42,)

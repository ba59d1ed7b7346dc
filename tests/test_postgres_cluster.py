"""The throwaway PostgreSQL server the `postgres` fixture starts (tests/postgres_cluster.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

pytestmark = pytest.mark.integration

ROWS = [
    (1, "Ann", Decimal("10.50"), date(2024, 1, 2), datetime(2024, 1, 2, 9, 30), True),
    (2, "Bo'b", Decimal("-0.01"), date(2024, 2, 29), datetime(2024, 2, 29, 23, 59, 59), False),
    (3, None, None, None, None, None),
]


def test_rows_round_trip_in_a_fresh_database(postgres):
    name = postgres.database("round_trip")
    with postgres.connect(name) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_user")
        assert cursor.fetchone() == (name, postgres.user)
        cursor.execute(
            "CREATE TABLE items (id integer, label varchar, amount numeric(18, 2), day date, at timestamp, ok boolean)"
        )
        cursor.executemany("INSERT INTO items VALUES (%s, %s, %s, %s, %s, %s)", ROWS)
        cursor.execute("SELECT * FROM items ORDER BY id")
        assert cursor.fetchall() == ROWS


def test_each_database_is_new(postgres):
    first, second = postgres.database("twice"), postgres.database("twice")
    assert first != second
    with postgres.connect(second) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        assert cursor.fetchone() == (0,)


def test_it_listens_on_the_loopback_address_only(postgres):
    with postgres.connect() as connection, connection.cursor() as cursor:
        cursor.execute("SHOW listen_addresses")
        assert cursor.fetchone() == ("127.0.0.1",)
        cursor.execute("SHOW port")
        assert cursor.fetchone() == (str(postgres.port),)
    assert postgres.host == "127.0.0.1"


def test_a_wrong_password_is_refused(postgres):
    import psycopg2

    with pytest.raises(psycopg2.OperationalError, match="password authentication failed"):
        psycopg2.connect(host=postgres.host, port=postgres.port, user=postgres.user, password="wrong", dbname="postgres")


def test_env_names_the_server_for_spec_references(postgres):
    env = postgres.env("CLINIC_PG_")
    assert env["PGHOST"] == env["ACME_PG_HOST"] == env["CLINIC_PG_HOST"] == "127.0.0.1"
    assert env["PGPORT"] == str(postgres.port)
    assert (env["ACME_PG_USER"], env["ACME_PG_PASSWORD"]) == (postgres.user, postgres.password)

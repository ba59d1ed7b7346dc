"""A throwaway PostgreSQL server for the tests: one cluster per pytest worker, gone at the end.

`start_cluster(folder)` runs `initdb` in `folder` (password authentication only,
scram-sha-256, for a generated user and password) and starts the server with
`pg_ctl`, listening on 127.0.0.1 alone, on a free port, with its socket inside
`folder`. The conftest's session fixture `postgres` yields it and stops it.

initdb and the server refuse to run as root, so as root both run as an
unprivileged user (`postgres` where Debian's package created it) who owns the
folder.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

USER = "meshgen"
# Where Debian and Ubuntu put the binaries (not on PATH): /usr/lib/postgresql/<major>/bin.
DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SERVER_USERS = ("postgres", "nobody")  # as root: the first that exists runs the server
START_ATTEMPTS = 3  # another process may take the free port before the server binds it
SETTINGS = "meshgen.conf"  # in the data folder: where the server listens, and how durably it writes


class Unavailable(Exception):
    """PostgreSQL cannot run here (no binaries, no unprivileged user): a reason to skip."""


class ToolFailed(RuntimeError):
    """initdb or pg_ctl failed; the message holds its output."""


@dataclass
class PostgresCluster:
    host: str
    port: int
    user: str
    password: str
    folder: Path  # the cluster's temp folder: data/, socket/, server.log
    pid: int  # the server's (postmaster's) process
    _databases: set[str] = field(default_factory=set, repr=False)

    def connect(self, database: str = "postgres"):
        """A psycopg2 connection to `database` as the cluster's user, over TCP."""
        import psycopg2

        return psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password, dbname=database)

    def database(self, name: str) -> str:
        """Create a fresh, empty database and return its name: `name`, or `name_2`, ... when taken."""
        from psycopg2 import sql

        fresh = next(n for n in _candidates(name) if n not in self._databases)
        connection = self.connect()
        try:
            connection.autocommit = True  # CREATE DATABASE cannot run inside a transaction
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(fresh)))
        finally:
            connection.close()
        self._databases.add(fresh)
        return fresh

    def env(self, *prefixes: str) -> dict[str, str]:
        """<prefix>HOST, PORT, USER and PASSWORD for libpq's own prefix (PG), the example spec's
        prod gateway (ACME_PG_) and each prefix given, for a spec's `{env: NAME}` references."""
        values = {"HOST": self.host, "PORT": str(self.port), "USER": self.user, "PASSWORD": self.password}
        return {prefix + key: value for prefix in ("PG", "ACME_PG_", *prefixes) for key, value in values.items()}

    def stop(self, timeout: float = 60) -> None:
        """Fast shutdown (SIGINT: end the sessions, then exit), immediate (SIGQUIT) if it takes too long.

        A signal rather than `pg_ctl stop`: as root the server's user reaches the folder through
        pytest's temp root, which another pytest session may have made private again meanwhile.
        """
        for signal_number, wait in ((signal.SIGINT, timeout), (signal.SIGQUIT, 10)):
            if not _signal(self.pid, signal_number) or self._exited(wait):
                return
        raise ToolFailed(f"PostgreSQL (pid {self.pid}) did not stop; its log:\n{_log(self.folder)}")

    def _exited(self, timeout: float) -> bool:
        """The server removes its pid file last on the way out (its process may linger as a zombie
        where nothing reaps orphans)."""
        deadline = time.monotonic() + timeout
        while (self.folder / "data" / "postmaster.pid").exists() and _signal(self.pid, 0):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True


def _candidates(name: str):
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", name):
        raise ValueError(f"database name {name!r} is not a lowercase identifier")
    yield name
    n = 2
    while True:
        yield f"{name}_{n}"
        n += 1


def start_cluster(folder: Path) -> PostgresCluster:
    """initdb a cluster in `folder` and start it; raise Unavailable if PostgreSQL is not installed."""
    binaries = find_binaries()
    _require_psycopg2()
    server_user = _server_user()
    password = secrets.token_urlsafe(24)
    (folder / "socket").mkdir(mode=0o700)
    if server_user:
        _hand_over(folder, server_user)
    _initdb(binaries / "initdb", folder, password, server_user)
    data = folder / "data"
    with (data / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(f"include '{SETTINGS}'\n")  # last, so its settings win
    for attempt in range(1, START_ATTEMPTS + 1):
        port = _free_port()
        _write_settings(data, port, folder / "socket")
        try:
            _run(server_user, binaries / "pg_ctl", "start", "-D", data, "-l", folder / "server.log", "-w", "-t", "60")
            pid = int((data / "postmaster.pid").read_text(encoding="utf-8").split()[0])
            return PostgresCluster("127.0.0.1", port, USER, password, folder, pid)
        except ToolFailed:
            # A server still starting after the timeout would hold the data folder on the next attempt.
            _run(server_user, binaries / "pg_ctl", "stop", "-D", data, "-m", "immediate", check=False)
    raise ToolFailed(f"PostgreSQL did not start in {START_ATTEMPTS} attempts; its log:\n{_log(folder)}")


def find_binaries() -> Path:
    """The folder holding initdb and pg_ctl: initdb's on PATH, else Debian's newest major version."""
    on_path = shutil.which("initdb")
    folders = [Path(on_path).resolve().parent] if on_path else []
    folders += sorted(DEBIAN_BINARIES.glob("*/bin"), key=_major_version, reverse=True)
    for candidate in folders:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    raise Unavailable("PostgreSQL is not installed (no initdb and pg_ctl on PATH or under /usr/lib/postgresql/*/bin)")


def _require_psycopg2() -> None:
    if importlib.util.find_spec("psycopg2") is None:
        raise Unavailable("psycopg2 is not installed (pip install psycopg2-binary)")


def _major_version(folder: Path) -> int:
    version = folder.parent.name
    return int(version) if version.isdigit() else -1


def _server_user() -> pwd.struct_passwd | None:
    """None when not root: the server runs as the current user."""
    if os.geteuid() != 0:
        return None
    for name in SERVER_USERS:
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise Unavailable(f"running as root and none of the users {', '.join(SERVER_USERS)} exists to run PostgreSQL")


def _hand_over(folder: Path, user: pwd.struct_passwd) -> None:
    for path in (folder, folder / "socket"):
        os.chown(path, user.pw_uid, user.pw_gid)


def _initdb(initdb: Path, folder: Path, password: str, server_user: pwd.struct_passwd | None) -> None:
    password_file = folder / "password"
    password_file.write_text(password + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    if server_user:
        os.chown(password_file, server_user.pw_uid, server_user.pw_gid)
    try:
        # Password authentication for every connection (the socket too), so tests use credentials as
        # a real warehouse needs them; C locale and UTF-8 so sorting and text are the same everywhere;
        # no fsync: the cluster is thrown away.
        _run(server_user, initdb, "-D", folder / "data", "-U", USER, f"--pwfile={password_file}",
             "--auth=scram-sha-256", "--encoding=UTF8", "--locale=C", "--no-sync")
    finally:
        password_file.unlink()


def _write_settings(data: Path, port: int, socket_folder: Path) -> None:
    settings = {
        "listen_addresses": "127.0.0.1",
        "port": port,
        "unix_socket_directories": str(socket_folder),
        # Durability is pointless for a throwaway cluster, and costs the tests time.
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
    }
    path = data / SETTINGS
    path.write_text("".join(f"{key} = {_setting(value)}\n" for key, value in settings.items()), encoding="utf-8")
    os.chown(path, data.stat().st_uid, data.stat().st_gid)  # the server's user reads it, whatever the umask


def _setting(value: str | int) -> str:
    return str(value) if isinstance(value, int) else "'" + value.replace("'", "''") + "'"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _run(server_user: pwd.struct_passwd | None, *command: str | Path, check: bool = True) -> None:
    """Run a PostgreSQL tool as the server's user; its output is only shown when it fails.

    The working folder is the temp folder: the server's user may not be allowed into the current one.
    """
    as_user = {"user": server_user.pw_uid, "group": server_user.pw_gid, "extra_groups": []} if server_user else {}
    args = [str(c) for c in command]
    process = subprocess.run(args, capture_output=True, text=True, cwd=tempfile.gettempdir(), **as_user)
    if check and process.returncode:
        raise ToolFailed(f"{' '.join(args)} exited with {process.returncode}:\n{process.stdout}{process.stderr}")


def _signal(pid: int, signal_number: int) -> bool:
    """False when the process is already gone."""
    try:
        os.kill(pid, signal_number)
    except ProcessLookupError:
        return False
    return True


def _log(folder: Path) -> str:
    log = folder / "server.log"
    return log.read_text(encoding="utf-8", errors="replace") if log.exists() else "(no log)"

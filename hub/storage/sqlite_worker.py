"""The SQLite engine's workers: a thread that owns one connection, and how each connection opens.

Why threads and two of them: hub/storage/sqlite.py's docstring and docs/storage.md.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from hub.storage.errors import ConstraintViolated, StorageError, StorageUnavailable
from hub.storage.files import make_private
from hub.storage.sqlite_schema import migrate

P = ParamSpec("P")
T = TypeVar("T")
Trace = Callable[[str], None]
DEFAULT_BUSY_TIMEOUT_S = 5.0
WRITER_CACHE_KIB = 65_536
WAL_SIZE_LIMIT_BYTES = 16 * 1024 * 1024
CLOSED = "the hub database is closed"


class Worker:
    """One thread that owns one connection; each call is one hop to it, in submission order."""

    def __init__(self, name: str, busy_timeout_s: float) -> None:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)
        self._busy_timeout_s = busy_timeout_s
        self._conn: sqlite3.Connection | None = None  # used on the worker thread only

    async def start(self, connect: Callable[[], sqlite3.Connection]) -> None:
        """Open the connection on the worker thread (its errors pass through unwrapped)."""
        self._conn = await asyncio.get_running_loop().run_in_executor(self._executor, connect)

    async def run(
        self,
        op: Callable[Concatenate[sqlite3.Connection, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        """Run ``op(connection, ...)`` on the worker thread; engine errors become StorageError."""
        call = functools.partial(self._call, op, *args, **kwargs)
        try:
            future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        except RuntimeError:  # the executor was shut down
            raise StorageUnavailable(CLOSED) from None
        return await future

    async def stop(self, before_close: Callable[[sqlite3.Connection], object] | None) -> None:
        """After everything submitted so far: ``before_close``, then close the connection."""
        try:
            await asyncio.get_running_loop().run_in_executor(
                self._executor, self._close, before_close
            )
        finally:
            self._executor.shutdown(wait=False)

    def _close(self, before_close: Callable[[sqlite3.Connection], object] | None) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        if before_close is not None:
            try:
                before_close(conn)
            except sqlite3.Error:
                pass  # closing anyway; SQLite replays the WAL on next open
        conn.close()

    def _call(
        self, op: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        conn = self._conn
        if conn is None:
            raise StorageUnavailable(CLOSED)
        try:
            return op(conn, *args, **kwargs)
        except StorageError:
            raise
        except sqlite3.IntegrityError as exc:
            raise ConstraintViolated(f"the hub database refused a row ({exc})") from exc
        except sqlite3.Error as exc:
            raise StorageUnavailable(self._describe(exc)) from exc
        finally:
            if conn.in_transaction:  # an error between BEGIN and COMMIT: nothing half-written
                try:
                    conn.execute("ROLLBACK")
                except sqlite3.Error:
                    pass

    def _describe(self, exc: sqlite3.Error) -> str:
        if getattr(exc, "sqlite_errorname", "") in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return (
                f"the hub database stayed locked by another connection for over "
                f"{self._busy_timeout_s:g} s ({exc}); try again, and look for a process "
                "holding it (a backup, an open sqlite3 shell)"
            )
        return f"the hub database failed ({exc}); check the disk and the file's permissions"


def connect_writer(path: Path, busy_timeout_s: float, trace: Trace | None) -> sqlite3.Connection:
    try:
        make_private(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves. The default check_same_thread
        # holds: this connection is used on its worker thread only.
        conn = sqlite3.connect(path, isolation_level=None)
    except (OSError, sqlite3.Error) as exc:
        raise StorageError(f"cannot open the hub database {path}: {exc}") from exc
    conn.set_trace_callback(trace)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        # 64 MiB (default 2 MiB): the consultations' random-id index (~33 MB per million rows)
        # stays in memory between a purge's batches (measured: half the purge's time)
        conn.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
        # a purge lets the WAL grow (hub/storage/sqlite_purge_ops.py); cut the file back to
        # this after the WAL restarts instead of keeping it that large on disk for good
        conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT_BYTES}")
        # what the purge deletes is overwritten, not left in free pages (not every SQLite
        # build has this on by default; measured: no slower here, docs/storage.md)
        conn.execute("PRAGMA secure_delete=ON")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise StorageError(f"{path} is not a usable hub database: {exc}") from exc
    except StorageError:
        conn.close()
        raise
    return conn


def connect_reader(path: Path, busy_timeout_s: float, trace: Trace | None) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None)
        conn.set_trace_callback(trace)
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_s * 1000)}")
        conn.execute("PRAGMA query_only=ON")  # this connection must never write
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the hub database {path} for reading: {exc}") from exc
    return conn

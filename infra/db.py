"""Database engines, sessions and schema migrations (Alembic)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mutualaid.errors import InputError

MIGRATIONS = Path(__file__).with_name("migrations")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for plain postgresql:// URLs (the driver this project installs)."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def redacted(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def make_engine(url: str, *, field: str = "MUTUALAID_DATABASE_URL") -> Engine:
    """An engine for the URL, checked by connecting once: an unreachable or malformed URL is
    a one-line InputError before anything is written."""
    url = normalise_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InputError(field, url, "is not a database URL") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.exists():
            folder.mkdir(parents=True, exist_ok=True)
    try:
        engine = create_engine(parsed, pool_pre_ping=True)
    except (NoSuchModuleError, ArgumentError) as exc:
        raise InputError(field, redacted(url), f"unsupported database: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as exc:
        engine.dispose()
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise InputError(field, redacted(url), f"cannot connect: {reason}") from None
    return engine


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    # Python 3.11's sqlite3 opens transactions on its own and breaks SAVEPOINTs (which the
    # idempotent inserts rely on); hand transaction control to SQLAlchemy instead.
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    # Foreign keys are off by default in SQLite; WAL lets readers run beside the writer.
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front, so two writers queue instead of one failing
    # half-way with "database is locked" on upgrade from a read. Reading sessions begin
    # DEFERRED: they never hold the write lock, so slow reads cannot block writers.
    if connection.get_execution_options().get("mutualaid_read_only"):
        connection.exec_driver_sql("BEGIN DEFERRED")
    else:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def unit_of_work(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back on any error.

    Repositories never commit; the caller that owns the unit of work does.
    """
    with session_factory(engine).begin() as session:
        yield session


@contextmanager
def reading(engine: Engine) -> Iterator[Session]:
    """A transaction that only reads: on SQLite it takes no write lock, so long look-ups
    (a jury's members, a period's cases) never hold up the writers. Nothing is committed."""
    with Session(engine.execution_options(mutualaid_read_only=True)) as session, session.begin():
        yield session
        session.rollback()


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to the given revision (idempotent)."""
    command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def open_database(url: str) -> Engine:
    """The configured database, refused unless its schema is current (migrating is
    `mutualaid db upgrade`'s job, never a side effect of starting a process)."""
    engine = make_engine(url)
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    revision = current_revision(engine)
    if revision != head:
        engine.dispose()
        raise InputError(
            "MUTUALAID_DATABASE_URL",
            redacted(url),
            f"schema is at {revision}, not {head}; run `mutualaid db upgrade`",
        )
    return engine

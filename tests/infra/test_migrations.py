"""The Alembic migrations create exactly the schema the models describe, on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from infra.db import MIGRATIONS, current_revision, make_engine, upgrade
from infra.models import Base
from tests.conftest import BACKENDS, database_url_for

EXPRESSION_INDEXES = {"ix_claims_pipeline_order", "ix_claims_state_order"}


def _compared(item: object, name: str | None, kind: str, reflected: bool, other: object) -> bool:
    return not (kind == "index" and name in EXPRESSION_INDEXES)


@pytest.mark.parametrize("backend", BACKENDS)
def test_migrations_build_the_models_schema_and_rerun_as_a_no_op(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    engine = make_engine(database_url_for(backend, request, tmp_path))
    assert current_revision(engine) is None
    upgrade(engine)
    upgrade(engine)
    # The latest migration, whichever issue added it last (0003: claims' juror qualifications).
    head = ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert head is not None and head >= "0003"
    assert current_revision(engine) == head
    with engine.connect() as connection:
        diff = compare_metadata(
            MigrationContext.configure(
                connection, opts={"compare_type": True, "include_object": _compared}
            ),
            Base.metadata,
        )
    assert diff == []
    # Alembic cannot compare an index with a descending column; that they exist is checked.
    indexes = {i["name"] for i in inspect(engine).get_indexes("claims")}
    assert indexes >= EXPRESSION_INDEXES
    unique = {tuple(c["column_names"]) for c in inspect(engine).get_unique_constraints("periods")}
    assert ("plan_id", "publicity_date") in unique
    engine.dispose()

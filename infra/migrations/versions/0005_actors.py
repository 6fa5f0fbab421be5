"""actors: staff known by login, with their role

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 03:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('actors',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('reviewer', 'investigator', 'operator')", name=op.f('ck_actors_known_role')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_actors'))
    )


def downgrade() -> None:

    op.drop_table('actors')

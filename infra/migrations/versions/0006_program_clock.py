"""program_clock: the deployment's one program clock

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 12:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('program_clock',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('seconds_per_day', sa.String(length=40), nullable=False),
    sa.Column('origin_real', sa.DateTime(timezone=True), nullable=False),
    sa.Column('origin_program', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('id = 1', name=op.f('ck_program_clock_one_clock')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_program_clock'))
    )


def downgrade() -> None:

    op.drop_table('program_clock')

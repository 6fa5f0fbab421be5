"""claims: juror qualifications

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('juror_qualifications',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('passed_on', sa.Date(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_juror_qualifications_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_juror_qualifications')),
    sa.UniqueConstraint('plan_id', 'member_id', name=op.f('uq_juror_qualifications_plan_id_member_id'))
    )
    with op.batch_alter_table('juror_qualifications', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_juror_qualifications_plan_id'), ['plan_id'], unique=False)


def downgrade() -> None:

    with op.batch_alter_table('juror_qualifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_juror_qualifications_plan_id'))

    op.drop_table('juror_qualifications')

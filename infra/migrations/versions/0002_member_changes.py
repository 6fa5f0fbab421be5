"""member changes

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 11:24:52.651767
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('member_changes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('effective_on', sa.Date(), nullable=False),
    sa.Column('change_key', sa.String(length=200), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('applied_snapshot', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_member_changes_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_member_changes')),
    sa.UniqueConstraint('change_key', name=op.f('uq_member_changes_change_key'))
    )
    with op.batch_alter_table('member_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_member_changes_applied_snapshot'), ['applied_snapshot'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_changes_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_member_changes_plan_id'), ['plan_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('member_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_member_changes_plan_id'))
        batch_op.drop_index(batch_op.f('ix_member_changes_member_id'))
        batch_op.drop_index(batch_op.f('ix_member_changes_applied_snapshot'))

    op.drop_table('member_changes')


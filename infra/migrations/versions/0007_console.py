"""console: claims keep their state's start and the overdue mark; console users

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:

    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state_since', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('overdue', sa.Boolean(), server_default=sa.false(), nullable=False))
    # A claim's state began with the last event that moved it; it is overdue when the
    # workflow noted an SLA passing after that event.
    op.execute(
        "UPDATE claims SET state_since = COALESCE((SELECT MAX(e.at) FROM claim_events e "
        "WHERE e.claim_id = claims.id AND e.kind NOT IN ('reported', 'materials_received', "
        "'overdue', 'investigation_commissioned', 'investigation_unassigned', "
        "'member_exit_queued')), reported_at)"
    )
    op.execute(
        "UPDATE claims SET overdue = EXISTS (SELECT 1 FROM claim_events e "
        "WHERE e.claim_id = claims.id AND e.kind = 'overdue' AND e.at >= claims.state_since)"
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.alter_column('state_since', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_claims_plan_state_overdue', ['plan_id', 'state', 'overdue'], unique=False)

    # Expression indexes (a descending column) outside the batch: SQLite's batch copy
    # cannot carry them.
    op.create_index('ix_claims_pipeline_order', 'claims', [sa.text('overdue DESC'), 'state_since', 'id', 'state'], unique=False)
    op.create_index('ix_claims_state_order', 'claims', ['state', sa.text('overdue DESC'), 'state_since', 'id'], unique=False)

    op.create_table('console_users',
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=True),
    sa.Column('member_id', sa.BigInteger(), nullable=True),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('added_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("(role = 'member') = (member_id IS NOT NULL AND plan_id IS NOT NULL)", name=op.f('ck_console_users_member_named')),
    sa.CheckConstraint("role IN ('member', 'reviewer', 'investigator', 'operator')", name=op.f('ck_console_users_known_role')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_console_users_plan_id_plans')),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_console_users')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_console_users_token_sha256'))
    )


def downgrade() -> None:

    op.drop_table('console_users')
    op.drop_index('ix_claims_state_order', table_name='claims')
    op.drop_index('ix_claims_pipeline_order', table_name='claims')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index('ix_claims_plan_state_overdue')
        batch_op.drop_column('overdue')
        batch_op.drop_column('state_since')

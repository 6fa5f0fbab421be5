"""publicity entries

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 11:59:26.838275
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('publicity_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('period_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('claim_id', sa.String(length=64), nullable=False),
    sa.Column('masked_member', sa.String(length=40), nullable=False),
    sa.Column('age', sa.Integer(), nullable=False),
    sa.Column('condition', sa.String(length=200), nullable=False),
    sa.Column('hospital', sa.String(length=400), nullable=False),
    sa.Column('benefit_fen', sa.BigInteger(), nullable=False),
    sa.Column('provisional_share_fen', sa.BigInteger(), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_publicity_entries_claim_id_claims')),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_publicity_entries_period_id_periods')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_publicity_entries')),
    sa.UniqueConstraint('period_id', 'claim_id', name=op.f('uq_publicity_entries_period_id_claim_id'))
    )
    with op.batch_alter_table('publicity_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_publicity_entries_period_id'), ['period_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('publicity_entries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_publicity_entries_period_id'))

    op.drop_table('publicity_entries')


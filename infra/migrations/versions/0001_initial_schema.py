"""initial schema

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 11:17:37.146551
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table('plans',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plans'))
    )
    op.create_table('periods',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('publicity_date', sa.Date(), nullable=False),
    sa.Column('sharing_date', sa.Date(), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('state', sa.String(length=40), nullable=False),
    sa.Column('members', sa.BigInteger(), nullable=True),
    sa.Column('aid_fen', sa.BigInteger(), nullable=True),
    sa.Column('fee_fen', sa.BigInteger(), nullable=True),
    sa.Column('surplus_in_fen', sa.BigInteger(), nullable=True),
    sa.Column('share_fen', sa.BigInteger(), nullable=True),
    sa.Column('collected_fen', sa.BigInteger(), nullable=True),
    sa.Column('unpaid_fen', sa.BigInteger(), nullable=True),
    sa.Column('subsidy_fen', sa.BigInteger(), nullable=True),
    sa.Column('surplus_out_fen', sa.BigInteger(), nullable=True),
    sa.Column('report', sa.JSON(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('members IS NULL OR members >= 0', name=op.f('ck_periods_members_not_negative')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_periods_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_periods')),
    sa.UniqueConstraint('plan_id', 'publicity_date', name=op.f('uq_periods_plan_id_publicity_date'))
    )
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_periods_plan_id'), ['plan_id'], unique=False)

    op.create_table('plan_rule_versions',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('effective_from', sa.Date(), nullable=False),
    sa.Column('content_sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('loaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_plan_rule_versions_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_plan_rule_versions')),
    sa.UniqueConstraint('plan_id', 'rules_version', name=op.f('uq_plan_rule_versions_plan_id_rules_version'))
    )
    with op.batch_alter_table('plan_rule_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_plan_rule_versions_plan_id'), ['plan_id'], unique=False)

    op.create_table('claims',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('plan_id', sa.String(length=64), nullable=False),
    sa.Column('rules_version', sa.String(length=64), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('condition', sa.String(length=200), nullable=False),
    sa.Column('diagnosis_date', sa.Date(), nullable=False),
    sa.Column('hospital', sa.String(length=400), nullable=False),
    sa.Column('state', sa.String(length=40), nullable=False),
    sa.Column('benefit_fen', sa.BigInteger(), nullable=True),
    sa.Column('period_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('benefit_fen IS NULL OR benefit_fen >= 0', name=op.f('ck_claims_benefit_not_negative')),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_claims_period_id_periods')),
    sa.ForeignKeyConstraint(['plan_id'], ['plans.id'], name=op.f('fk_claims_plan_id_plans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims')),
    sa.UniqueConstraint('plan_id', 'member_id', 'condition', 'diagnosis_date', name=op.f('uq_claims_plan_id_member_id_condition_diagnosis_date'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_member_id'), ['member_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_period_id'), ['period_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_state'), ['state'], unique=False)

    op.create_table('debit_runs',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('period_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('share_fen', sa.BigInteger(), nullable=False),
    sa.Column('members', sa.BigInteger(), nullable=False),
    sa.Column('input_snapshot', sa.String(length=400), nullable=False),
    sa.Column('frozen_plan', sa.JSON(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('planned_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('committed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('paid_fen', sa.BigInteger(), nullable=True),
    sa.Column('unpaid_fen', sa.BigInteger(), nullable=True),
    sa.Column('subsidy_fen', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_debit_runs_period_id_periods')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_debit_runs')),
    sa.UniqueConstraint('period_id', 'attempt', name=op.f('uq_debit_runs_period_id_attempt'))
    )
    with op.batch_alter_table('debit_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_debit_runs_period_id'), ['period_id'], unique=False)

    op.create_table('claim_events',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.String(length=64), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('event_key', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('state', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=120), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_claim_events_claim_id_claims')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_events')),
    sa.UniqueConstraint('claim_id', 'event_key', name=op.f('uq_claim_events_claim_id_event_key')),
    sa.UniqueConstraint('claim_id', 'seq', name=op.f('uq_claim_events_claim_id_seq'))
    )
    with op.batch_alter_table('claim_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_events_claim_id'), ['claim_id'], unique=False)

    op.create_table('jury_votes',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.String(length=64), nullable=False),
    sa.Column('round', sa.Integer(), nullable=False),
    sa.Column('juror_id', sa.BigInteger(), nullable=False),
    sa.Column('approve', sa.Boolean(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_jury_votes_claim_id_claims')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jury_votes')),
    sa.UniqueConstraint('claim_id', 'round', 'juror_id', name=op.f('uq_jury_votes_claim_id_round_juror_id'))
    )
    with op.batch_alter_table('jury_votes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jury_votes_claim_id'), ['claim_id'], unique=False)

    op.create_table('objections',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.String(length=64), nullable=False),
    sa.Column('period_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('objector_id', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_objections_claim_id_claims')),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_objections_period_id_periods')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_objections')),
    sa.UniqueConstraint('claim_id', 'period_id', 'objector_id', name=op.f('uq_objections_claim_id_period_id_objector_id'))
    )
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_objections_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_objections_period_id'), ['period_id'], unique=False)

    op.create_table('payouts',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('claim_id', sa.String(length=64), nullable=False),
    sa.Column('period_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('reference', sa.String(length=120), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_payouts_amount_positive')),
    sa.ForeignKeyConstraint(['claim_id'], ['claims.id'], name=op.f('fk_payouts_claim_id_claims')),
    sa.ForeignKeyConstraint(['period_id'], ['periods.id'], name=op.f('fk_payouts_period_id_periods')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payouts')),
    sa.UniqueConstraint('claim_id', name=op.f('uq_payouts_claim_id'))
    )
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payouts_period_id'), ['period_id'], unique=False)

    op.create_table('shard_commits',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('run_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('shard', sa.Integer(), nullable=False),
    sa.Column('rows', sa.BigInteger(), nullable=False),
    sa.Column('paid_fen', sa.BigInteger(), nullable=False),
    sa.Column('unpaid_fen', sa.BigInteger(), nullable=False),
    sa.Column('subsidy_fen', sa.BigInteger(), nullable=False),
    sa.Column('ledger_path', sa.String(length=400), nullable=False),
    sa.Column('ledger_sha256', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['debit_runs.id'], name=op.f('fk_shard_commits_run_id_debit_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_shard_commits')),
    sa.UniqueConstraint('run_id', 'shard', name=op.f('uq_shard_commits_run_id_shard'))
    )
    with op.batch_alter_table('shard_commits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_shard_commits_run_id'), ['run_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('shard_commits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_shard_commits_run_id'))

    op.drop_table('shard_commits')
    with op.batch_alter_table('payouts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payouts_period_id'))

    op.drop_table('payouts')
    with op.batch_alter_table('objections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_objections_period_id'))
        batch_op.drop_index(batch_op.f('ix_objections_claim_id'))

    op.drop_table('objections')
    with op.batch_alter_table('jury_votes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_jury_votes_claim_id'))

    op.drop_table('jury_votes')
    with op.batch_alter_table('claim_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_events_claim_id'))

    op.drop_table('claim_events')
    with op.batch_alter_table('debit_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_debit_runs_period_id'))

    op.drop_table('debit_runs')
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claims_state'))
        batch_op.drop_index(batch_op.f('ix_claims_plan_id'))
        batch_op.drop_index(batch_op.f('ix_claims_period_id'))
        batch_op.drop_index(batch_op.f('ix_claims_member_id'))

    op.drop_table('claims')
    with op.batch_alter_table('plan_rule_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_plan_rule_versions_plan_id'))

    op.drop_table('plan_rule_versions')
    with op.batch_alter_table('periods', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_periods_plan_id'))

    op.drop_table('periods')
    op.drop_table('plans')


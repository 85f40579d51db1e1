"""The first review schema: recordings, runs, products, visits and their lines, events, reviewers,
reviews, corrections and the audit log.

Times are naive UTC DATETIMEs (labeling.models.UTCDateTime). Written once, never edited: a change of the
models gets a new revision beside this one.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.Column('actor', sa.String(length=200), nullable=False),
    sa.Column('action', sa.String(length=50), nullable=False),
    sa.Column('entity', sa.String(length=30), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('correction_id', sa.Integer(), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_audit_log_visit_id'), ['visit_id'], unique=False)
    op.create_table('recordings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('store', sa.String(length=200), nullable=False),
    sa.Column('started_at', sa.String(length=40), nullable=False),
    sa.Column('duration_s', sa.Float(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recordings')),
    sa.UniqueConstraint('key', name=op.f('uq_recordings_key'))
    )
    op.create_table('reviewers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviewers')),
    sa.UniqueConstraint('name', name=op.f('uq_reviewers_name'))
    )
    op.create_table('engine_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=1000), nullable=False),
    sa.Column('engine_version', sa.String(length=50), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('ingested_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_engine_runs_recording_id_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_engine_runs')),
    sa.UniqueConstraint('path', name=op.f('uq_engine_runs_path'))
    )
    with op.batch_alter_table('engine_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engine_runs_recording_id'), ['recording_id'], unique=False)
    op.create_table('products',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('family', sa.String(length=200), nullable=False),
    sa.Column('image', sa.String(length=1000), nullable=True),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_products_recording_id_recordings'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_products')),
    sa.UniqueConstraint('recording_id', 'sku', name=op.f('uq_products_recording_id'))
    )
    op.create_table('visits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('recording_id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('account', sa.String(length=200), nullable=True),
    sa.Column('entered_at', sa.Float(), nullable=False),
    sa.Column('exited_at', sa.Float(), nullable=True),
    sa.Column('engine_status', sa.String(length=20), nullable=False),
    sa.Column('engine_confidence', sa.Float(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('tracks', sa.JSON(), nullable=False),
    sa.Column('final_status', sa.String(length=20), nullable=False),
    sa.Column('claimed_by', sa.Integer(), nullable=True),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['claimed_by'], ['reviewers.id'], name=op.f('fk_visits_claimed_by_reviewers')),
    sa.ForeignKeyConstraint(['recording_id'], ['recordings.id'], name=op.f('fk_visits_recording_id_recordings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['run_id'], ['engine_runs.id'], name=op.f('fk_visits_run_id_engine_runs')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_visits')),
    sa.UniqueConstraint('recording_id', 'key', name=op.f('uq_visits_recording_id'))
    )
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visits_final_status'), ['final_status'], unique=False)
        batch_op.create_index('ix_visits_queue', ['engine_status', 'final_status', 'entered_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_visits_run_id'), ['run_id'], unique=False)
    op.create_table('events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=100), nullable=False),
    sa.Column('visit_key', sa.String(length=100), nullable=True),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('sensor', sa.String(length=100), nullable=False),
    sa.Column('t0', sa.Float(), nullable=False),
    sa.Column('t1', sa.Float(), nullable=False),
    sa.Column('delta_g', sa.Float(), nullable=False),
    sa.Column('sd_g', sa.Float(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('bin', sa.String(length=100), nullable=True),
    sa.Column('sku', sa.String(length=100), nullable=True),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('track', sa.String(length=100), nullable=True),
    sa.Column('hand', sa.String(length=10), nullable=True),
    sa.Column('confidence', sa.Float(), nullable=False),
    sa.Column('shoppers', sa.JSON(), nullable=False),
    sa.Column('products', sa.JSON(), nullable=False),
    sa.Column('counts', sa.JSON(), nullable=False),
    sa.Column('hand_path', sa.JSON(), nullable=False),
    sa.Column('reasons', sa.JSON(), nullable=False),
    sa.Column('no_event', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['engine_runs.id'], name=op.f('fk_events_run_id_engine_runs'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_events_visit_id_visits')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_events')),
    sa.UniqueConstraint('run_id', 'key', name=op.f('uq_events_run_id'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index('ix_events_run_t0', ['run_id', 't0'], unique=False)
        batch_op.create_index(batch_op.f('ix_events_visit_id'), ['visit_id'], unique=False)
    op.create_table('receipt_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('sku', sa.String(length=100), nullable=False),
    sa.Column('qty', sa.Integer(), nullable=False),
    sa.Column('price_cents', sa.Integer(), nullable=False),
    sa.Column('confidence', sa.Float(), nullable=True),
    sa.Column('alternatives', sa.JSON(), nullable=False),
    sa.Column('event_keys', sa.JSON(), nullable=False),
    sa.Column('t', sa.Float(), nullable=True),
    sa.Column('origin', sa.String(length=20), nullable=False),
    sa.Column('deleted', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_receipt_lines_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_receipt_lines'))
    )
    with op.batch_alter_table('receipt_lines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_receipt_lines_visit_id'), ['visit_id'], unique=False)
    op.create_table('reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('outcome', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], name=op.f('fk_reviews_reviewer_id_reviewers')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_reviews_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_reviews'))
    )
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_reviews_visit_id'), ['visit_id'], unique=False)
    op.create_table('visit_reasons',
    sa.Column('visit_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.String(length=100), nullable=False),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_visit_reasons_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('visit_id', 'reason', name=op.f('pk_visit_reasons'))
    )
    with op.batch_alter_table('visit_reasons', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_visit_reasons_reason'), ['reason'], unique=False)
    op.create_table('corrections',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('visit_id', sa.Integer(), nullable=True),
    sa.Column('target_visit_id', sa.Integer(), nullable=True),
    sa.Column('review_id', sa.Integer(), nullable=True),
    sa.Column('reviewer_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('entity', sa.String(length=30), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=False),
    sa.Column('before', sa.JSON(), nullable=False),
    sa.Column('after', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('undone', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['review_id'], ['reviews.id'], name=op.f('fk_corrections_review_id_reviews')),
    sa.ForeignKeyConstraint(['reviewer_id'], ['reviewers.id'], name=op.f('fk_corrections_reviewer_id_reviewers')),
    sa.ForeignKeyConstraint(['target_visit_id'], ['visits.id'], name=op.f('fk_corrections_target_visit_id_visits')),
    sa.ForeignKeyConstraint(['visit_id'], ['visits.id'], name=op.f('fk_corrections_visit_id_visits'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_corrections'))
    )
    with op.batch_alter_table('corrections', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_corrections_visit_id'), ['visit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('corrections', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_corrections_visit_id'))
    op.drop_table('corrections')
    with op.batch_alter_table('visit_reasons', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visit_reasons_reason'))
    op.drop_table('visit_reasons')
    with op.batch_alter_table('reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_reviews_visit_id'))
    op.drop_table('reviews')
    with op.batch_alter_table('receipt_lines', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_receipt_lines_visit_id'))
    op.drop_table('receipt_lines')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_visit_id'))
        batch_op.drop_index('ix_events_run_t0')
    op.drop_table('events')
    with op.batch_alter_table('visits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_visits_run_id'))
        batch_op.drop_index('ix_visits_queue')
        batch_op.drop_index(batch_op.f('ix_visits_final_status'))
    op.drop_table('visits')
    op.drop_table('products')
    with op.batch_alter_table('engine_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engine_runs_recording_id'))
    op.drop_table('engine_runs')
    op.drop_table('reviewers')
    op.drop_table('recordings')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_log_visit_id'))
        batch_op.drop_index(batch_op.f('ix_audit_log_at'))
    op.drop_table('audit_log')

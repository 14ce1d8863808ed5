BEGIN;

CREATE TABLE alembic_version (
    version_num VARCHAR(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

-- Running upgrade  -> 0001

CREATE TABLE schedule (
    id UUID NOT NULL,
    customer_id VARCHAR(64) NOT NULL,
    kind VARCHAR(32) NOT NULL,
    status VARCHAR(16) NOT NULL,
    purpose VARCHAR(32) NOT NULL,
    debit_account VARCHAR(34) NOT NULL,
    credit_account VARCHAR(34) NOT NULL,
    amount NUMERIC(19, 4) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    time_zone VARCHAR(64) NOT NULL,
    definition JSON NOT NULL,
    definition_version INTEGER NOT NULL,
    next_index INTEGER,
    first_index INTEGER DEFAULT 0 NOT NULL,
    channel VARCHAR(32) NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    version INTEGER NOT NULL,
    CONSTRAINT pk_schedule PRIMARY KEY (id)
);

CREATE INDEX ix_schedule_customer_id_status_created_at ON schedule (customer_id, status, created_at);

CREATE TABLE operation (
    id UUID NOT NULL,
    schedule_id UUID NOT NULL,
    customer_id VARCHAR(64) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    occurrence_index INTEGER NOT NULL,
    reminder_offset VARCHAR(16) NOT NULL,
    nominal_date DATE NOT NULL,
    execution_date DATE NOT NULL,
    due_at TIMESTAMP WITH TIME ZONE NOT NULL,
    status VARCHAR(16) NOT NULL,
    available_at TIMESTAMP WITH TIME ZONE NOT NULL,
    attempts INTEGER NOT NULL,
    declines INTEGER NOT NULL,
    attempts_before_redrive INTEGER DEFAULT 0 NOT NULL,
    lease_owner VARCHAR(64),
    lease_expires_at TIMESTAMP WITH TIME ZONE,
    debit_account VARCHAR(34) NOT NULL,
    credit_account VARCHAR(34) NOT NULL,
    amount NUMERIC(19, 4) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    last_error_code VARCHAR(64),
    last_error_reason VARCHAR(400),
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_operation PRIMARY KEY (id),
    CONSTRAINT uq_operation_occurrence UNIQUE (schedule_id, occurrence_index, kind, reminder_offset),
    CONSTRAINT fk_operation_schedule_id_schedule FOREIGN KEY(schedule_id) REFERENCES schedule (id)
);

CREATE INDEX ix_operation_claim ON operation (available_at) WHERE status IN ('pending', 'retry_wait', 'claimed');

CREATE INDEX ix_operation_stopped ON operation (updated_at, id) WHERE status IN ('failed', 'dead');

CREATE INDEX ix_operation_customer_id_status ON operation (customer_id, status);

CREATE TABLE execution_attempt (
    id BIGSERIAL NOT NULL,
    operation_id UUID NOT NULL,
    schedule_id UUID NOT NULL,
    customer_id VARCHAR(64) NOT NULL,
    kind VARCHAR(16) NOT NULL,
    attempt INTEGER NOT NULL,
    worker VARCHAR(64) NOT NULL,
    due_at TIMESTAMP WITH TIME ZONE NOT NULL,
    started_at TIMESTAMP WITH TIME ZONE NOT NULL,
    finished_at TIMESTAMP WITH TIME ZONE NOT NULL,
    outcome VARCHAR(16) NOT NULL,
    error_code VARCHAR(64),
    reason VARCHAR(400),
    recommended_action VARCHAR(400),
    gateway_reference VARCHAR(64),
    debit_account VARCHAR(34) NOT NULL,
    credit_account VARCHAR(34) NOT NULL,
    amount NUMERIC(19, 4) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    CONSTRAINT pk_execution_attempt PRIMARY KEY (id),
    CONSTRAINT uq_execution_attempt_operation_id_attempt UNIQUE (operation_id, attempt),
    CONSTRAINT fk_execution_attempt_operation_id_operation FOREIGN KEY(operation_id) REFERENCES operation (id)
);

CREATE INDEX ix_execution_attempt_customer_id_finished_at ON execution_attempt (customer_id, finished_at);

CREATE INDEX ix_execution_attempt_schedule_id_finished_at ON execution_attempt (schedule_id, finished_at);

CREATE TABLE outbox (
    id BIGSERIAL NOT NULL,
    event_id UUID NOT NULL,
    event_type VARCHAR(96) NOT NULL,
    schedule_id UUID NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    payload JSON NOT NULL,
    published_at TIMESTAMP WITH TIME ZONE,
    CONSTRAINT pk_outbox PRIMARY KEY (id),
    CONSTRAINT uq_outbox_event_id UNIQUE (event_id)
);

CREATE INDEX ix_outbox_unpublished ON outbox (id) WHERE published_at IS NULL;

CREATE TABLE audit_record (
    seq BIGSERIAL NOT NULL,
    occurred_at TIMESTAMP WITH TIME ZONE NOT NULL,
    actor VARCHAR(128) NOT NULL,
    action VARCHAR(64) NOT NULL,
    subject_type VARCHAR(32) NOT NULL,
    subject_id VARCHAR(64) NOT NULL,
    customer_id VARCHAR(64),
    correlation_id VARCHAR(64),
    details JSON NOT NULL,
    block_no BIGINT,
    CONSTRAINT pk_audit_record PRIMARY KEY (seq)
);

CREATE INDEX ix_audit_record_block_no ON audit_record (block_no);

CREATE INDEX ix_audit_record_subject_type_subject_id ON audit_record (subject_type, subject_id);

CREATE TABLE audit_block (
    block_no BIGINT NOT NULL,
    sealed_at TIMESTAMP WITH TIME ZONE NOT NULL,
    record_count INTEGER NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    records_digest VARCHAR(64) NOT NULL,
    previous_hash VARCHAR(64) NOT NULL,
    block_hash VARCHAR(64) NOT NULL,
    CONSTRAINT pk_audit_block PRIMARY KEY (block_no)
);

CREATE TABLE api_idempotency (
    customer_id VARCHAR(64) NOT NULL,
    idempotency_key VARCHAR(128) NOT NULL,
    request_hash VARCHAR(64) NOT NULL,
    status_code INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at TIMESTAMP WITH TIME ZONE NOT NULL,
    expires_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_api_idempotency PRIMARY KEY (customer_id, idempotency_key)
);

CREATE INDEX ix_api_idempotency_expires_at ON api_idempotency (expires_at);

CREATE TABLE ledger_account (
    id VARCHAR(34) NOT NULL,
    customer_id VARCHAR(64) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    balance NUMERIC(19, 4) NOT NULL,
    overdraft_limit NUMERIC(19, 4) NOT NULL,
    status VARCHAR(16) NOT NULL,
    updated_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_ledger_account PRIMARY KEY (id)
);

CREATE INDEX ix_ledger_account_customer_id ON ledger_account (customer_id);

CREATE TABLE ledger_entry (
    id UUID NOT NULL,
    idempotency_key VARCHAR(64) NOT NULL,
    debit_account VARCHAR(34) NOT NULL,
    credit_account VARCHAR(34) NOT NULL,
    amount NUMERIC(19, 4) NOT NULL,
    currency VARCHAR(3) NOT NULL,
    reference VARCHAR(140) NOT NULL,
    booked_at TIMESTAMP WITH TIME ZONE NOT NULL,
    CONSTRAINT pk_ledger_entry PRIMARY KEY (id),
    CONSTRAINT uq_ledger_entry_idempotency_key UNIQUE (idempotency_key)
);

INSERT INTO alembic_version (version_num) VALUES ('0001') RETURNING alembic_version.version_num;

-- Running upgrade 0001 -> 0002

ALTER TABLE audit_block ADD COLUMN record_hashes TEXT;

UPDATE alembic_version SET version_num='0002' WHERE alembic_version.version_num = '0001';

-- Running upgrade 0002 -> 0003

ALTER TABLE outbox ADD COLUMN relay_owner VARCHAR(64);

ALTER TABLE outbox ADD COLUMN relay_until TIMESTAMP WITH TIME ZONE;

UPDATE alembic_version SET version_num='0003' WHERE alembic_version.version_num = '0002';

-- Running upgrade 0003 -> 0004

ALTER TABLE execution_attempt ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE audit_record ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE audit_block ADD COLUMN archived_at TIMESTAMP WITH TIME ZONE;

ALTER TABLE audit_block ADD COLUMN records_purged_at TIMESTAMP WITH TIME ZONE;

CREATE INDEX ix_execution_attempt_unarchived ON execution_attempt (id) WHERE archived_at IS NULL;

CREATE INDEX ix_execution_attempt_finished_at ON execution_attempt (finished_at);

CREATE INDEX ix_audit_record_unarchived ON audit_record (seq) WHERE archived_at IS NULL;

CREATE INDEX ix_audit_block_unarchived ON audit_block (block_no) WHERE archived_at IS NULL;

CREATE INDEX ix_audit_block_records_in_sql ON audit_block (block_no) WHERE records_purged_at IS NULL;

UPDATE alembic_version SET version_num='0004' WHERE alembic_version.version_num = '0003';

-- Running upgrade 0004 -> 0005

ALTER TABLE outbox ADD COLUMN queued_at TIMESTAMP WITH TIME ZONE;

CREATE INDEX ix_outbox_dead_unqueued ON outbox (id) WHERE event_type = 'com.tsched.operation.dead.v1' AND queued_at IS NULL;

UPDATE alembic_version SET version_num='0005' WHERE alembic_version.version_num = '0004';

-- Running upgrade 0005 -> 0006

ALTER TABLE operation ADD COLUMN traceparent VARCHAR(55);

UPDATE alembic_version SET version_num='0006' WHERE alembic_version.version_num = '0005';

COMMIT;

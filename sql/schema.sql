-- backflow's DuckDB layout. Documented in docs/state.md; analysts rely on
-- these column names, so changes are additive only.
CREATE SCHEMA IF NOT EXISTS raw_hubspot;
CREATE SCHEMA IF NOT EXISTS raw_pendo;
CREATE SCHEMA IF NOT EXISTS models;
CREATE SCHEMA IF NOT EXISTS backflow;

-- One row per backflow invocation that touched the file.
CREATE TABLE IF NOT EXISTS backflow.runs (
    run_id      VARCHAR PRIMARY KEY,
    command     VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    status      VARCHAR NOT NULL,   -- running | succeeded | failed | partial
    error       VARCHAR
);

-- One row per extracted stream (source/object): where the next run resumes.
CREATE TABLE IF NOT EXISTS backflow.extract_state (
    stream       VARCHAR PRIMARY KEY,  -- e.g. hubspot/contacts, pendo/visitors
    cursor       VARCHAR,
    rows         BIGINT NOT NULL,
    extracted_at TIMESTAMPTZ NOT NULL,
    run_id       VARCHAR NOT NULL
);

-- Counts per sync per run.
CREATE TABLE IF NOT EXISTS backflow.sync_runs (
    run_id      VARCHAR NOT NULL,
    sync        VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    model_rows  BIGINT NOT NULL DEFAULT 0,
    added       BIGINT NOT NULL DEFAULT 0,
    changed     BIGINT NOT NULL DEFAULT 0,
    removed     BIGINT NOT NULL DEFAULT 0,
    unchanged   BIGINT NOT NULL DEFAULT 0,
    applied     BIGINT NOT NULL DEFAULT 0,
    failed      BIGINT NOT NULL DEFAULT 0,
    rejected    BIGINT NOT NULL DEFAULT 0,
    skipped     BIGINT NOT NULL DEFAULT 0,
    status      VARCHAR NOT NULL,
    error       VARCHAR,
    PRIMARY KEY (run_id, sync)
);

-- One row per record a sync tried to send (or refused to send), per run.
CREATE TABLE IF NOT EXISTS backflow.sync_rows (
    run_id    VARCHAR NOT NULL,
    sync      VARCHAR NOT NULL,
    key       VARCHAR NOT NULL,
    operation VARCHAR NOT NULL,   -- add | change | remove
    status    VARCHAR NOT NULL,   -- applied | failed | rejected | skipped_not_found
    error     VARCHAR,
    fields    VARCHAR[],          -- destination fields sent
    recorded_at TIMESTAMPTZ NOT NULL
);

-- Columns that appeared in a raw table, or whose type changed, per run.
CREATE TABLE IF NOT EXISTS backflow.schema_changes (
    run_id      VARCHAR NOT NULL,
    stream      VARCHAR NOT NULL,
    column_name VARCHAR NOT NULL,
    old_type    VARCHAR,
    new_type    VARCHAR NOT NULL,
    action      VARCHAR NOT NULL,  -- added | widened to VARCHAR
    changed_at  TIMESTAMPTZ NOT NULL
);

-- Free-mail domains: their users say nothing about their company. Refilled
-- from the shipped list on every open; add your own to
-- backflow.free_email_domains_extra.
CREATE TABLE IF NOT EXISTS backflow.free_email_domains_extra (domain VARCHAR PRIMARY KEY);

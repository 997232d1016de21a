-- Macros shipped with backflow, created in the DuckDB file's main schema
-- on every open, so models (and analysts' queries of model views) can use
-- them. Definitions are documented in docs/macros.md.

-- Time ---------------------------------------------------------------------

-- The present a run works in: the instant its run started. Models use it
-- instead of now(), so that every model of a run sees the same instant
-- and a run at a set time (backflow run --now, the demo, the tests) builds
-- what it would have built then. backflow's own connections get a
-- temporary macro of the same name holding their run's start, which takes
-- precedence over this one; this one serves other DuckDB clients (an
-- analyst's session), where it is the start of the latest run, so views
-- read as of that run.
CREATE OR REPLACE MACRO run_started_at() AS
    coalesce((SELECT started_at FROM backflow.runs ORDER BY run_id DESC LIMIT 1), now());

-- incremental_since() is, while backflow builds an incremental model (see
-- docs/models.md), the greatest value of the model's watermark column in
-- its table: the model's SQL keeps the rows at or after it. NULL on a
-- whole build, and in any other session, where the SQL then reads all.
CREATE OR REPLACE MACRO incremental_since() AS NULL;

-- Pendo's day buckets start at midnight in the subscription's time zone,
-- pendo_timezone() (the project's pendo.timezone, installed by backflow
-- after these; UTC for a project without Pendo). A day is 23 or 25 hours
-- long when DST starts or ends, so its end is the next local midnight,
-- not day + 24 hours.
CREATE OR REPLACE MACRO pendo_timezone() AS 'UTC';
CREATE OR REPLACE MACRO pendo_day_end(day) AS
    timezone(pendo_timezone(), CAST(CAST(timezone(pendo_timezone(), day) AS DATE) + 1 AS TIMESTAMP));

-- Identity -----------------------------------------------------------------

-- Emails compare after trimming whitespace (spaces, tabs, newlines) and
-- lower-casing. Plus-addressing (a+tag@x.com) is left intact: it is a
-- different mailbox as far as HubSpot and Pendo are concerned.
CREATE OR REPLACE MACRO normalize_email(e) AS
    nullif(lower(trim(e, ' ' || chr(9) || chr(10) || chr(13))), '');

-- The domain part of an email, normalized.
CREATE OR REPLACE MACRO email_domain(e) AS
    nullif(split_part(normalize_email(e), '@', 2), '');

-- A company domain normalized for matching: lower-cased, without scheme,
-- path or a leading www.
CREATE OR REPLACE MACRO normalize_domain(d) AS
    nullif(regexp_replace(regexp_replace(lower(trim(d)), '^[a-z]+://', ''), '^www\.|/.*$', '', 'g'), '');

-- Whether a domain is a free-mail provider (backflow.free_email_domains),
-- whose users say nothing about the company they work for.
CREATE OR REPLACE MACRO is_free_email_domain(d) AS
    normalize_domain(d) IN (SELECT domain FROM backflow.free_email_domains);

-- A number as HubSpot's number properties take it: digits with at most one
-- decimal point. DuckDB writes doubles from 1e16 and below 1e-4 with an
-- exponent (1e+20), which HubSpot refuses; those are written out in full.
-- NaN and infinities stay as they are (backflow rejects those rows).
CREATE OR REPLACE MACRO hubspot_number_text(x) AS
    CASE WHEN x IS NULL THEN NULL
         WHEN NOT isfinite(CAST(x AS DOUBLE)) THEN CAST(x AS VARCHAR)
         WHEN contains(CAST(x AS VARCHAR), 'e') THEN rtrim(rtrim(printf('%.20f', CAST(x AS DOUBLE)), '0'), '.')
         ELSE CAST(x AS VARCHAR) END;

-- HubSpot -> Pendo casts -----------------------------------------------------

-- HubSpot date (DATE, 'YYYY-MM-DD', or epoch ms of UTC midnight) -> Pendo
-- time: epoch milliseconds at UTC midnight.
CREATE OR REPLACE MACRO hubspot_date_to_pendo_time(d) AS
    CASE WHEN d IS NULL THEN NULL
         WHEN regexp_full_match(CAST(d AS VARCHAR), '[0-9]+') THEN CAST(CAST(d AS VARCHAR) AS BIGINT) // 86400000 * 86400000
         ELSE epoch_ms(CAST(CAST(CAST(d AS VARCHAR) AS DATE) AS TIMESTAMP)) END;

-- HubSpot datetime (TIMESTAMPTZ, ISO 8601 text, or epoch ms text) -> Pendo
-- time: epoch milliseconds.
CREATE OR REPLACE MACRO hubspot_datetime_to_pendo_time(t) AS
    CASE WHEN t IS NULL THEN NULL
         WHEN regexp_full_match(CAST(t AS VARCHAR), '[0-9]+') THEN CAST(CAST(t AS VARCHAR) AS BIGINT)
         ELSE epoch_ms(CAST(CAST(t AS VARCHAR) AS TIMESTAMPTZ)) END;

-- HubSpot bool text ('true'/'false') -> BOOLEAN; anything else -> NULL.
CREATE OR REPLACE MACRO hubspot_bool(s) AS
    CASE lower(trim(CAST(s AS VARCHAR))) WHEN 'true' THEN true WHEN 'false' THEN false ELSE NULL END;

-- HubSpot number text -> DOUBLE; text that is not a number -> NULL.
CREATE OR REPLACE MACRO hubspot_number(s) AS TRY_CAST(nullif(trim(CAST(s AS VARCHAR)), '') AS DOUBLE);

-- HubSpot multiple checkboxes ('a;b;c') -> list, and back.
CREATE OR REPLACE MACRO hubspot_multi_split(s) AS
    CASE WHEN s IS NULL OR s = '' THEN NULL ELSE list_filter(string_split(s, ';'), x -> x <> '') END;
CREATE OR REPLACE MACRO hubspot_multi_join(l) AS
    CASE WHEN l IS NULL OR len(l) = 0 THEN NULL ELSE array_to_string(l, ';') END;

-- Pendo -> HubSpot casts -----------------------------------------------------

-- Pendo time (epoch ms, or a TIMESTAMP) -> HubSpot date 'YYYY-MM-DD' (the day
-- in UTC, as HubSpot stores dates).
CREATE OR REPLACE MACRO pendo_time_to_hubspot_date(t) AS
    CASE WHEN t IS NULL THEN NULL
         WHEN typeof(t) IN ('BIGINT', 'INTEGER', 'DOUBLE', 'HUGEINT', 'UBIGINT')
             THEN strftime(make_timestamp(CAST(t AS BIGINT) * 1000), '%Y-%m-%d')
         ELSE strftime(timezone('UTC', CAST(t AS TIMESTAMPTZ)), '%Y-%m-%d') END;

-- Pendo time -> HubSpot datetime, ISO 8601 in UTC with milliseconds.
CREATE OR REPLACE MACRO pendo_time_to_hubspot_datetime(t) AS
    CASE WHEN t IS NULL THEN NULL
         WHEN typeof(t) IN ('BIGINT', 'INTEGER', 'DOUBLE', 'HUGEINT', 'UBIGINT')
             THEN strftime(make_timestamp(CAST(t AS BIGINT) * 1000), '%Y-%m-%dT%H:%M:%S.%gZ')
         ELSE strftime(timezone('UTC', CAST(t AS TIMESTAMPTZ)), '%Y-%m-%dT%H:%M:%S.%gZ') END;

-- Events ----------------------------------------------------------------------

-- event_key(v1, …, vn), n from 1 to 8: a stable key for an event row. Each
-- value is encoded as JSON (so NULL is null, strings are quoted and
-- escaped, and no value can run into the next), the encodings are joined
-- into a JSON array, and the key is the first 32 hex digits of its SHA-256,
-- written 8-4-4-4-12 like a UUID (HubSpot's event uuid field takes it).
CREATE OR REPLACE MACRO __event_key_of(j) AS
    regexp_replace(left(sha256(j), 32), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\1-\2-\3-\4-\5');
CREATE OR REPLACE MACRO event_key(a) AS __event_key_of('[' || coalesce(to_json(a)::VARCHAR, 'null') || ']'),
    (a, b) AS __event_key_of('[' || concat_ws(',', coalesce(to_json(a)::VARCHAR, 'null'), coalesce(to_json(b)::VARCHAR, 'null')) || ']'),
    (a, b, c) AS __event_key_of('[' || concat_ws(',', coalesce(to_json(a)::VARCHAR, 'null'), coalesce(to_json(b)::VARCHAR, 'null'),
        coalesce(to_json(c)::VARCHAR, 'null')) || ']'),
    (a, b, c, d) AS __event_key_of('[' || concat_ws(',', coalesce(to_json(a)::VARCHAR, 'null'), coalesce(to_json(b)::VARCHAR, 'null'),
        coalesce(to_json(c)::VARCHAR, 'null'), coalesce(to_json(d)::VARCHAR, 'null')) || ']'),
    (a, b, c, d, e) AS __event_key_of('[' || concat_ws(',', coalesce(to_json(a)::VARCHAR, 'null'), coalesce(to_json(b)::VARCHAR, 'null'),
        coalesce(to_json(c)::VARCHAR, 'null'), coalesce(to_json(d)::VARCHAR, 'null'), coalesce(to_json(e)::VARCHAR, 'null')) || ']'),
    (a, b, c, d, e, f) AS __event_key_of('[' || concat_ws(',', coalesce(to_json(a)::VARCHAR, 'null'), coalesce(to_json(b)::VARCHAR, 'null'),
        coalesce(to_json(c)::VARCHAR, 'null'), coalesce(to_json(d)::VARCHAR, 'null'), coalesce(to_json(e)::VARCHAR, 'null'),
        coalesce(to_json(f)::VARCHAR, 'null')) || ']'),
    (a, b, c, d, e, f, g) AS __event_key_of('[' || concat_ws(',', coalesce(to_json(a)::VARCHAR, 'null'), coalesce(to_json(b)::VARCHAR, 'null'),
        coalesce(to_json(c)::VARCHAR, 'null'), coalesce(to_json(d)::VARCHAR, 'null'), coalesce(to_json(e)::VARCHAR, 'null'),
        coalesce(to_json(f)::VARCHAR, 'null'), coalesce(to_json(g)::VARCHAR, 'null')) || ']'),
    (a, b, c, d, e, f, g, h) AS __event_key_of('[' || concat_ws(',', coalesce(to_json(a)::VARCHAR, 'null'), coalesce(to_json(b)::VARCHAR, 'null'),
        coalesce(to_json(c)::VARCHAR, 'null'), coalesce(to_json(d)::VARCHAR, 'null'), coalesce(to_json(e)::VARCHAR, 'null'),
        coalesce(to_json(f)::VARCHAR, 'null'), coalesce(to_json(g)::VARCHAR, 'null'), coalesce(to_json(h)::VARCHAR, 'null')) || ']');

-- NPS -------------------------------------------------------------------------

-- nps_category(score): promoter (9-10), passive (7-8), detractor (0-6);
-- NULL for no score or one outside 0-10.
CREATE OR REPLACE MACRO nps_category(score) AS
    CASE WHEN score IS NULL OR score < 0 OR score > 10 THEN NULL
         WHEN score >= 9 THEN 'promoter' WHEN score >= 7 THEN 'passive' ELSE 'detractor' END;

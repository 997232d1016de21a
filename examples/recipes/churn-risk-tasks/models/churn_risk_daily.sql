-- materialized: table
-- Each account's engagement on each of the last 60 days, in person-days
-- (one person active on one day): all use and core-feature use in the 30
-- days up to that day and in the 30 before, and whether that day counts
-- as at risk. Person-days fall when people stop coming, even while
-- someone at a large account still logs in daily. Tune the settings here.
WITH settings AS (
    SELECT 0.5 AS drop_ratio,          -- at risk when the last 30 days fall below half of the 30 before
           20  AS min_days_before,     -- ... and the account had at least this many person-days before
           ['Dashboard', 'Report Builder'] AS core_features
),
today AS (SELECT CAST(run_started_at() AT TIME ZONE 'UTC' AS DATE) AS d),
active AS (
    SELECT DISTINCT account_id, visitor_id, CAST(day AT TIME ZONE 'UTC' AS DATE) AS day
    FROM raw_pendo.events
    WHERE account_id IS NOT NULL AND account_id <> ''
),
core AS (
    SELECT DISTINCT f.account_id, f.visitor_id, CAST(f.day AT TIME ZONE 'UTC' AS DATE) AS day
    FROM raw_pendo.feature_events f
    JOIN raw_pendo.catalog c ON c.kind = 'feature' AND c.id = f.feature_id
    WHERE f.account_id IS NOT NULL AND f.account_id <> ''
      AND list_contains((SELECT core_features FROM settings), c.name)
),
calendar AS (
    SELECT CAST(t.d AS DATE) AS d
    FROM today, range(today.d - INTERVAL 59 DAY, today.d + INTERVAL 1 DAY, INTERVAL 1 DAY) t(d)
),
accounts AS (SELECT DISTINCT account_id FROM active),
windows AS (
    SELECT a.account_id, c.d,
           (SELECT count(*) FROM active x WHERE x.account_id = a.account_id AND x.day > c.d - 30 AND x.day <= c.d)       AS person_days,
           (SELECT count(*) FROM active x WHERE x.account_id = a.account_id AND x.day > c.d - 60 AND x.day <= c.d - 30)  AS person_days_before,
           (SELECT count(*) FROM core x WHERE x.account_id = a.account_id AND x.day > c.d - 30 AND x.day <= c.d)         AS core_person_days,
           (SELECT count(*) FROM core x WHERE x.account_id = a.account_id AND x.day > c.d - 60 AND x.day <= c.d - 30)    AS core_person_days_before
    FROM accounts a CROSS JOIN calendar c
)
SELECT w.*,
       (w.person_days_before >= s.min_days_before AND w.person_days < w.person_days_before * s.drop_ratio)
    OR (w.core_person_days_before >= s.min_days_before AND w.core_person_days < w.core_person_days_before * s.drop_ratio) AS at_risk
FROM windows w, settings s

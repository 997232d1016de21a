-- Visitors who meet the engagement definition below are product-qualified
-- leads: their contact moves to pql_stage. Stages only move forward (a
-- contact already at or past pql_stage is left alone, as HubSpot itself
-- will not move a lifecycle stage backwards), so once HubSpot holds the
-- new stage the contact leaves this model and nothing more is sent.
WITH settings AS (
    SELECT 'salesqualifiedlead' AS pql_stage,
           14 AS window_days,               -- look at the last 14 days
           5  AS min_active_days,           -- active on at least 5 of them
           ['Report Builder', 'Integrations', 'Export'] AS core_features,
           2  AS min_core_features          -- and used at least 2 core features
),
stages(stage, rank) AS (VALUES
    ('subscriber', 1), ('lead', 2), ('marketingqualifiedlead', 3), ('salesqualifiedlead', 4),
    ('opportunity', 5), ('customer', 6), ('evangelist', 7), ('other', 8)),
engaged AS (
    SELECT e.visitor_id
    FROM raw_pendo.events e, settings s
    WHERE CAST(e.day AT TIME ZONE 'UTC' AS DATE) > CAST(run_started_at() AT TIME ZONE 'UTC' AS DATE) - s.window_days
    GROUP BY e.visitor_id, s.min_active_days
    HAVING count(DISTINCT CAST(e.day AT TIME ZONE 'UTC' AS DATE)) >= s.min_active_days
),
core AS (
    SELECT f.visitor_id
    FROM raw_pendo.feature_events f
    JOIN raw_pendo.catalog c ON c.kind = 'feature' AND c.id = f.feature_id, settings s
    WHERE CAST(f.day AT TIME ZONE 'UTC' AS DATE) > CAST(run_started_at() AT TIME ZONE 'UTC' AS DATE) - s.window_days
      AND list_contains(s.core_features, c.name)
    GROUP BY f.visitor_id, s.min_core_features
    HAVING count(DISTINCT c.name) >= s.min_core_features
)
SELECT i.contact_id, s.pql_stage AS lifecyclestage
FROM engaged
JOIN core USING (visitor_id)
JOIN models.identity_contacts_visitors i ON i.visitor_id = engaged.visitor_id AND i.status = 'matched'
JOIN raw_hubspot.contacts c ON c.id = i.contact_id
CROSS JOIN settings s
JOIN stages target ON target.stage = s.pql_stage
LEFT JOIN stages now_at ON now_at.stage = c.lifecyclestage
WHERE coalesce(now_at.rank, 0) < target.rank

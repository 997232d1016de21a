-- Accounts whose usage passed their plan's threshold get one expansion
-- deal, owned by the company owner and associated to the company. The key
-- is the company: one expansion deal per company, ever (add a period to the
-- key, e.g. the year, for one per year). The usage context is kept current
-- in its own property; the deal's name, stage and amount are set once and
-- then belong to the rep (backflow resends a field only when the model's
-- value changes).
WITH settings AS (
    SELECT 35 AS active_people_threshold,  -- people active in the last 30 days
           1200 AS price_per_seat          -- for the deal amount
),
usage AS (
    SELECT account_id,
           count(DISTINCT visitor_id) AS active_people,
           count(DISTINCT CAST(day AT TIME ZONE 'UTC' AS DATE)) AS active_days
    FROM raw_pendo.events
    -- whole days (UTC), so reruns within a day see the same window
    WHERE CAST(day AT TIME ZONE 'UTC' AS DATE) > CAST(now() AT TIME ZONE 'UTC' AS DATE) - 30
      AND account_id IS NOT NULL AND account_id <> ''
    GROUP BY account_id
)
SELECT
    'expansion:' || m.company_id                       AS deal_key,
    m.company_id,
    'Expansion — ' || coalesce(c.name, u.account_id)   AS dealname,
    'default'                                          AS pipeline,
    'appointmentscheduled'                             AS dealstage,
    CAST(s.active_people_threshold * s.price_per_seat AS DOUBLE) AS amount,
    c.hubspot_owner_id                                 AS owner_id,
    printf('%d people active on %d days in the last 30 days (threshold %d)', u.active_people, u.active_days, s.active_people_threshold) AS usage_context
FROM usage u
CROSS JOIN settings s
JOIN models.identity_companies_accounts m ON m.account_id = u.account_id AND m.status = 'matched'
LEFT JOIN raw_hubspot.companies c ON c.id = m.company_id
WHERE u.active_people >= s.active_people_threshold

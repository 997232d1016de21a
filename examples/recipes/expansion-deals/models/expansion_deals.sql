-- Accounts using more of their plan than its threshold (people active in
-- the last 30 days over 80% of the subscription's seats) get one expansion
-- deal, owned by the company owner and associated to the company. The key
-- is the company: one expansion deal per company, ever (add a period to the
-- key, e.g. the year, for one per year). The usage context is kept current
-- in its own property; the deal's name, stage and amount are set once and
-- then belong to the rep (backflow resends a field only when the model's
-- value changes).
WITH settings AS (
    SELECT 0.8 AS seat_usage_threshold,   -- active people / seats
           1200 AS price_per_seat         -- for the deal amount: the seats to add, a year
),
usage AS (
    SELECT account_id,
           count(DISTINCT visitor_id) AS active_people,
           count(DISTINCT CAST(day AT TIME ZONE 'UTC' AS DATE)) AS active_days
    FROM raw_pendo.events
    -- whole days (UTC), so reruns within a day see the same window
    WHERE CAST(day AT TIME ZONE 'UTC' AS DATE) > CAST(run_started_at() AT TIME ZONE 'UTC' AS DATE) - 30
      AND account_id IS NOT NULL AND account_id <> ''
    GROUP BY account_id
),
plans AS (
    -- a company's subscription (the largest, if it has several)
    SELECT sc.to_id AS company_id, arg_max(s.plan, s.seats) AS plan, max(s.seats) AS seats
    FROM raw_hubspot.subscription s
    JOIN raw_hubspot.subscription_company sc ON sc.from_id = s.id
    WHERE NOT s.archived
    GROUP BY sc.to_id
)
SELECT
    'expansion:' || m.company_id                       AS deal_key,
    m.company_id,
    'Expansion — ' || coalesce(c.name, u.account_id)   AS dealname,
    'default'                                          AS pipeline,
    'appointmentscheduled'                             AS dealstage,
    CAST(greatest(u.active_people - p.seats, 1) * st.price_per_seat AS DOUBLE) AS amount,
    c.hubspot_owner_id                                 AS owner_id,
    printf('%d people active on %d days in the last 30 days, on %d %s seats', u.active_people, u.active_days, CAST(p.seats AS INT), p.plan) AS usage_context
FROM usage u
CROSS JOIN settings st
JOIN models.identity_companies_accounts m ON m.account_id = u.account_id AND m.status = 'matched'
JOIN plans p ON p.company_id = m.company_id
LEFT JOIN raw_hubspot.companies c ON c.id = m.company_id
WHERE u.active_people > st.seat_usage_threshold * p.seats

-- The milestones each Pendo account has reached in its product data.
-- Edit the definitions here; each is a boolean column.
WITH usage AS (
    SELECT account_id,
           count(DISTINCT visitor_id)                              AS people,
           count(DISTINCT CAST(day AT TIME ZONE 'UTC' AS DATE))    AS active_days
    FROM raw_pendo.events
    GROUP BY account_id
),
features AS (
    SELECT f.account_id,
           bool_or(c.name = 'Integrations')     AS integrated,
           bool_or(c.name = 'Invite Teammates') AS invited_team
    FROM raw_pendo.feature_events f
    JOIN raw_pendo.catalog c ON c.kind = 'feature' AND c.id = f.feature_id
    GROUP BY f.account_id
)
SELECT
    a.account_id,
    coalesce(u.people, 0) >= 3              AS team_activated,  -- 3+ people used the product
    coalesce(u.active_days, 0) >= 10        AS habit_formed,    -- active on 10+ days
    coalesce(f.integrated, false)           AS integrated,      -- connected an integration
    coalesce(f.invited_team, false)         AS invited_team     -- invited teammates
FROM raw_pendo.accounts a
LEFT JOIN usage u ON u.account_id = a.account_id
LEFT JOIN features f ON f.account_id = a.account_id

-- materialized: table
--
-- Identity: HubSpot contacts matched to Pendo visitors by normalized email
-- (trimmed, lower-cased; plus-addressing kept). An email held by two
-- contacts, or by two visitors, matches nothing: a visitor must never get
-- another person's values, so ambiguous matches are left out, not guessed.
WITH contacts AS (
    SELECT id AS contact_id, normalize_email(email) AS email,
           lifecyclestage, hs_lead_status, hubspotscore, createdate
    FROM raw_hubspot.contacts
    WHERE NOT archived AND normalize_email(email) IS NOT NULL
    QUALIFY count(*) OVER (PARTITION BY normalize_email(email)) = 1
),
visitors AS (
    SELECT visitor_id, normalize_email(agent__email) AS email
    FROM raw_pendo.visitors
    WHERE normalize_email(agent__email) IS NOT NULL
    QUALIFY count(*) OVER (PARTITION BY normalize_email(agent__email)) = 1
)
SELECT v.visitor_id, c.*
FROM contacts c
JOIN visitors v USING (email)

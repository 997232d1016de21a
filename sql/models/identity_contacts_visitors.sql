-- materialized: table
--
-- Shipped by backflow: HubSpot contacts matched to Pendo visitors.
-- Rules, strongest first: the shared id (a contact property holding the
-- Pendo visitor id, when identity.contact_visitor_id_property is set), then
-- the normalized email. A contact and a visitor keep only the candidates of
-- their strongest rule. status is matched when the pair is the only one of
-- both sides, ambiguous when either side has two (never guessed), and
-- unmatched_contact / unmatched_visitor for the rest. Sync only
-- status = 'matched'.
WITH contacts AS (
    SELECT id AS contact_id, normalize_email(email) AS email{{if .ContactIDProperty}}, CAST({{.ContactIDProperty}} AS VARCHAR) AS shared_id{{end}}
    FROM raw_hubspot.contacts
    WHERE NOT archived
),
visitors AS (
    SELECT visitor_id, normalize_email(agent__email) AS email
    FROM raw_pendo.visitors
),
candidates AS (
{{- if .ContactIDProperty}}
    SELECT c.contact_id, v.visitor_id, 'shared_id' AS rule, 1 AS strength
    FROM contacts c JOIN visitors v ON v.visitor_id = c.shared_id
    UNION ALL
{{- end}}
    SELECT c.contact_id, v.visitor_id, 'email' AS rule, 2 AS strength
    FROM contacts c JOIN visitors v ON v.email = c.email
    WHERE c.email IS NOT NULL
),
best AS (
    SELECT * FROM candidates
    QUALIFY strength = min(strength) OVER (PARTITION BY contact_id)
        AND strength = min(strength) OVER (PARTITION BY visitor_id)
)
SELECT contact_id, visitor_id, rule,
       CASE WHEN count(*) OVER (PARTITION BY contact_id) = 1 AND count(*) OVER (PARTITION BY visitor_id) = 1
            THEN 'matched' ELSE 'ambiguous' END AS status
FROM best
UNION ALL
SELECT contact_id, NULL, NULL, 'unmatched_contact' FROM contacts c
WHERE NOT EXISTS (SELECT 1 FROM best b WHERE b.contact_id = c.contact_id)
UNION ALL
SELECT NULL, visitor_id, NULL, 'unmatched_visitor' FROM visitors v
WHERE NOT EXISTS (SELECT 1 FROM best b WHERE b.visitor_id = v.visitor_id)

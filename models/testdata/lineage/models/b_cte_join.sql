-- CTEs, a join ON, a LEFT join USING, a lateral alias, ordinal GROUP BY.
WITH c AS (
    SELECT id AS contact_id, lower(email) AS email FROM raw_hubspot.contacts
),
v AS (
    SELECT visitor_id, agent__email AS email, auto__accountid AS account_id FROM raw_pendo.visitors
)
SELECT c.contact_id, v.visitor_id, email, upper(email) AS email_upper, email_upper || '!' AS shout
FROM c LEFT JOIN v USING (email)

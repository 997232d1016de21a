-- NATURAL join, SEMI and ANTI joins (their right side decides rows only).
SELECT *
FROM (SELECT visitor_id, account_id FROM raw_pendo.events) e
NATURAL JOIN (SELECT visitor_id, agent__email FROM raw_pendo.visitors) v
SEMI JOIN raw_hubspot.contacts c ON c.email = v.agent__email
ANTI JOIN raw_hubspot.companies co ON co.domain = e.account_id

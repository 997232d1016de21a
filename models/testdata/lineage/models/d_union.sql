-- UNION ALL is positional, names from the first side; BY NAME by name;
-- EXCEPT's right side decides rows only.
SELECT id AS key, email AS value FROM raw_hubspot.contacts
UNION ALL
SELECT visitor_id, agent__email FROM raw_pendo.visitors
UNION ALL BY NAME
SELECT name AS value, id AS key FROM raw_hubspot.companies
EXCEPT
SELECT visitor_id, account_id FROM raw_pendo.events

-- A macro is its argument; CASE is its conditions and results.
SELECT id,
       normalize_email(email) AS email,
       CASE WHEN lifecyclestage = 'customer' THEN 'yes' WHEN archived THEN 'gone' ELSE firstname END AS label,
       'constant' AS constant,
       run_started_at() AS seen_at,
       address.city AS city
FROM raw_hubspot.contacts
WHERE NOT archived AND label <> 'gone' -- label: the select list's alias

-- A macro is its argument, unless it reads a table (is_free_email_domain
-- reads backflow.free_email_domains, through email_domain's argument);
-- run_started_at() is a constant; CASE is its conditions and results.
SELECT id,
       normalize_email(email) AS email,
       is_free_email_domain(email_domain(email)) AS free_mail,
       CASE WHEN lifecyclestage = 'customer' THEN 'yes' WHEN archived THEN 'gone' ELSE firstname END AS label,
       'constant' AS constant,
       run_started_at() AS seen_at,
       address.city AS city
FROM raw_hubspot.contacts
WHERE NOT archived AND label <> 'gone' -- label: the select list's alias

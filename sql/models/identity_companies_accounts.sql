-- materialized: table
--
-- Shipped by backflow: HubSpot companies matched to Pendo accounts.
-- Rules, strongest first: shared_id (a company property holding the Pendo
-- account id, when identity.company_account_id_property is set);
-- account_domain (the account id is the company's domain); visitor_domain
-- (the most common work email domain among the account's visitors: one
-- consultant's address does not make a company). Free-mail domains never
-- match. status as in identity_contacts_visitors.
WITH companies AS (
    SELECT id AS company_id, normalize_domain(domain) AS domain{{if .CompanyAccountIDProperty}}, CAST({{.CompanyAccountIDProperty}} AS VARCHAR) AS shared_id{{end}}
    FROM raw_hubspot.companies
    WHERE NOT archived
),
accounts AS (
    SELECT account_id FROM raw_pendo.accounts
),
visitor_domains AS (
    -- each account's most common work email domain among its visitors;
    -- free-mail is filtered per domain, not per visitor (it is the costly
    -- test, and there are far fewer domains than visitors)
    SELECT account_id, domain FROM (
        SELECT auto__accountid AS account_id, email_domain(agent__email) AS domain, count(*) AS visitors
        FROM raw_pendo.visitors
        WHERE auto__accountid IN (SELECT account_id FROM accounts)
        GROUP BY ALL
    )
    WHERE domain IS NOT NULL AND NOT is_free_email_domain(domain)
    QUALIFY row_number() OVER (PARTITION BY account_id ORDER BY visitors DESC, domain) = 1
),
candidates AS (
{{- if .CompanyAccountIDProperty}}
    SELECT c.company_id, a.account_id, 'shared_id' AS rule, 1 AS strength
    FROM companies c JOIN accounts a ON a.account_id = c.shared_id
    UNION ALL
{{- end}}
    SELECT c.company_id, a.account_id, 'account_domain' AS rule, 2 AS strength
    FROM companies c JOIN accounts a ON normalize_domain(a.account_id) = c.domain
    WHERE c.domain IS NOT NULL AND NOT is_free_email_domain(c.domain)
    UNION ALL
    SELECT c.company_id, d.account_id, 'visitor_domain' AS rule, 3 AS strength
    FROM companies c JOIN visitor_domains d ON d.domain = c.domain
    WHERE c.domain IS NOT NULL AND NOT is_free_email_domain(c.domain)
),
best AS (
    SELECT * FROM candidates
    QUALIFY strength = min(strength) OVER (PARTITION BY company_id)
        AND strength = min(strength) OVER (PARTITION BY account_id)
)
SELECT company_id, account_id, rule,
       CASE WHEN count(*) OVER (PARTITION BY company_id) = 1 AND count(*) OVER (PARTITION BY account_id) = 1
            THEN 'matched' ELSE 'ambiguous' END AS status
FROM best
UNION ALL
SELECT company_id, NULL, NULL, 'unmatched_company' FROM companies c
WHERE NOT EXISTS (SELECT 1 FROM best b WHERE b.company_id = c.company_id)
UNION ALL
SELECT NULL, account_id, NULL, 'unmatched_account' FROM accounts a
WHERE NOT EXISTS (SELECT 1 FROM best b WHERE b.account_id = a.account_id)

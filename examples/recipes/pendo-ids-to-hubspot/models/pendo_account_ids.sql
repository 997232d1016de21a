-- Each company matched to exactly one Pendo account (by domain), with that
-- account's ID.
SELECT company_id AS id, account_id AS pendo_account_id
FROM models.identity_companies_accounts
WHERE status = 'matched'

-- What the account sync sends: one row per Pendo account matched to exactly
-- one HubSpot company (shared id, then domain; see docs/models.md), in the
-- types Pendo's account fields declare.
SELECT
    i.account_id,
    c.industry,                                        -- enumeration -> string
    CAST(c.numberofemployees AS BIGINT) AS employees,  -- number -> integer
    c.annualrevenue                                    -- number (DOUBLE) -> float
FROM models.identity_companies_accounts i
JOIN raw_hubspot.companies c ON c.id = i.company_id
WHERE i.status = 'matched'

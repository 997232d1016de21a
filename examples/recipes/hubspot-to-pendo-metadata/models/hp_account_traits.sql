-- HubSpot company properties onto Pendo account metadata (matched by the
-- shipped identity model: shared id, then domain).
SELECT
    i.account_id,
    c.name,                                                   -- string
    c.industry,                                               -- string
    CAST(c.numberofemployees AS DOUBLE) AS numberofemployees, -- number -> float
    CAST(c.annualrevenue AS DOUBLE) AS annualrevenue,         -- number -> float
    c.createdate                                              -- datetime -> time
FROM models.identity_companies_accounts i
JOIN raw_hubspot.companies c ON c.id = i.company_id
WHERE i.status = 'matched'

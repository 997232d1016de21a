-- HubSpot contact properties onto Pendo visitor metadata, typed as Pendo's
-- own HubSpot integration types them:
--   string, phone number, enumeration -> string
--   number, score                     -> float
--   checkbox                          -> boolean
--   date, datetime                    -> time (a date at UTC midnight)
--   file                              -> refused (tests/hp_no_file_properties.sql)
-- Columns keep the HubSpot property names; the sync names the Pendo fields.
SELECT
    i.visitor_id,
    c.firstname,                                     -- string
    c.phone,                                         -- phone number
    c.lifecyclestage,                                -- enumeration
    CAST(c.hubspotscore AS DOUBLE) AS hubspotscore,  -- number, score
    c.beta_opt_in,                                   -- checkbox (BOOLEAN)
    c.trial_started,                                 -- date (DATE)
    c.createdate                                     -- datetime (TIMESTAMPTZ)
FROM models.identity_contacts_visitors i
JOIN raw_hubspot.contacts c ON c.id = i.contact_id
WHERE i.status = 'matched'

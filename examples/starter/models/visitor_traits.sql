-- What the sync sends: one row per visitor matched to exactly one contact
-- by backflow's shipped identity model (see docs/models.md, "Identity models"), in the types
-- Pendo's fields declare. The sync turns TIMESTAMPTZ into Pendo time (ms).
SELECT
    i.visitor_id,
    c.lifecyclestage,                                -- enumeration -> string
    c.hs_lead_status               AS lead_status,   -- enumeration -> string
    c.hubspotscore                 AS hubspot_score, -- number (DOUBLE) -> float
    c.createdate                   AS hubspot_created_at, -- datetime -> time
    c.lifecyclestage = 'customer'  AS is_customer    -- BOOLEAN -> boolean
FROM models.identity_contacts_visitors i
JOIN raw_hubspot.contacts c ON c.id = i.contact_id
WHERE i.status = 'matched'

-- What the sync sends: one row per matched visitor, in the types Pendo's
-- fields declare. The sync turns TIMESTAMPTZ into Pendo time (epoch ms).
SELECT
    visitor_id,
    lifecyclestage,                                -- enumeration -> string
    hs_lead_status               AS lead_status,   -- enumeration -> string
    hubspotscore                 AS hubspot_score, -- number (DOUBLE) -> float
    createdate                   AS hubspot_created_at, -- datetime -> time
    lifecyclestage = 'customer'  AS is_customer    -- BOOLEAN -> boolean
FROM models.contact_visitor

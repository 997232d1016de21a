-- The contacts whose Pendo visitor is in the "Product qualified" segment,
-- matched one to one by backflow's shipped identity model (docs/models.md,
-- "Identity models"). One row per contact: the list sync's key.
SELECT DISTINCT i.contact_id
FROM raw_pendo.segment_members m
JOIN raw_pendo.segments s ON s.id = m.segment_id
JOIN models.identity_contacts_visitors i ON i.visitor_id = m.visitor_id AND i.status = 'matched'
WHERE s.name = 'Product qualified'

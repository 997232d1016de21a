-- Each contact matched to exactly one Pendo visitor by backflow's shipped
-- identity model (docs/models.md, "Identity models"), with that visitor's
-- ID. Once the property is filled, point identity.contact_visitor_id_property
-- at it and the match becomes exact.
SELECT contact_id AS id, visitor_id AS pendo_visitor_id
FROM models.identity_contacts_visitors
WHERE status = 'matched'

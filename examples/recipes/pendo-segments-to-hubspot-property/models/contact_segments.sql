-- Each matched contact's Pendo segments as one multiple-checkboxes value:
-- the segments' names joined by ';', in name order so that a value only
-- changes when a membership does. A contact in none of them leaves the
-- model, and the sync clears its property (on_remove: clear).
-- Each name must be an option's internal value of the HubSpot property;
-- a segment without one is reported per row by backflow plan.
SELECT i.contact_id AS id,
       string_agg(DISTINCT s.name, ';' ORDER BY s.name) AS pendo_segments
FROM raw_pendo.segment_members m
JOIN raw_pendo.segments s ON s.id = m.segment_id
JOIN models.identity_contacts_visitors i ON i.visitor_id = m.visitor_id AND i.status = 'matched'
GROUP BY i.contact_id

-- Each matched visitor's HubSpot contact lists: every list's name in one
-- text field, and one flag per list the app targets by. Edit the flags'
-- list names to yours; visitors in no list get '' and false, so leaving
-- the last list clears the field.
SELECT
    i.visitor_id,
    coalesce(string_agg(l.name, ';' ORDER BY l.name), '') AS hubspot_lists,
    coalesce(bool_or(l.name = 'Newsletter'), false)      AS in_newsletter,
    coalesce(bool_or(l.name = 'Customers'), false)       AS is_customer_list
FROM models.identity_contacts_visitors i
LEFT JOIN raw_hubspot.list_memberships m ON m.record_id = i.contact_id
LEFT JOIN raw_hubspot.lists l ON l.id = m.list_id AND l.object_type_id = '0-1'
WHERE i.status = 'matched'
GROUP BY i.visitor_id

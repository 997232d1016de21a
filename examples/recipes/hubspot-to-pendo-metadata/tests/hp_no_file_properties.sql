-- Pendo's integration refuses HubSpot file properties: a file property holds
-- a link to a private file, not a value to segment on. A model column
-- named after a file property fails this test, and backflow plan, sync and
-- run hold the syncs before anything is sent.
SELECT p.object_type, p.name AS property, p.field_type
FROM raw_hubspot.properties p
JOIN information_schema.columns m
  ON m.table_schema = 'models'
 AND m.column_name = p.name
 AND ((p.object_type = 'contacts' AND m.table_name = 'hp_contact_traits')
   OR (p.object_type = 'companies' AND m.table_name = 'hp_account_traits'))
WHERE p.field_type = 'file'

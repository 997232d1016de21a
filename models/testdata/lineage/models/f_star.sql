-- SELECT * with EXCLUDE, REPLACE, RENAME, a qualified star, COLUMNS('regex').
SELECT * EXCLUDE (address, archived) REPLACE (lower(email) AS email) RENAME (firstname AS first_name)
FROM raw_hubspot.contacts

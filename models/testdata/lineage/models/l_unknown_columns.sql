-- Only the COLUMNS(lambda) item is unknown... as a whole model.
SELECT COLUMNS(c -> c LIKE 'a%') FROM raw_hubspot.contacts

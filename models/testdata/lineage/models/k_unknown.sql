-- A table macro reads outside what backflow sees: unknown, never guessed.
SELECT a.account_id, e.num_events
FROM account_rows() a JOIN raw_pendo.events e USING (account_id)
WHERE a.account_id <> ''

-- Identity: emails compare after trimming whitespace (spaces, tabs,
-- newlines) and lower-casing. Plus-addressing
-- (a+tag@x.com) is left intact: it is a different mailbox as far as HubSpot
-- and Pendo are concerned.
CREATE OR REPLACE MACRO normalize_email(e) AS
    nullif(lower(trim(e, ' ' || chr(9) || chr(10) || chr(13))), '');

-- The domain part of an email, normalized.
CREATE OR REPLACE MACRO email_domain(e) AS
    nullif(split_part(normalize_email(e), '@', 2), '');

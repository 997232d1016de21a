-- Scalar (correlated), IN, EXISTS and FROM subqueries, and LATERAL.
SELECT v.visitor_id,
       (SELECT count(*) FROM raw_pendo.events e WHERE e.visitor_id = v.visitor_id) AS events,
       v.visitor_id IN (SELECT id FROM raw_hubspot.contacts) AS is_contact,
       EXISTS (SELECT 1 FROM raw_hubspot.companies co WHERE co.domain = v.auto__accountid) AS has_company,
       last.day AS last_day
FROM (SELECT * FROM raw_pendo.visitors WHERE visitor_id <> '') v,
     LATERAL (SELECT max(day) AS day FROM raw_pendo.events e WHERE e.visitor_id = v.visitor_id) last

-- Events that live in the warehouse, sent to Pendo as track events so
-- product teams can segment and guide on them. Here the warehouse event is
-- a HubSpot deal reaching closedwon, one event per person on the deal who
-- is a Pendo visitor; any table with a time and a person works the same.
-- The key hashes what makes the event unique (deal, visitor): backflow
-- sends each key once, and Pendo, which has no idempotency key, gets no
-- duplicate on the next run. Pendo drops events older than 7 days, so only
-- deals won in the last 6 days are sent.
SELECT
    event_key('hubspot_deal_won', d.id, i.visitor_id) AS event_key,
    'hubspot_deal_won'                                 AS event,
    i.visitor_id,
    v.auto__accountid                                  AS account_id,
    d.hs_lastmodifieddate                              AS won_at,
    d.dealname                                         AS deal_name,
    d.amount                                           AS amount
FROM raw_hubspot.deals d
JOIN (SELECT DISTINCT from_id, to_id FROM raw_hubspot.deal_contact) dc ON dc.from_id = d.id
JOIN models.identity_contacts_visitors i ON i.contact_id = dc.to_id AND i.status = 'matched'
LEFT JOIN raw_pendo.visitors v ON v.visitor_id = i.visitor_id
WHERE d.dealstage = 'closedwon'
  AND d.hs_lastmodifieddate >= run_started_at() - INTERVAL 6 DAY

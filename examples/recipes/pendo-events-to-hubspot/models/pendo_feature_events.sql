-- One HubSpot custom event per contact, feature and day of the last week,
-- from Pendo's daily feature-event roll-ups. Only complete days are sent
-- (an event is sent once, so a half-counted day would stay half-counted);
-- a day ends at the next midnight of the subscription's time zone, 23 or
-- 25 hours later on the days DST starts or ends.
-- event_key hashes what makes the event unique: it becomes the event's
-- uuid, and backflow never sends a key twice.
SELECT
    event_key('pendo_feature_used', f.visitor_id, f.feature_id, f.day) AS event_key,
    i.contact_id,
    f.first_time                 AS occurred_at,
    c.name                       AS feature,
    CAST(f.num_events AS DOUBLE) AS num_events,
    CAST(f.num_minutes AS DOUBLE) AS num_minutes
FROM raw_pendo.feature_events f
JOIN raw_pendo.catalog c ON c.kind = 'feature' AND c.id = f.feature_id
JOIN models.identity_contacts_visitors i ON i.visitor_id = f.visitor_id AND i.status = 'matched'
WHERE f.day >= run_started_at() - INTERVAL 7 DAY
  AND pendo_day_end(f.day) <= run_started_at()  -- the day is over where Pendo counts it

-- Each visitor's latest NPS response, onto the HubSpot contact the shipped
-- identity model matches: score, comment, date, and a promoter / passive /
-- detractor category that HubSpot workflows and lists can branch on.
WITH latest AS (
    SELECT visitor_id, score, text, responded_at
    FROM raw_pendo.nps_responses
    WHERE score IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY visitor_id ORDER BY responded_at DESC) = 1
)
SELECT
    i.contact_id,
    l.score                                        AS nps_score,
    nullif(l.text, '')                             AS nps_comment,
    CAST(l.responded_at AT TIME ZONE 'UTC' AS DATE) AS nps_responded_on,
    nps_category(l.score)                          AS nps_category
FROM latest l
JOIN models.identity_contacts_visitors i ON i.visitor_id = l.visitor_id AND i.status = 'matched'

-- A SQL data test: the query returns the rows that fail. HubSpot scores
-- are never negative; if one is, something upstream is wrong and the
-- visitor sync waits until it is fixed.
SELECT visitor_id, hubspot_score
FROM models.visitor_traits
WHERE hubspot_score < 0

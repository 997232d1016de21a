-- Aggregates (count(*) counts rows), windows, HAVING, QUALIFY.
SELECT account_id,
       count(*) AS events,
       sum(num_events) AS total,
       row_number() OVER (PARTITION BY account_id ORDER BY max(day) DESC) AS rank
FROM raw_pendo.events
WHERE day > TIMESTAMPTZ '2026-01-01'
GROUP BY 1
HAVING count(DISTINCT visitor_id) > 1
QUALIFY rank <= 10

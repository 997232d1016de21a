SELECT account_id, day::DATE AS d, sum(num_events) AS events
FROM raw_pendo.events
GROUP BY ROLLUP (account_id, day::DATE)

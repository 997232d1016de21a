-- VALUES are constants; range() is its arguments; a recursive CTE
-- settles; a lambda's parameter is not a column.
WITH RECURSIVE stages(stage, rank) AS (VALUES ('lead', 1), ('customer', 2)),
days AS (SELECT CAST(d AS DATE) AS d FROM range(TIMESTAMP '2026-01-01', TIMESTAMP '2026-01-05', INTERVAL 1 DAY) t(d)),
n(i, email) AS (SELECT 1, min(email) FROM raw_hubspot.contacts UNION ALL SELECT i + 1, email FROM n WHERE i < 3)
SELECT s.stage, s.rank, days.d, n.i, n.email,
       list_transform(v.tags, x -> x || v.visitor_id) AS tagged
FROM stages s, days, n, raw_pendo.visitors v

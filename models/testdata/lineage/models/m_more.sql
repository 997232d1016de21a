-- Duplicate names from a star over a join, a lateral unnest of a column,
-- struct literals, GROUP BY ROLLUP, ORDER BY under LIMIT.
SELECT *, {'tag': t.tag, 'n': 1} AS tag_struct
FROM (
    SELECT c.id, co.id, c.email
    FROM raw_hubspot.contacts c JOIN raw_hubspot.companies co ON co.domain = split_part(c.email, '@', 2)
) x,
raw_pendo.visitors v, unnest(v.tags) t(tag)
WHERE v.agent__email = x.email
ORDER BY v.visitor_id LIMIT 100

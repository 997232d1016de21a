-- A model column is named as such, one level up.
SELECT contact_id, email_upper AS email, events
FROM models.b_cte_join
JOIN models.c_aggregate_window ON account_id = visitor_id

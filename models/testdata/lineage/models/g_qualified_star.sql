SELECT co.*, COLUMNS('^agent__'), models.f_star.id AS contact_id
FROM raw_hubspot.companies co
JOIN raw_pendo.visitors v ON v.auto__accountid = co.domain
JOIN models.f_star ON models.f_star.email = v.agent__email

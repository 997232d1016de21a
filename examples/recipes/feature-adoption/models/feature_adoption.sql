-- Which features each contact's visitor has used, and when first and last,
-- so marketing can build lists of who has not adopted a feature yet
-- ("Pendo features used" does not contain "Integrations"). Add a boolean
-- column per feature you campaign on.
SELECT
    i.contact_id,
    string_agg(DISTINCT c.name, ';' ORDER BY c.name)  AS features_used,
    count(DISTINCT c.name)                            AS feature_count,
    min(f.first_time)                                 AS first_feature_use,
    max(f.last_time)                                  AS last_feature_use,
    bool_or(c.name = 'Integrations')                  AS used_integrations,
    bool_or(c.name = 'Report Builder')                AS used_report_builder
FROM raw_pendo.feature_events f
JOIN raw_pendo.catalog c ON c.kind = 'feature' AND c.id = f.feature_id
JOIN models.identity_contacts_visitors i ON i.visitor_id = f.visitor_id AND i.status = 'matched'
GROUP BY i.contact_id

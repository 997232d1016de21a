-- Each open deal of a company whose account reached milestones moves to
-- the stage its milestone count earns, never backwards:
--   2 milestones -> qualifiedtobuy, 3 -> presentationscheduled,
--   4 -> decisionmakerboughtin.
-- Closed deals are never touched. Once HubSpot holds the stage, the deal
-- leaves this model.
WITH stages(stage, rank) AS (VALUES
    ('appointmentscheduled', 1), ('qualifiedtobuy', 2), ('presentationscheduled', 3),
    ('decisionmakerboughtin', 4), ('contractsent', 5), ('closedwon', 6), ('closedlost', 6)),
earned AS (
    SELECT account_id,
           CASE CAST(team_activated AS INT) + CAST(habit_formed AS INT) + CAST(integrated AS INT) + CAST(invited_team AS INT)
               WHEN 2 THEN 'qualifiedtobuy' WHEN 3 THEN 'presentationscheduled' WHEN 4 THEN 'decisionmakerboughtin'
           END AS stage
    FROM models.trial_milestones
)
SELECT d.id AS deal_id, e.stage AS dealstage
FROM earned e
JOIN models.identity_companies_accounts m ON m.account_id = e.account_id AND m.status = 'matched'
-- one row per deal and company: a primary pair has two association types
JOIN (SELECT DISTINCT from_id, to_id FROM raw_hubspot.deal_company) dc ON dc.to_id = m.company_id
JOIN raw_hubspot.deals d ON d.id = dc.from_id AND NOT d.archived
JOIN stages cur ON cur.stage = d.dealstage
JOIN stages target ON target.stage = e.stage
WHERE d.dealstage NOT IN ('closedwon', 'closedlost') AND target.rank > cur.rank

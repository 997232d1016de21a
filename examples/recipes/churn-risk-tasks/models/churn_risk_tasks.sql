-- One HubSpot task per churn-risk episode, for the company's owner,
-- associated to the company. An episode starts on the first day of an
-- unbroken run of at-risk days and ends when the account is healthy again;
-- the task key names the company and the episode's first day, so a task is
-- created once per episode, however many runs see it, and a new episode
-- (a relapse after recovery) gets a new task. When an episode is older
-- than the 60 days models.churn_risk_daily covers, the start is taken from
-- the task already sent for it (backflow.sync_rows).
WITH today AS (SELECT max(d) AS d FROM models.churn_risk_daily),
now_at_risk AS (
    SELECT r.* FROM models.churn_risk_daily r, today WHERE r.d = today.d AND r.at_risk
),
episodes AS (
    SELECT n.account_id,
           coalesce(
               (SELECT max(h.d) + 1 FROM models.churn_risk_daily h WHERE h.account_id = n.account_id AND NOT h.at_risk),
               (SELECT max(CAST(split_part(s.key, ':', 3) AS DATE)) FROM backflow.sync_rows s
                 WHERE s.sync = 'churn_risk_tasks' AND s.status = 'applied' AND s.key LIKE 'churn:%:%'
                   AND split_part(s.key, ':', 2) = m.company_id),
               (SELECT min(h.d) FROM models.churn_risk_daily h WHERE h.account_id = n.account_id)
           ) AS started_on,
           m.company_id
    FROM now_at_risk n
    JOIN models.identity_companies_accounts m ON m.account_id = n.account_id AND m.status = 'matched'
)
SELECT
    'churn:' || e.company_id || ':' || strftime(e.started_on, '%Y-%m-%d')           AS task_key,
    e.company_id,
    'Churn risk: ' || coalesce(c.name, e.account_id)                                 AS subject,
    -- The numbers as of the day the episode started: the task's text does
    -- not change while the episode lasts (a CSM's edits are not overwritten).
    -- (An episode older than the daily table: the numbers are gone, and
    -- the text says so, once.)
    CASE WHEN s.account_id IS NULL
         THEN printf('Pendo engagement for %s has been low since %s.', e.account_id, strftime(e.started_on, '%Y-%m-%d'))
         ELSE printf('Pendo engagement for %s dropped: %d person-days of use in the 30 days to %s (%d in the 30 before); %d person-days with core features (%d before). backflow opened this task; it opens no other until the account recovers and drops again.',
                     e.account_id, s.person_days, strftime(e.started_on, '%Y-%m-%d'), s.person_days_before, s.core_person_days, s.core_person_days_before)
    END AS body,
    CAST(e.started_on + 3 AS TIMESTAMP) AT TIME ZONE 'UTC'                           AS due_at,
    'HIGH'                                                                           AS priority,
    'NOT_STARTED'                                                                    AS status,
    'TODO'                                                                           AS task_type,
    c.hubspot_owner_id                                                               AS owner_id
FROM episodes e
LEFT JOIN models.churn_risk_daily s ON s.account_id = e.account_id AND s.d = e.started_on
LEFT JOIN raw_hubspot.companies c ON c.id = e.company_id

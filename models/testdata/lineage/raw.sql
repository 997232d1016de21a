-- The tables the lineage models read: a small HubSpot and Pendo.
CREATE SCHEMA IF NOT EXISTS raw_hubspot;
CREATE SCHEMA IF NOT EXISTS raw_pendo;
CREATE TABLE raw_hubspot.contacts (id VARCHAR, email VARCHAR, firstname VARCHAR, lifecyclestage VARCHAR, amount DOUBLE, archived BOOLEAN, address STRUCT(city VARCHAR, zip VARCHAR));
CREATE TABLE raw_hubspot.companies (id VARCHAR, domain VARCHAR, name VARCHAR);
CREATE TABLE raw_pendo.visitors (visitor_id VARCHAR, agent__email VARCHAR, auto__accountid VARCHAR, tags VARCHAR[]);
CREATE TABLE raw_pendo.events (visitor_id VARCHAR, account_id VARCHAR, day TIMESTAMPTZ, num_events BIGINT);
CREATE MACRO account_rows() AS TABLE SELECT 'a' AS account_id

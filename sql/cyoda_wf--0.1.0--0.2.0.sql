-- cyoda_wf upgrade script: 0.1.0 -> 0.2.0
--
-- Every schema change of 0.2.0 is made here as well as in the install script
-- (sql/[0-9]*.sql); test/scripts/upgrade.sh checks that ALTER EXTENSION
-- cyoda_wf UPDATE on a 0.1.0 database with data gives the same objects as a
-- fresh CREATE EXTENSION and keeps the data.
\echo Use "ALTER EXTENSION cyoda_wf UPDATE TO '0.2.0'" to load this file. \quit

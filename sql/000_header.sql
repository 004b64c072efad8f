-- cyoda_wf install script (built from sql/*.sql by the Makefile)
\echo Use "CREATE EXTENSION cyoda_wf" to load this file. \quit

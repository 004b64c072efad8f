"""cyoda_wf: Python helpers for processes running inside PostgreSQL.

entity_service  the Cyoda entity service for PL/Python processes
                (from cyoda_wf import entity_service)
data_ingestion  connections and ingest (from cyoda_wf import data_ingestion)
runtime         what cyoda_wf.load_functions and the functions it makes use
spi             the package's database access: plpy and kept plans
"""

"""cyoda_wf: Python helpers for processes running inside PostgreSQL.

entity_service  the Cyoda entity service for PL/Python processes
                (from cyoda_wf import entity_service)
runtime         what cyoda_wf.load_functions and the functions it makes use
"""

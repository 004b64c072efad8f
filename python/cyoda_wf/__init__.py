"""cyoda_wf: Python helpers for processes running inside PostgreSQL."""

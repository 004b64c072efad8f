CREATE EXTENSION IF NOT EXISTS cyoda_wf CASCADE;
SELECT extversion FROM pg_extension WHERE extname = 'cyoda_wf';

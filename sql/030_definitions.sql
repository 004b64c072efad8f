-- Native workflow definitions: import and export -----------------------------

CREATE FUNCTION cyoda_wf.import_workflows(model text, model_version integer, body jsonb)
RETURNS jsonb
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_import_workflows';

COMMENT ON FUNCTION cyoda_wf.import_workflows(text, integer, jsonb) IS
'Imports Cyoda workflow definitions ({"importMode": MERGE|REPLACE|ACTIVATE, "allowCycles": bool, "workflows": [...]}) into a model version; an invalid body is rejected whole (22023) and stores nothing. Returns {"model", "modelVersion", "importMode", "workflows": [names stored]}.';

CREATE FUNCTION cyoda_wf.export_workflows(model text, model_version integer)
RETURNS jsonb
LANGUAGE C STABLE STRICT
AS 'MODULE_PATHNAME', 'cyoda_wf_export_workflows';

COMMENT ON FUNCTION cyoda_wf.export_workflows(text, integer) IS
'Returns the workflows stored for a model version as {"entityName", "modelVersion", "workflows": [...]}: the imported definitions with defaults filled in, in stored order; import_workflows accepts it back.';

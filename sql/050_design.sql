-- The design front end and views of stored workflows ------------------------

CREATE FUNCTION cyoda_wf.validate_design(design jsonb)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design';
COMMENT ON FUNCTION cyoda_wf.validate_design(jsonb) IS
    'Check a Cyoda design without storing anything: one row per error or warning, with its JSON path; functions are looked up in schema public';

CREATE FUNCTION cyoda_wf.validate_design(design jsonb, function_schema text)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design';
COMMENT ON FUNCTION cyoda_wf.validate_design(jsonb, text) IS
    'Check a Cyoda design without storing anything, looking up its process and criteria functions in function_schema';

CREATE FUNCTION cyoda_wf.validate_design(design text)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design_text';
COMMENT ON FUNCTION cyoda_wf.validate_design(text) IS
    'Check a Cyoda design given as text (invalid JSON: SQLSTATE 22023 with the parser''s message)';

CREATE FUNCTION cyoda_wf.validate_design(design text, function_schema text)
    RETURNS TABLE (severity text, path text, message text)
    LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_validate_design_text';
COMMENT ON FUNCTION cyoda_wf.validate_design(text, text) IS
    'Check a Cyoda design given as text, looking up its functions in function_schema';

CREATE FUNCTION cyoda_wf.import_design(design jsonb, function_schema text DEFAULT 'public')
    RETURNS jsonb LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_import_design';
COMMENT ON FUNCTION cyoda_wf.import_design(jsonb, text) IS
    'Import every entity of a Cyoda design (model version 1, its type, sources, dependency, workflow); refused whole on any error; returns {entities, warnings}';

CREATE FUNCTION cyoda_wf.import_design(design text, function_schema text DEFAULT 'public')
    RETURNS jsonb LANGUAGE C VOLATILE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_import_design_text';
COMMENT ON FUNCTION cyoda_wf.import_design(text, text) IS
    'Import a Cyoda design given as text (invalid JSON: SQLSTATE 22023 with the parser''s message)';

CREATE FUNCTION cyoda_wf.diagram(model text, model_version integer DEFAULT 1,
                                 format text DEFAULT 'mermaid')
    RETURNS text LANGUAGE C STABLE STRICT AS 'MODULE_PATHNAME', 'cyoda_wf_diagram';
COMMENT ON FUNCTION cyoda_wf.diagram(text, integer, text) IS
    'The workflows of a model version as a Mermaid stateDiagram-v2 (format mermaid) or Graphviz DOT (format dot); manual transitions drawn differently; Cyoda''s default workflow when none is imported';

CREATE FUNCTION cyoda_wf.scaffold(model text DEFAULT NULL)
    RETURNS text LANGUAGE C STABLE AS 'MODULE_PATHNAME', 'cyoda_wf_scaffold';
COMMENT ON FUNCTION cyoda_wf.scaffold(text) IS
    'A SQL script creating a PL/Python stub for every process and criterion function of the model''s workflows (every model when NULL) that does not exist yet';

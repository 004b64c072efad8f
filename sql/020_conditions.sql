-- Conditions -----------------------------------------------------------------

-- Try a Cyoda condition (criterion) against some data, without a workflow.
CREATE FUNCTION cyoda_wf.check_condition(condition jsonb, data jsonb)
RETURNS boolean
LANGUAGE C STABLE STRICT PARALLEL SAFE
AS 'MODULE_PATHNAME', 'check_condition';

COMMENT ON FUNCTION cyoda_wf.check_condition(jsonb, jsonb) IS
'Compile a Cyoda condition (simple, group, lifecycle, array) and test it against data; lifecycle fields are unknown here and function criteria raise 22023. An invalid condition raises 22023 naming the path at fault.';

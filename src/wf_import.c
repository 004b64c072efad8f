/*-------------------------------------------------------------------------
 * wf_import.c
 *		Cyoda native workflow definitions: storage, import and export.
 *
 * cw_import_workflows() validates a whole import body first and only then
 * writes, as the extension owner, through SPI; every backend's definition
 * cache is then invalidated through a relcache invalidation of
 * cyoda_wf.workflow.
 *
 * Before it writes, an import plans itself (plan_import): which workflows
 * it adds, replaces, removes or deactivates, which states it removes, and
 * how many live entities it would strand (left on a workflow or in a state
 * that no longer exists).  An import that strands entities is refused
 * (55000) unless its options say "force"; with "dryRun" the plan is all it
 * returns, and nothing is stored or invalidated.
 *
 * The definitions themselves are validated and compiled by wf_compile.c.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "model.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

#include "reserved.h"
#include "wf_int.h"

PG_FUNCTION_INFO_V1(cyoda_wf_import_workflows);
PG_FUNCTION_INFO_V1(cyoda_wf_export_workflows);

/* Keys and values an import body allows (listed in errhints too). */
#define BODY_KEYS		"importMode, allowCycles, workflows, entityName, modelVersion"
#define IMPORT_MODES	"MERGE, REPLACE, ACTIVATE"
#define OPTION_KEYS		"force, dryRun"

/* Stranded (workflow, state) groups a refusal's errdetail lists. */
#define STRANDED_DETAIL_MAX 10

typedef enum ImportMode
{
	IMPORT_MERGE,
	IMPORT_REPLACE,
	IMPORT_ACTIVATE
} ImportMode;

static const char *const import_mode_names[] = {"MERGE", "REPLACE", "ACTIVATE"};

/* Saved identity while the engine writes its own tables. */
typedef struct EngineAccess
{
	CwSavedUser user;
	int			guc_level;
} EngineAccess;

/*
 * Reject a cycle that automatic transitions without criteria (not
 * disabled) can run on their own; iterative depth-first search.
 */
static void
check_cycles(CwWorkflow *wf)
{
	int			n = wf->nstates;
	char	   *color = palloc0(n);		/* 0 new, 1 on the path, 2 done */
	int		   *path = palloc(sizeof(int) * n);
	int		   *edge = palloc(sizeof(int) * n);	/* next transition to try */

	for (int root = 0; root < n; root++)
	{
		int			sp = 0;

		if (color[root] != 0)
			continue;
		path[0] = root;
		edge[0] = 0;
		color[root] = 1;
		while (sp >= 0)
		{
			CwState    *st = &wf->states[path[sp]];
			CwTransition *tr;
			int			to;

			if (edge[sp] >= st->ntransitions)
			{
				color[path[sp]] = 2;
				sp--;
				continue;
			}
			tr = &st->transitions[edge[sp]++];
			if (tr->manual || tr->disabled || tr->criterion != NULL)
				continue;
			to = tr->next;
			if (color[to] == 0)
			{
				sp++;
				path[sp] = to;
				edge[sp] = 0;
				color[to] = 1;
			}
			else if (color[to] == 1)
			{
				StringInfoData states;
				StringInfoData trans;
				int			start = sp;

				while (path[start] != to)
					start--;
				initStringInfo(&states);
				initStringInfo(&trans);
				for (int i = start; i <= sp; i++)
				{
					CwState    *s = &wf->states[path[i]];

					appendStringInfo(&states, "\"%s\" -> ", s->name);
					appendStringInfo(&trans, "%s\"%s\"", i > start ? ", " : "",
									 s->transitions[edge[i] - 1].name);
				}
				appendStringInfo(&states, "\"%s\"", wf->states[to].name);
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("invalid workflow \"%s\": automatic transitions without criteria form a cycle: %s",
								wf->name, states.data),
						 errdetail("The cycle runs through transition(s) %s.", trans.data),
						 errhint("Give one of these transitions a criterion, make it manual or disabled, or import with \"allowCycles\": true.")));
			}
		}
	}
	pfree(color);
	pfree(path);
	pfree(edge);
}

/* ------------------------------------------------------------------------
 * Import and export
 * ------------------------------------------------------------------------
 */

/* Raise 22023 "invalid import body: ...". */
static void
pg_attribute_printf(2, 3) pg_attribute_noreturn()
body_error(const char *hint, const char *fmt,...)
{
	va_list		args;
	char	   *msg;

	va_start(args, fmt);
	msg = cw_format_va(fmt, args);
	va_end(args);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid import body: %s", msg),
			 hint ? errhint("%s", hint) : 0));
	pg_unreachable();
}

/* Check a model name and version given to import or export. */
static void
check_model_key(const char *model, int32 version)
{
	if (model == NULL || model[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model name: must not be empty")));
	if (pg_mbstrlen(model) > CW_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model name \"%.*s...\": longer than %d characters",
						pg_mbcliplen(model, strlen(model), 40), model, CW_MAX_NAME_LEN)));
	if (version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid model version %d: must be 1 or more", version)));
}

/*
 * Switch to the extension owner, with a safe search_path, for the engine's
 * own SQL; end_engine_access() undoes it on success, restore_engine_user()
 * (in PG_FINALLY) restores the identity on every path.
 */
static void
begin_engine_access(EngineAccess *ea)
{
	cw_become_engine_owner(&ea->user);
	ea->guc_level = NewGUCNestLevel();
	(void) set_config_option("search_path", "pg_catalog, pg_temp",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

static void
end_engine_access(EngineAccess *ea)
{
	AtEOXact_GUC(true, ea->guc_level);
}

static void
restore_engine_user(EngineAccess *ea)
{
	cw_restore_user(&ea->user);
}

/* Run one statement with $n parameters; raise on an unexpected result. */
static void
spi_exec(const char *sql, int nargs, Oid *types, Datum *values, const char *nulls,
		 int expected)
{
	int			rc = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (rc != expected)
		elog(ERROR, "cyoda_wf: SPI_execute_with_args failed (%s): %s",
			 SPI_result_code_string(rc), sql);
}

/* The function_schema of a stored model row, or NULL (palloc'd in cxt). */
static char *
model_function_schema(Datum model, Datum version, bool lock, MemoryContext cxt)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {model, version};
	bool		isnull;
	Datum		d;

	spi_exec(lock ?
			 "SELECT function_schema FROM cyoda_wf.model"
			 " WHERE name = $1 AND version = $2 FOR UPDATE" :
			 "SELECT function_schema FROM cyoda_wf.model"
			 " WHERE name = $1 AND version = $2",
			 2, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

/* An import body, parsed. */
typedef struct ImportBody
{
	ImportMode	mode;
	bool		allow_cycles;
	int			nworkflows;
	Jsonb	  **workflows;		/* each element, as its own Jsonb */
} ImportBody;

/* Parse and check the shape of an import body (not the workflows themselves). */
static void
parse_import_body(Jsonb *body, const char *model, int32 version, ImportBody *ib)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;
	bool		have_workflows = false;

	ib->mode = IMPORT_MERGE;
	ib->allow_cycles = false;
	ib->nworkflows = 0;
	ib->workflows = NULL;

	if (!JB_ROOT_IS_OBJECT(body))
		body_error("The body is {\"importMode\": \"MERGE\", \"workflows\": [...]}.",
				   "must be an object, not %s", cw_jb_kind(body));

	it = cw_jb_object_iter(&body->root);
	while (cw_jb_object_next(&it, &k, &v))
	{
		if (cw_jbv_eq(&k, "importMode"))
		{
			int			m;

			if (v.type != jbvString)
				body_error(NULL, "\"importMode\" must be a string, not %s", cw_jbv_kind(&v));
			for (m = 0; m < lengthof(import_mode_names); m++)
				if (v.val.string.len == strlen(import_mode_names[m]) &&
					pg_strncasecmp(v.val.string.val, import_mode_names[m],
								   v.val.string.len) == 0)
					break;
			if (m == lengthof(import_mode_names))
				body_error(NULL, "\"importMode\" must be one of %s, not \"%s\"",
						   IMPORT_MODES, cw_jbv_display(&v));
			ib->mode = (ImportMode) m;
		}
		else if (cw_jbv_eq(&k, "allowCycles"))
		{
			if (v.type != jbvBool)
				body_error(NULL, "\"allowCycles\" must be a boolean, not %s", cw_jbv_kind(&v));
			ib->allow_cycles = v.val.boolean;
		}
		else if (cw_jbv_eq(&k, "workflows"))
		{
			JsonbIterator *wit;
			JsonbValue	wv;

			if (!cw_jbv_is_container(&v, true))
				body_error(NULL, "\"workflows\" must be an array, not %s", cw_jbv_kind(&v));
			ib->nworkflows = JsonContainerSize(v.val.binary.data);
			ib->workflows = palloc(sizeof(Jsonb *) * Max(ib->nworkflows, 1));
			wit = cw_jb_array_iter(v.val.binary.data);
			for (int i = 0; cw_jb_array_next(&wit, &wv); i++)
				ib->workflows[i] = JsonbValueToJsonb(&wv);
			have_workflows = true;
		}
		else if (cw_jbv_eq(&k, "entityName"))
		{
			if (v.type != jbvString)
				body_error(NULL, "\"entityName\" must be a string, not %s", cw_jbv_kind(&v));
			if (!cw_jbv_eq(&v, model))
				body_error("Leave \"entityName\" out, or make it the model imported into.",
						   "\"entityName\" \"%s\" differs from the model \"%s\"",
						   cw_jbv_display(&v), model);
		}
		else if (cw_jbv_eq(&k, "modelVersion"))
		{
			int64		mv;

			if (v.type != jbvNumeric)
				body_error(NULL, "\"modelVersion\" must be an integer, not %s", cw_jbv_kind(&v));
			if (cw_jbv_int64(&v, PG_INT32_MIN, PG_INT32_MAX, &mv) != 0 || mv != version)
				body_error("Leave \"modelVersion\" out, or make it the model version imported into.",
						   "\"modelVersion\" %s differs from the model version %d",
						   numeric_normalize(v.val.numeric), version);
		}
		else
			body_error("Allowed keys: " BODY_KEYS ".",
					   "unknown key \"%s\"", cw_jbv_display(&k));
	}
	if (!have_workflows)
		body_error("The body is {\"importMode\": \"MERGE\", \"workflows\": [...]}.",
				   "\"workflows\" is required");
}

/* errcontext of an import: which workflow of the body. */
static void
import_error_context(void *arg)
{
	int			pos = *(int *) arg;

	if (pos > 0)
		errcontext("workflow %d of the import body", pos);
}

/* {"name": wf's name, "states": [its state names]}, built in cxt. */
static Jsonb *
workflow_states(CwWorkflow *wf, MemoryContext cxt)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);
	JsonbParseState *ps = NULL;
	Jsonb	   *res;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	cw_jb_push_pair(&ps, "name", wf->name);
	cw_jb_push_key(&ps, "states");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < wf->nstates; i++)
		cw_jb_push_string(&ps, WJB_ELEM, wf->states[i].name);
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	res = JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
	MemoryContextSwitchTo(old);
	return res;
}

/*
 * Validate every workflow of the body (compiled in a scratch context, then
 * discarded); returns their normalized definitions, names and states
 * (workflow_states).
 */
static void
validate_import(ImportBody *ib, const char *model, const char *function_schema,
				Oid caller, Jsonb **normalized, char **names, Jsonb **states)
{
	MemoryContext scratch;
	const char *dup;
	int			pos = 0;
	ErrorContextCallback errcb;

	scratch = AllocSetContextCreate(CurrentMemoryContext, "cyoda_wf import validation",
									ALLOCSET_DEFAULT_SIZES);
	errcb.callback = import_error_context;
	errcb.arg = &pos;
	errcb.previous = error_context_stack;
	error_context_stack = &errcb;

	for (int i = 0; i < ib->nworkflows; i++)
	{
		CwWorkflow *wf;

		pos = i + 1;
		wf = cw_compile_workflow(ib->workflows[i], model, caller, function_schema,
								 &normalized[i], scratch);
		names[i] = pstrdup(wf->name);
		states[i] = workflow_states(wf, CurrentMemoryContext);
		if (!ib->allow_cycles)
			check_cycles(wf);
		/* the importer must be allowed to run the functions it names */
		cw_check_import_access(wf, caller);
		MemoryContextReset(scratch);
	}
	pos = 0;

	dup = cw_find_duplicate((const char **) names, ib->nworkflows);
	if (dup)
		body_error("Workflow names are unique per model.",
				   "duplicate workflow name \"%s\"", dup);

	error_context_stack = errcb.previous;
	MemoryContextDelete(scratch);
}

/*
 * Make sure the model row exists and lock it against concurrent imports
 * (inside SPI, as the owner); returns the function schema the workflows
 * are stored with.
 */
static char *
lock_model_row(Datum model, Datum version, const char *function_schema)
{
	char	   *store_schema;
	Oid			ensure_types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		ensure_values[3];

	ensure_values[0] = model;
	ensure_values[1] = version;
	ensure_values[2] = CStringGetTextDatum(function_schema ? function_schema : "public");
	spi_exec("INSERT INTO cyoda_wf.model (name, version, function_schema)"
			 " VALUES ($1, $2, $3) ON CONFLICT (name, version) DO NOTHING",
			 3, ensure_types, ensure_values, NULL, SPI_OK_INSERT);
	store_schema = model_function_schema(model, version, true, CurrentMemoryContext);
	if (function_schema)
		store_schema = pstrdup(function_schema);
	else if (store_schema == NULL)
		store_schema = pstrdup("public");
	return store_schema;
}

/*
 * What an import would change, as the "plan" part of a dry run's report:
 * {"added", "replaced", "removed", "deactivated": [workflow names],
 *  "statesRemoved": [{"workflow", "state"}], "stranded": n,
 *  "strandedBy": [{"workflow", "state", "entities"}]}.
 * A live entity is stranded when, after the import, its workflow is not
 * one of the model version's (nor Cyoda's default workflow) or its state is
 * not a state of its workflow.  `states` holds workflow_states() of each
 * imported workflow.  Inside SPI, as the owner; reads only.
 */
static Jsonb *
plan_import(ImportBody *ib, Datum model, Datum version, Jsonb **states)
{
	Oid			types[5] = {TEXTOID, INT4OID, JSONBOID, TEXTOID, JSONBOID};
	Datum		values[5];
	JsonbParseState *ps = NULL;
	CwWorkflow *dflt = cw_default_workflow("public", CurrentMemoryContext);
	bool		isnull;
	Datum		d;

	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < ib->nworkflows; i++)
	{
		JsonbValue	v;

		cw_jb_as_value(states[i], &v);
		pushJsonbValue(&ps, WJB_ELEM, &v);
	}
	values[0] = model;
	values[1] = version;
	values[2] = JsonbPGetDatum(JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_ARRAY, NULL)));
	values[3] = CStringGetTextDatum(import_mode_names[ib->mode]);
	values[4] = JsonbPGetDatum(workflow_states(dflt, CurrentMemoryContext));

	spi_exec("WITH imported AS ("
			 "  SELECT i.value ->> 'name' AS name, i.value -> 'states' AS states, i.ord"
			 "    FROM pg_catalog.jsonb_array_elements($3) WITH ORDINALITY AS i(value, ord)),"
			 " stored AS ("
			 "  SELECT w.name, w.ord,"
			 "         COALESCE((SELECT pg_catalog.jsonb_agg(k.k)"
			 "                     FROM pg_catalog.jsonb_object_keys(w.definition -> 'states') AS k(k)),"
			 "                  '[]') AS states,"
			 "         w.definition -> 'active' IS DISTINCT FROM 'false'::jsonb AS active"
			 "    FROM cyoda_wf.workflow w WHERE w.model = $1 AND w.model_version = $2),"
			 " after AS ("
			 "  SELECT i.name, i.states, 0 AS pref FROM imported i"
			 "  UNION ALL"
			 "  SELECT s.name, s.states, 1 FROM stored s"
			 "   WHERE $4 <> 'REPLACE' AND NOT EXISTS (SELECT 1 FROM imported i WHERE i.name = s.name)"
			 "  UNION ALL"
			 "  SELECT $5 ->> 'name', $5 -> 'states', 2),"
			 " groups AS ("
			 "  SELECT e.workflow, e.state, pg_catalog.count(*) AS n FROM cyoda_wf.entity e"
			 "   WHERE e.model = $1 AND e.model_version = $2 AND e.workflow IS NOT NULL"
			 "   GROUP BY e.workflow, e.state),"
			 " stranded AS ("
			 "  SELECT g.* FROM groups g"
			 "   WHERE NOT EXISTS (SELECT 1 FROM (SELECT a.states FROM after a WHERE a.name = g.workflow"
			 "                                     ORDER BY a.pref LIMIT 1) f"
			 "                      WHERE g.state IS NOT NULL AND f.states ? g.state))"
			 " SELECT pg_catalog.jsonb_build_object("
			 "  'added', COALESCE((SELECT pg_catalog.jsonb_agg(i.name ORDER BY i.ord) FROM imported i"
			 "     WHERE NOT EXISTS (SELECT 1 FROM stored s WHERE s.name = i.name)), '[]'),"
			 "  'replaced', COALESCE((SELECT pg_catalog.jsonb_agg(i.name ORDER BY i.ord) FROM imported i"
			 "     WHERE EXISTS (SELECT 1 FROM stored s WHERE s.name = i.name)), '[]'),"
			 "  'removed', COALESCE((SELECT pg_catalog.jsonb_agg(s.name ORDER BY s.ord) FROM stored s"
			 "     WHERE $4 = 'REPLACE' AND NOT EXISTS (SELECT 1 FROM imported i WHERE i.name = s.name)), '[]'),"
			 "  'deactivated', COALESCE((SELECT pg_catalog.jsonb_agg(s.name ORDER BY s.ord) FROM stored s"
			 "     WHERE $4 = 'ACTIVATE' AND s.active"
			 "       AND NOT EXISTS (SELECT 1 FROM imported i WHERE i.name = s.name)), '[]'),"
			 "  'statesRemoved', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
			 "        'workflow', s.name, 'state', st.st) ORDER BY s.ord, st.st)"
			 "     FROM stored s JOIN imported i ON i.name = s.name,"
			 "          pg_catalog.jsonb_array_elements_text(s.states) AS st(st)"
			 "     WHERE NOT i.states ? st.st), '[]'),"
			 "  'stranded', (SELECT COALESCE(pg_catalog.sum(x.n), 0) FROM stranded x),"
			 "  'strandedBy', COALESCE((SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object("
			 "        'workflow', x.workflow, 'state', x.state, 'entities', x.n)"
			 "        ORDER BY x.n DESC, x.workflow, x.state) FROM stranded x), '[]'))",
			 5, types, values, NULL, SPI_OK_SELECT);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "cyoda_wf: unexpected null import plan");
	return DatumGetJsonbPCopy(d);
}

/* The number a plan_import() report holds under key. */
static int64
plan_count(Jsonb *plan, const char *key)
{
	JsonbValue	v;
	int64		n = 0;

	if (cw_jb_key(&plan->root, key, &v) == NULL || v.type != jbvNumeric ||
		cw_jbv_int64(&v, 0, PG_INT64_MAX, &n) != 0)
		elog(ERROR, "cyoda_wf: import plan without \"%s\"", key);
	return n;
}

/*
 * Refuse (55000) an import whose plan strands entities: errmsg counts them,
 * errdetail lists the first STRANDED_DETAIL_MAX workflow/state groups.
 */
static void
refuse_stranding(Jsonb *plan, const char *model, int32 version, int64 stranded)
{
	JsonbValue	by;
	JsonbIterator *it;
	JsonbValue	g;
	StringInfoData detail;
	int			shown = 0;
	int			ngroups;

	if (cw_jb_key(&plan->root, "strandedBy", &by) == NULL || !cw_jbv_is_container(&by, true))
		elog(ERROR, "cyoda_wf: import plan without \"strandedBy\"");
	ngroups = JsonContainerSize(by.val.binary.data);
	initStringInfo(&detail);
	it = cw_jb_array_iter(by.val.binary.data);
	while (cw_jb_array_next(&it, &g))
	{
		JsonbValue	wf,
					st,
					n;
		int64		count = 0;

		if (shown == STRANDED_DETAIL_MAX)
			continue;
		if (!cw_jbv_is_container(&g, false) ||
			cw_jb_key(g.val.binary.data, "workflow", &wf) == NULL ||
			cw_jb_key(g.val.binary.data, "state", &st) == NULL ||
			cw_jb_key(g.val.binary.data, "entities", &n) == NULL ||
			cw_jbv_int64(&n, 0, PG_INT64_MAX, &count) != 0)
			elog(ERROR, "cyoda_wf: malformed import plan");
		appendStringInfo(&detail, "%sworkflow \"%s\" state \"%s\": " INT64_FORMAT,
						 shown > 0 ? "; " : "", cw_jbv_display(&wf),
						 st.type == jbvNull ? "" : cw_jbv_display(&st), count);
		shown++;
	}
	if (ngroups > shown)
		appendStringInfo(&detail, "; and %d more", ngroups - shown);
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("import into model \"%s\" version %d would strand " INT64_FORMAT " %s",
					model, version, stranded, stranded == 1 ? "entity" : "entities"),
			 errdetail("Entities left on a workflow or in a state that would no longer exist: %s.",
					   detail.data),
			 errhint("Import with \"importMode\": \"ACTIVATE\" to keep the old workflows for the entities on them, "
					 "move the entities first with cyoda_wf.move_entity, "
					 "or give cyoda_wf.import_workflows the options '{\"force\": true}' to import anyway.")));
}

/* Write the validated workflows of one import (inside SPI, as the owner, model row locked). */
static void
store_import(ImportBody *ib, Datum model, Datum version, const char *store_schema,
			 Oid caller, Jsonb **normalized, char **names)
{
	SPIPlanPtr	upsert;
	Oid			key_types[2] = {TEXTOID, INT4OID};
	Datum		key_values[2] = {model, version};
	Oid			up_types[6] = {TEXTOID, INT4OID, TEXTOID, JSONBOID, TEXTOID, REGROLEOID};

	if (ib->mode == IMPORT_REPLACE)
		spi_exec("DELETE FROM cyoda_wf.workflow WHERE model = $1 AND model_version = $2",
				 2, key_types, key_values, NULL, SPI_OK_DELETE);

	/* a replaced workflow keeps its ord; a new one goes last */
	upsert = SPI_prepare("INSERT INTO cyoda_wf.workflow"
						 " (model, model_version, name, ord, definition, function_schema, owner)"
						 " VALUES ($1, $2, $3,"
						 "  (SELECT COALESCE(max(w.ord), 0) + 1 FROM cyoda_wf.workflow w"
						 "    WHERE w.model = $1 AND w.model_version = $2),"
						 "  $4, $5, $6)"
						 " ON CONFLICT (model, model_version, name) DO UPDATE"
						 " SET definition = EXCLUDED.definition,"
						 "     function_schema = EXCLUDED.function_schema,"
						 "     owner = EXCLUDED.owner,"
						 "     imported_at = EXCLUDED.imported_at",
						 6, up_types);
	if (upsert == NULL)
		elog(ERROR, "cyoda_wf: SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (int i = 0; i < ib->nworkflows; i++)
	{
		Datum		values[6];
		int			rc;

		values[0] = model;
		values[1] = version;
		values[2] = CStringGetTextDatum(names[i]);
		values[3] = JsonbPGetDatum(normalized[i]);
		values[4] = CStringGetTextDatum(store_schema);
		values[5] = ObjectIdGetDatum(caller);
		rc = SPI_execute_plan(upsert, values, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "cyoda_wf: storing workflow \"%s\" failed: %s",
				 names[i], SPI_result_code_string(rc));
	}
	SPI_freeplan(upsert);

	if (ib->mode == IMPORT_ACTIVATE)
	{
		Oid			types[3] = {TEXTOID, INT4OID, TEXTARRAYOID};
		Datum		values[3];
		Datum	   *elems = palloc(sizeof(Datum) * Max(ib->nworkflows, 1));

		for (int i = 0; i < ib->nworkflows; i++)
			elems[i] = CStringGetTextDatum(names[i]);
		values[0] = model;
		values[1] = version;
		values[2] = PointerGetDatum(construct_array(elems, ib->nworkflows, TEXTOID,
													-1, false, TYPALIGN_INT));
		spi_exec("UPDATE cyoda_wf.workflow"
				 " SET definition = jsonb_set(definition, '{active}', 'false')"
				 " WHERE model = $1 AND model_version = $2 AND name <> ALL ($3)"
				 "   AND definition -> 'active' IS DISTINCT FROM 'false'::jsonb",
				 3, types, values, NULL, SPI_OK_UPDATE);
	}
}

/* The summary an import returns; "stranded" only when a forced import stranded entities. */
static Jsonb *
import_summary(const char *model, int32 version, ImportMode mode, char **names, int n,
			   int64 stranded)
{
	JsonbParseState *ps = NULL;
	JsonbValue	k,
				v;
	JsonbValue *res;

#define PUSH_KEY(s) \
	(k.type = jbvString, k.val.string.val = (s), k.val.string.len = strlen(s), \
	 pushJsonbValue(&ps, WJB_KEY, &k))
#define SET_STRING(s) \
	(v.type = jbvString, v.val.string.val = (char *) (s), v.val.string.len = strlen(s))

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	PUSH_KEY("model");
	SET_STRING(model);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	PUSH_KEY("modelVersion");
	v.type = jbvNumeric;
	v.val.numeric = int64_to_numeric(version);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	PUSH_KEY("importMode");
	SET_STRING(import_mode_names[mode]);
	pushJsonbValue(&ps, WJB_VALUE, &v);
	PUSH_KEY("workflows");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (int i = 0; i < n; i++)
	{
		SET_STRING(names[i]);
		pushJsonbValue(&ps, WJB_ELEM, &v);
	}
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	if (stranded > 0)
	{
		PUSH_KEY("stranded");
		v.type = jbvNumeric;
		v.val.numeric = int64_to_numeric(stranded);
		pushJsonbValue(&ps, WJB_VALUE, &v);
	}
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

#undef PUSH_KEY
#undef SET_STRING
	return JsonbValueToJsonb(res);
}

/* Parse import_workflows' options: {"force": bool, "dryRun": bool}. */
void
cw_import_parse_options(Jsonb *options, CwImportOptions *opts)
{
	JsonbIterator *it;
	JsonbValue	k,
				v;

	opts->force = false;
	opts->dry_run = false;
	if (options == NULL)
		return;
	if (!JB_ROOT_IS_OBJECT(options) || JB_ROOT_IS_SCALAR(options))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid import options: must be an object, not %s", cw_jb_kind(options)),
				 errhint("Allowed keys: " OPTION_KEYS ".")));
	it = cw_jb_object_iter(&options->root);
	while (cw_jb_object_next(&it, &k, &v))
	{
		bool	   *target;

		if (cw_jbv_eq(&k, "force"))
			target = &opts->force;
		else if (cw_jbv_eq(&k, "dryRun"))
			target = &opts->dry_run;
		else
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid import options: unknown key \"%s\"", cw_jbv_display(&k)),
					 errhint("Allowed keys: " OPTION_KEYS ".")));
		if (v.type != jbvBool)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid import options: \"%s\" must be a boolean, not %s",
							cw_jbv_display(&k), cw_jbv_kind(&v))));
		*target = v.val.boolean;
	}
}

/* A dry run's report: model, mode and names of the body, then the plan's keys. */
static Jsonb *
dry_run_report(Jsonb *summary, Jsonb *plan)
{
	JsonbParseState *ps = NULL;
	JsonbIterator *it;
	JsonbValue	k,
				v;

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	cw_jb_push_key(&ps, "dryRun");
	v.type = jbvBool;
	v.val.boolean = true;
	pushJsonbValue(&ps, WJB_VALUE, &v);
	for (int part = 0; part < 2; part++)
	{
		it = cw_jb_object_iter(&(part == 0 ? summary : plan)->root);
		while (cw_jb_object_next(&it, &k, &v))
		{
			pushJsonbValue(&ps, WJB_KEY, &k);
			pushJsonbValue(&ps, WJB_VALUE, &v);
		}
	}
	return JsonbValueToJsonb(pushJsonbValue(&ps, WJB_END_OBJECT, NULL));
}

/*
 * Import a body of workflow definitions into a model version: validate all,
 * lock the model row, plan (refusing to strand entities unless forced),
 * then store (as the extension owner), then invalidate every backend's
 * definition cache.  function_schema NULL keeps the model's (or 'public').
 * opts NULL: no options.  A dry run validates and plans only, and returns
 * the plan (dry_run_report).
 */
Jsonb *
cw_import_workflows(const char *model, int32 version, Jsonb *body,
					const char *function_schema, const CwImportOptions *opts)
{
	Oid			caller = GetUserId();
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext work;
	ImportBody	ib;
	Jsonb	  **normalized;
	char	  **names;
	Jsonb	  **states;
	Datum		model_d;
	Datum		version_d;
	EngineAccess ea;
	Jsonb	   *result;
	Jsonb	   *plan = NULL;
	int64		stranded = 0;
	bool		dry_run = opts != NULL && opts->dry_run;
	bool		force = opts != NULL && opts->force;

	check_model_key(model, version);
	cw_reserved_refuse_import(model);

	work = AllocSetContextCreate(callercxt, "cyoda_wf import", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);

	parse_import_body(body, model, version, &ib);
	normalized = palloc0(sizeof(Jsonb *) * Max(ib.nworkflows, 1));
	names = palloc0(sizeof(char *) * Max(ib.nworkflows, 1));
	states = palloc0(sizeof(Jsonb *) * Max(ib.nworkflows, 1));
	model_d = CStringGetTextDatum(model);
	version_d = Int32GetDatum(version);

	begin_engine_access(&ea);
	PG_TRY();
	{
		char	   *schema = function_schema ? pstrdup(function_schema) : NULL;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");

		/* validate everything first: an invalid body stores nothing */
		if (schema == NULL)
			schema = model_function_schema(model_d, version_d, false, work);
		MemoryContextSwitchTo(work);
		validate_import(&ib, model, schema ? schema : "public", caller,
						normalized, names, states);

		if (dry_run)
			plan = plan_import(&ib, model_d, version_d, states);
		else
		{
			char	   *store_schema = lock_model_row(model_d, version_d, function_schema);

			plan = plan_import(&ib, model_d, version_d, states);
			stranded = plan_count(plan, "stranded");
			if (stranded > 0 && !force)
				refuse_stranding(plan, model, version, stranded);
			store_import(&ib, model_d, version_d, store_schema, caller, normalized, names);
		}

		SPI_finish();
		end_engine_access(&ea);
	}
	PG_FINALLY();
	{
		restore_engine_user(&ea);
	}
	PG_END_TRY();

	if (!dry_run)
		CacheInvalidateRelcacheByRelid(cw_relid("workflow"));

	MemoryContextSwitchTo(callercxt);
	result = import_summary(model, version, ib.mode, names, ib.nworkflows, stranded);
	if (dry_run)
		result = dry_run_report(result, plan);
	MemoryContextDelete(work);
	return result;
}

/* The stored workflows of a model version, in export shape. */
static Jsonb *
export_workflows(const char *model, int32 version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	EngineAccess ea;
	volatile Datum result = (Datum) 0;

	values[0] = CStringGetTextDatum(model);
	values[1] = Int32GetDatum(version);

	begin_engine_access(&ea);
	PG_TRY();
	{
		int			rc;
		bool		isnull;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");
		rc = SPI_execute_with_args("SELECT jsonb_build_object("
								   "  'entityName', $1::text, 'modelVersion', $2::integer,"
								   "  'workflows', COALESCE(jsonb_agg(w.definition ORDER BY w.ord),"
								   "                        '[]'::jsonb))"
								   " FROM cyoda_wf.workflow w"
								   " WHERE w.model = $1 AND w.model_version = $2",
								   2, types, values, NULL, true, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "cyoda_wf: reading workflows failed: %s",
				 SPI_result_code_string(rc));
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
			elog(ERROR, "cyoda_wf: unexpected null export");
		result = SPI_datumTransfer(result, false, -1);
		SPI_finish();
		end_engine_access(&ea);
	}
	PG_FINALLY();
	{
		restore_engine_user(&ea);
	}
	PG_END_TRY();

	return DatumGetJsonbP(result);
}

/*
 * SQL: cyoda_wf.import_workflows(model text, model_version int, body jsonb
 * [, options jsonb])
 */
Datum
cyoda_wf_import_workflows(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);
	Jsonb	   *body = PG_GETARG_JSONB_P(2);
	CwImportOptions opts;

	cw_import_parse_options(PG_NARGS() > 3 ? PG_GETARG_JSONB_P(3) : NULL, &opts);
	cw_model_require_registered(model, version, "import workflows into");
	PG_RETURN_JSONB_P(cw_import_workflows(model, version, body, NULL, &opts));
}

/* SQL: cyoda_wf.export_workflows(model text, model_version int) */
Datum
cyoda_wf_export_workflows(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);

	cw_model_require_registered(model, version, "export the workflows of");
	PG_RETURN_JSONB_P(export_workflows(model, version));
}

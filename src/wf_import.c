/*-------------------------------------------------------------------------
 * wf_import.c
 *		Cyoda native workflow definitions: storage, import and export.
 *
 * cw_import_workflows() validates a whole import body first and only then
 * writes, as the extension owner, through SPI; every backend's definition
 * cache is then invalidated through a relcache invalidation of
 * cyoda_wf.workflow.
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

/*
 * Validate every workflow of the body (compiled in a scratch context, then
 * discarded); returns their normalized definitions and names.
 */
static void
validate_import(ImportBody *ib, const char *model, const char *function_schema,
				Oid caller, Jsonb **normalized, char **names)
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

/* Write the validated workflows of one import (inside SPI, as the owner). */
static void
store_import(ImportBody *ib, Datum model, Datum version, const char *function_schema,
			 Oid caller, Jsonb **normalized, char **names)
{
	char	   *store_schema;
	SPIPlanPtr	upsert;
	Oid			ensure_types[3] = {TEXTOID, INT4OID, TEXTOID};
	Datum		ensure_values[3];
	Oid			key_types[2] = {TEXTOID, INT4OID};
	Datum		key_values[2] = {model, version};
	Oid			up_types[6] = {TEXTOID, INT4OID, TEXTOID, JSONBOID, TEXTOID, REGROLEOID};

	/* the model row exists, and is locked against concurrent imports */
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

/* The summary an import returns. */
static Jsonb *
import_summary(const char *model, int32 version, ImportMode mode, char **names, int n)
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
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);

#undef PUSH_KEY
#undef SET_STRING
	return JsonbValueToJsonb(res);
}

/*
 * Import a body of workflow definitions into a model version: validate all,
 * then store (as the extension owner), then invalidate every backend's
 * definition cache.  function_schema NULL keeps the model's (or 'public').
 */
Jsonb *
cw_import_workflows(const char *model, int32 version, Jsonb *body,
					const char *function_schema)
{
	Oid			caller = GetUserId();
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext work;
	ImportBody	ib;
	Jsonb	  **normalized;
	char	  **names;
	Datum		model_d;
	Datum		version_d;
	EngineAccess ea;
	Jsonb	   *result;

	check_model_key(model, version);
	cw_reserved_refuse_import(model);

	work = AllocSetContextCreate(callercxt, "cyoda_wf import", ALLOCSET_DEFAULT_SIZES);
	MemoryContextSwitchTo(work);

	parse_import_body(body, model, version, &ib);
	normalized = palloc0(sizeof(Jsonb *) * Max(ib.nworkflows, 1));
	names = palloc0(sizeof(char *) * Max(ib.nworkflows, 1));
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
						normalized, names);

		store_import(&ib, model_d, version_d, function_schema, caller, normalized, names);

		SPI_finish();
		end_engine_access(&ea);
	}
	PG_FINALLY();
	{
		restore_engine_user(&ea);
	}
	PG_END_TRY();

	CacheInvalidateRelcacheByRelid(cw_relid("workflow"));

	MemoryContextSwitchTo(callercxt);
	result = import_summary(model, version, ib.mode, names, ib.nworkflows);
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

/* SQL: cyoda_wf.import_workflows(model text, model_version int, body jsonb) */
Datum
cyoda_wf_import_workflows(PG_FUNCTION_ARGS)
{
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(0));
	int32		version = PG_GETARG_INT32(1);
	Jsonb	   *body = PG_GETARG_JSONB_P(2);

	cw_model_require_registered(model, version, "import workflows into");
	PG_RETURN_JSONB_P(cw_import_workflows(model, version, body, NULL));
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

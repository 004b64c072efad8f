/*-------------------------------------------------------------------------
 * design.c
 *		The design front end's SQL entry points: validate_design() and
 *		import_design(), from jsonb or from text.
 *
 * validate_design() runs every check (design_check.c) and stores nothing.
 * import_design() refuses a design with any error (22023), else writes the
 * model rows as the extension owner and REPLACEs each entity's workflows
 * through cw_import_workflows() with the caller's identity, so the caller
 * owns the workflows (processes run as the importer).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include <ctype.h>

#include "catalog/pg_type.h"
#include "common/jsonapi.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/tuplestore.h"

#include "reserved.h"
#include "design_int.h"

PG_FUNCTION_INFO_V1(cyoda_wf_validate_design);
PG_FUNCTION_INFO_V1(cyoda_wf_validate_design_text);
PG_FUNCTION_INFO_V1(cyoda_wf_import_design);
PG_FUNCTION_INFO_V1(cyoda_wf_import_design_text);

/* ------------------------------------------------------------------------
 * Parsing text
 * ------------------------------------------------------------------------
 */

/* A hint for text that is Python rather than JSON, or has comments. */
static const char *
json_text_hint(const char *s)
{
	bool		python = false;
	bool		comment = false;
	const char *p = s;

	while (*p)
	{
		if (*p == '"')
		{
			for (p++; *p && *p != '"'; p++)
				if (*p == '\\' && p[1])
					p++;
			if (*p)
				p++;
		}
		else if (*p == '/' && (p[1] == '/' || p[1] == '*'))
		{
			comment = true;
			p += 2;
		}
		else if (isalpha((unsigned char) *p) || *p == '_')
		{
			const char *w = p;

			while (isalnum((unsigned char) *p) || *p == '_')
				p++;
			if ((p - w == 4 && (strncmp(w, "None", 4) == 0 || strncmp(w, "True", 4) == 0)) ||
				(p - w == 5 && strncmp(w, "False", 5) == 0))
				python = true;
		}
		else
			p++;
	}
	if (python && comment)
		return "Write Python's None, True and False as null, true and false, and remove the // comments: JSON has none.";
	if (python)
		return "The design uses Python's None, True or False: write null, true and false instead.";
	if (comment)
		return "JSON has no comments: remove the // and /* */ parts.";
	return NULL;
}

/* Parse a design given as text; 22023 with a clear message when invalid. */
static Jsonb *
design_parse_text(text *t)
{
	char	   *s = text_to_cstring(t);
	JsonLexContext *lex;
	JsonParseErrorType rc;

#if PG_VERSION_NUM >= 170000
	lex = makeJsonLexContextCstringLen(NULL, s, strlen(s), GetDatabaseEncoding(), true);
#else
	lex = makeJsonLexContextCstringLen(s, strlen(s), GetDatabaseEncoding(), true);
#endif
	rc = pg_parse_json(lex, &nullSemAction);
	if (rc != JSON_SUCCESS)
	{
		const char *hint = json_text_hint(s);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("design is not valid JSON: %s", json_errdetail(rc, lex)),
				 errdetail("The JSON parser stopped on line %d of the design.",
						   lex->line_number),
				 hint ? errhint("%s", hint) : 0));
	}
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(s)));
}

/* The function_schema argument: not empty. */
static char *
design_schema_arg(text *t)
{
	char	   *s = text_to_cstring(t);

	if (s[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("function_schema must not be empty"),
				 errhint("Process and criteria functions are looked up in this schema; the default is public.")));
	return s;
}

/* ------------------------------------------------------------------------
 * validate_design()
 * ------------------------------------------------------------------------
 */

/* Return the issues of a design as rows (severity, path, message). */
static Datum
validate_rows(FunctionCallInfo fcinfo, Jsonb *design, const char *function_schema)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	TupleDesc	tupdesc;
	Tuplestorestate *store;
	MemoryContext oldcxt;
	Design		d;
	ListCell   *lc;

	if (rsinfo == NULL || !IsA(rsinfo, ReturnSetInfo) ||
		!(rsinfo->allowedModes & SFRM_Materialize))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("validate_design() must be called in a context that accepts a set")));

	cw_design_check(&d, design, function_schema);

	oldcxt = MemoryContextSwitchTo(rsinfo->econtext->ecxt_per_query_memory);
	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "cyoda_wf: validate_design must return a row type");
	store = tuplestore_begin_heap(true, false, work_mem);
	rsinfo->returnMode = SFRM_Materialize;
	rsinfo->setResult = store;
	rsinfo->setDesc = tupdesc;
	MemoryContextSwitchTo(oldcxt);

	foreach(lc, d.issues)
	{
		DesignIssue *is = lfirst(lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = CStringGetTextDatum(is->error ? "error" : "warning");
		values[1] = CStringGetTextDatum(is->path);
		values[2] = CStringGetTextDatum(is->message);
		tuplestore_putvalues(store, tupdesc, values, nulls);
	}
	return (Datum) 0;
}

/* SQL: cyoda_wf.validate_design(design jsonb [, function_schema text]) */
Datum
cyoda_wf_validate_design(PG_FUNCTION_ARGS)
{
	Jsonb	   *design = PG_GETARG_JSONB_P(0);
	char	   *schema = PG_NARGS() > 1 ? design_schema_arg(PG_GETARG_TEXT_PP(1)) : "public";

	return validate_rows(fcinfo, design, schema);
}

/* SQL: cyoda_wf.validate_design(design text [, function_schema text]) */
Datum
cyoda_wf_validate_design_text(PG_FUNCTION_ARGS)
{
	Jsonb	   *design = design_parse_text(PG_GETARG_TEXT_PP(0));
	char	   *schema = PG_NARGS() > 1 ? design_schema_arg(PG_GETARG_TEXT_PP(1)) : "public";

	return validate_rows(fcinfo, design, schema);
}

/* ------------------------------------------------------------------------
 * import_design()
 * ------------------------------------------------------------------------
 */

/* Raise the errors of a design: the first in errmsg, all in errdetail. */
static void
pg_attribute_noreturn()
design_raise(Design *d)
{
	StringInfoData detail;
	DesignIssue *first = NULL;
	ListCell   *lc;

	initStringInfo(&detail);
	foreach(lc, d->issues)
	{
		DesignIssue *is = lfirst(lc);

		if (!is->error)
			continue;
		if (first == NULL)
			first = is;
		else
			appendStringInfoChar(&detail, '\n');
		appendStringInfo(&detail, "%s: %s", is->path, is->message);
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid design: %s: %s", first->path, first->message),
			 errdetail("%d error%s:\n%s", d->nerrors, d->nerrors == 1 ? "" : "s", detail.data),
			 errhint("Nothing was imported. cyoda_wf.validate_design() lists every error and warning.")));
	pg_unreachable();
}

/* Insert or update the model row of an entity (as the extension owner). */
static void
design_store_model(DEntity *e, const char *function_schema)
{
	Oid			types[6] = {TEXTOID, TEXTOID, BOOLOID, TEXTOID, TEXTOID, JSONBOID};
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	CwSavedUser saved;

	values[0] = CStringGetTextDatum(e->name);
	values[1] = CStringGetTextDatum(e->type->stored);
	values[2] = BoolGetDatum(e->type->sources == CW_SOURCE_ENTITY_EVENT);
	if (e->depends_on)
		values[3] = CStringGetTextDatum(e->depends_on);
	else
		nulls[3] = 'n';
	values[4] = CStringGetTextDatum(function_schema);
	values[5] = JsonbPGetDatum(e->object);

cw_become_engine_owner(&saved);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");
		rc = SPI_execute_with_args(
								   "INSERT INTO cyoda_wf.model AS m"
								   " (name, version, entity_type, sources, depends_on,"
								   "  function_schema, design, updated_at)"
								   " VALUES ($1, " CppAsString2(DESIGN_VERSION) ", $2,"
								   "  CASE WHEN $3 THEN ARRAY['ENTITY_EVENT']"
								   "       ELSE ARRAY['API_REQUEST', 'SCHEDULED', 'ENTITY_EVENT'] END,"
								   "  $4, $5, $6, pg_catalog.now())"
								   " ON CONFLICT (name, version) DO UPDATE"
								   " SET entity_type = EXCLUDED.entity_type,"
								   "     sources = EXCLUDED.sources,"
								   "     depends_on = EXCLUDED.depends_on,"
								   "     function_schema = EXCLUDED.function_schema,"
								   "     design = EXCLUDED.design,"
								   "     updated_at = EXCLUDED.updated_at",
								   6, types, values, nulls, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "cyoda_wf: storing model \"%s\" failed: %s",
				 e->name, SPI_result_code_string(rc));
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
}

/* Import a checked design; returns {"entities": [...], "warnings": [...]}. */
static Jsonb *
design_import(Jsonb *design, const char *function_schema)
{
	Design		d;
	JsonbParseState *ps = NULL;
	JsonbValue *res;
	ListCell   *lc;

	cw_design_check(&d, design, function_schema);
	/* a function the importer may not run: 42501, as in a native import */
	foreach(lc, d.functions)
	{
		DFunction  *f = lfirst(lc);

		if (OidIsValid(f->oid))
			cw_check_function_access(function_schema, f->name, f->is_criterion,
									 f->oid, GetUserId());
	}
	if (d.nerrors > 0)
		design_raise(&d);
	foreach(lc, d.entities)
		cw_reserved_refuse_import(((DEntity *) lfirst(lc))->name);

	foreach(lc, d.entities)
	{
		DEntity    *e = lfirst(lc);

		design_store_model(e, function_schema);
		/* as the caller: the workflows are owned by whoever imports them */
		(void) cw_import_workflows(e->name, DESIGN_VERSION, cw_design_import_body(e),
								   function_schema, NULL);
	}

	/* SCHEDULED entities with a schedule: one pg_cron job each, named after the entity */
	foreach(lc, d.entities)
	{
		DEntity    *e = lfirst(lc);
		Oid			argtypes[2] = {TEXTOID, TEXTOID};
		Datum		args[2];
		int			rc;

		if (e->schedule == NULL)
			continue;
		args[0] = CStringGetTextDatum(e->name);
		args[1] = CStringGetTextDatum(e->schedule);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute_with_args("SELECT cyoda_wf.schedule_job($1, $2, $1, 1, '{}'::jsonb)",
								   2, argtypes, args, NULL, false, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "cyoda_wf: scheduling entity \"%s\" failed: %s",
				 e->name, SPI_result_code_string(rc));
		SPI_finish();
	}

	pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	cw_jb_push_key(&ps, "entities");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, d.entities)
	{
		DEntity    *e = lfirst(lc);
		JsonbValue	nullv;

		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		cw_jb_push_pair(&ps, "name", e->name);
		cw_jb_push_pair(&ps, "type", e->type->stored);
		cw_jb_push_pair(&ps, "source", e->source);
		cw_jb_push_key(&ps, "workflow");
		if (e->has_workflow)
			cw_jb_push_string(&ps, WJB_VALUE, e->wf_name);
		else
		{
			nullv.type = jbvNull;
			pushJsonbValue(&ps, WJB_VALUE, &nullv);
		}
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	cw_jb_push_key(&ps, "warnings");
	pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, d.issues)
	{
		DesignIssue *is = lfirst(lc);

		pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		cw_jb_push_pair(&ps, "path", is->path);
		cw_jb_push_pair(&ps, "message", is->message);
		pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbValueToJsonb(res);
}

/* SQL: cyoda_wf.import_design(design jsonb, function_schema text DEFAULT 'public') */
Datum
cyoda_wf_import_design(PG_FUNCTION_ARGS)
{
	Jsonb	   *design = PG_GETARG_JSONB_P(0);
	char	   *schema = design_schema_arg(PG_GETARG_TEXT_PP(1));

	PG_RETURN_JSONB_P(design_import(design, schema));
}

/* SQL: cyoda_wf.import_design(design text, function_schema text DEFAULT 'public') */
Datum
cyoda_wf_import_design_text(PG_FUNCTION_ARGS)
{
	Jsonb	   *design = design_parse_text(PG_GETARG_TEXT_PP(0));
	char	   *schema = design_schema_arg(PG_GETARG_TEXT_PP(1));

	PG_RETURN_JSONB_P(design_import(design, schema));
}

/*-------------------------------------------------------------------------
 * cache.c
 *		Per-backend cache of compiled models and their workflows.
 *
 * A model version is compiled once from cyoda_wf.model and cyoda_wf.workflow
 * into its own memory context and kept until definitions change.  Imports
 * send a relcache invalidation of cyoda_wf.workflow (and a statement trigger
 * does so for hand-made changes), which reaches every backend; the callback
 * only marks the cache stale, and the next lookup drops it.  A save pins the
 * model it works with, so a definition change in the middle of a save never
 * frees what that save is walking: it finishes under one definition.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "model.h"

#include "catalog/dependency.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

#define CW_MODEL_KEY_LEN (CW_MAX_NAME_LEN * 4 + 1)

typedef struct CwModelKey
{
	int32		version;
	char		name[CW_MODEL_KEY_LEN];
} CwModelKey;

typedef struct CwModelEntry
{
	CwModelKey	key;
	CwModel    *model;
} CwModelEntry;

static HTAB *model_cache = NULL;
static List *dead_models = NIL;	/* dropped while pinned, in TopMemoryContext */
static bool cache_stale = false;
static uint64 cache_gen = 0;	/* cw_definitions_generation() the cache matches */
static MemoryContext cw_cache_cxt = NULL;

static SPIPlanPtr plan_model = NULL;
static SPIPlanPtr plan_model_legacy = NULL;	/* 0.1.0's table, not yet updated */
static SPIPlanPtr plan_has_entities = NULL;
static SPIPlanPtr plan_workflows = NULL;

/* At the end of every top-level transaction no save can be running. */
static void
cw_xact_callback(XactEvent event, void *arg)
{
	HASH_SEQ_STATUS status;
	CwModelEntry *e;

	if (event != XACT_EVENT_ABORT && event != XACT_EVENT_COMMIT &&
		event != XACT_EVENT_PARALLEL_ABORT && event != XACT_EVENT_PARALLEL_COMMIT)
		return;
	while (dead_models != NIL)
	{
		CwModel    *m = linitial(dead_models);

		dead_models = list_delete_first(dead_models);
		MemoryContextDelete(m->cxt);
	}
	if (model_cache == NULL)
		return;
	hash_seq_init(&status, model_cache);
	while ((e = hash_seq_search(&status)) != NULL)
		e->model->pins = 0;
}

/* Register the callback; called once from _PG_init. */
void
cw_cache_init(void)
{
	RegisterXactCallback(cw_xact_callback, NULL);
}

/* Whether definitions changed since the cache was last emptied. */
static bool
cw_cache_is_stale(void)
{
	return cache_stale || cache_gen != cw_definitions_generation();
}

/* Drop every cached model now (import in this backend, or stale flag). */
void
cw_cache_invalidate_all(void)
{
	HASH_SEQ_STATUS status;
	CwModelEntry *e;

	cache_stale = false;
	cache_gen = cw_definitions_generation();
	if (model_cache == NULL)
		return;
	hash_seq_init(&status, model_cache);
	while ((e = hash_seq_search(&status)) != NULL)
	{
		if (e->model->pins > 0)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			e->model->dead = true;
			dead_models = lappend(dead_models, e->model);
			MemoryContextSwitchTo(old);
		}
		else
			MemoryContextDelete(e->model->cxt);
	}
	hash_destroy(model_cache);
	model_cache = NULL;
}

/* Note whether a workflow has scheduled transitions (timers to arm). */
static void
cw_mark_schedules(CwWorkflow *wf)
{
	wf->has_schedules = false;
	for (int i = 0; i < wf->nstates; i++)
		for (int j = 0; j < wf->states[i].ntransitions; j++)
			if (wf->states[i].transitions[j].has_schedule)
				wf->has_schedules = true;
}

/* The allowed sources of a model: a text[] of source names. */
static int
cw_sources_mask(Datum arr)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			mask = 0;

	deconstruct_array(DatumGetArrayTypeP(arr), TEXTOID, -1, false,
					  TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *s;

		if (nulls[i])
			continue;
		s = TextDatumGetCString(elems[i]);
		if (strcmp(s, "API_REQUEST") == 0)
			mask |= CW_SOURCE_API_REQUEST;
		else if (strcmp(s, "SCHEDULED") == 0)
			mask |= CW_SOURCE_SCHEDULED;
		else if (strcmp(s, "ENTITY_EVENT") == 0)
			mask |= CW_SOURCE_ENTITY_EVENT;
	}
	return mask;
}

/*
 * m's row of cyoda_wf.model, if there is one (in SPI): sources, entity type,
 * dependencies, function schema, and whether the model is declared and its
 * schema when it is registered.  Before ALTER EXTENSION UPDATE from 0.1.0 the
 * table has no model columns: every model counts as declared and none is
 * registered.
 */
static void
cw_model_read_row(CwModel *m, Datum *args)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	int			rc;
	TupleDesc	td;
	HeapTuple	tup;
	bool		isnull;
	bool		legacy;
	Datum		d;
	MemoryContext oldcxt;

	legacy = get_attnum(cw_relid("model"), "model_schema") == InvalidAttrNumber;
	if (legacy)
		cw_kept_plan(&plan_model_legacy,
					 "SELECT sources, entity_type, depends_on, function_schema "
					 "FROM cyoda_wf.model WHERE name OPERATOR(pg_catalog.=) $1 "
					 "AND version OPERATOR(pg_catalog.=) $2", 2, argtypes);
	else
		cw_kept_plan(&plan_model,
					 "SELECT sources, entity_type, depends_on, function_schema, "
					 "model_schema, model_state, change_level "
					 "FROM cyoda_wf.model WHERE name OPERATOR(pg_catalog.=) $1 "
					 "AND version OPERATOR(pg_catalog.=) $2", 2, argtypes);
	m->declared = legacy;
	rc = SPI_execute_plan(legacy ? plan_model_legacy : plan_model, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	if (SPI_processed != 1)
	{
		if (!legacy)
		{
			/*
			 * No model row: a model version that has entities (saved under
			 * 0.1.0 or with require_model = off) still counts as declared.
			 */
			cw_kept_plan(&plan_has_entities,
						 "SELECT 1 FROM cyoda_wf.entity WHERE model OPERATOR(pg_catalog.=) $1 "
						 "AND model_version OPERATOR(pg_catalog.=) $2 LIMIT 1", 2, argtypes);
			rc = SPI_execute_plan(plan_has_entities, args, NULL, true, 1);
			if (rc != SPI_OK_SELECT)
				elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
			m->declared = SPI_processed > 0;
		}
		return;
	}
	td = SPI_tuptable->tupdesc;
	tup = SPI_tuptable->vals[0];
	d = SPI_getbinval(tup, td, 1, &isnull);
	if (!isnull)
		m->sources = cw_sources_mask(d);
	oldcxt = MemoryContextSwitchTo(m->cxt);
	m->entity_type = SPI_getvalue(tup, td, 2);
	m->depends_on = SPI_getvalue(tup, td, 3);
	m->function_schema = SPI_getvalue(tup, td, 4);
	MemoryContextSwitchTo(oldcxt);
	m->declared = true;
	if (!legacy)
	{
		d = SPI_getbinval(tup, td, 5, &isnull);
		m->schema = cw_model_schema_load(isnull ? NULL : DatumGetJsonbP(d),
										 SPI_getvalue(tup, td, 6),
										 SPI_getvalue(tup, td, 7), m->cxt);
	}
}

/* m's workflows from cyoda_wf.workflow, compiled, in order (in SPI). */
static void
cw_model_read_workflows(CwModel *m, Datum *args)
{
	Oid			argtypes[2] = {TEXTOID, INT4OID};
	int			rc;
	MemoryContext oldcxt;

	cw_kept_plan(&plan_workflows,
				 "SELECT name, definition, owner::pg_catalog.oid, function_schema "
				 "FROM cyoda_wf.workflow WHERE model OPERATOR(pg_catalog.=) $1 "
				 "AND model_version OPERATOR(pg_catalog.=) $2 ORDER BY ord, name",
				 2, argtypes);
	rc = SPI_execute_plan(plan_workflows, args, NULL, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	m->nworkflows = (int) SPI_processed;
	m->workflows = MemoryContextAllocZero(m->cxt, sizeof(CwWorkflow *) * (m->nworkflows + 1));
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		TupleDesc	td = SPI_tuptable->tupdesc;
		HeapTuple	tup = SPI_tuptable->vals[i];
		bool		isnull;
		Jsonb	   *def;
		Oid			owner;
		char	   *fschema;

		def = DatumGetJsonbP(SPI_getbinval(tup, td, 2, &isnull));
		owner = DatumGetObjectId(SPI_getbinval(tup, td, 3, &isnull));
		oldcxt = MemoryContextSwitchTo(m->cxt);
		fschema = SPI_getvalue(tup, td, 4);
		MemoryContextSwitchTo(oldcxt);
		m->workflows[i] = cw_compile_workflow(def, m->name, owner, fschema, NULL, m->cxt);
		cw_mark_schedules(m->workflows[i]);
	}
}

/*
 * Read and compile one model version from the definition tables, as the
 * engine owner: a plain INSERT needs no privilege on them.
 */
static CwModel *
cw_model_load(const char *name, int32 version)
{
	MemoryContext cxt;
	CwModel    *m;
	Datum		args[2];
	CwSavedUser saved;

	cxt = AllocSetContextCreate(cw_cache_cxt, "cyoda_wf model",
								ALLOCSET_SMALL_SIZES);
	m = MemoryContextAllocZero(cxt, sizeof(CwModel));
	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		m->cxt = cxt;
		m->name = MemoryContextStrdup(cxt, name);
		m->version = version;
		m->sources = CW_SOURCE_ANY;
		m->function_schema = "public";

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		args[0] = CStringGetTextDatum(name);
		args[1] = Int32GetDatum(version);
		cw_model_read_row(m, args);
		cw_model_read_workflows(m, args);
		m->default_wf = cw_default_workflow(m->function_schema, cxt);
		SPI_finish();
	}
	PG_CATCH();
	{
		cw_restore_user(&saved);
		MemoryContextDelete(cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();
	cw_restore_user(&saved);
	return m;
}

/* The compiled model, pinned for the caller; pair with cw_model_unpin. */
CwModel *
cw_model_pin(const char *name, int32 version)
{
	CwModelKey	key;
	CwModelEntry *e;
	bool		found;
	size_t		len = strlen(name);

	if (len == 0 || len >= CW_MODEL_KEY_LEN || pg_mbstrlen(name) > CW_MAX_NAME_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must have 1 to %d characters", CW_MAX_NAME_LEN)));
	if (version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model version must be 1 or more, not %d", version)));
	if (cw_cache_cxt == NULL)
		cw_cache_cxt = AllocSetContextCreate(TopMemoryContext, "cyoda_wf cache",
											 ALLOCSET_DEFAULT_SIZES);
	AcceptInvalidationMessages();
	if (cw_cache_is_stale())
		cw_cache_invalidate_all();
	if (model_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(CwModelKey);
		ctl.entrysize = sizeof(CwModelEntry);
		ctl.hcxt = cw_cache_cxt;
		model_cache = hash_create("cyoda_wf models", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.version = version;
	memcpy(key.name, name, len);

	e = hash_search(model_cache, &key, HASH_FIND, NULL);
	if (e == NULL)
	{
		CwModel    *m = cw_model_load(name, version);

		/* loading ran queries: an invalidation may have arrived meanwhile */
		if (cw_cache_is_stale())
		{
			cw_cache_invalidate_all();
			return cw_model_pin(name, version);
		}
		if (model_cache == NULL)
			return cw_model_pin(name, version);
		e = hash_search(model_cache, &key, HASH_ENTER, &found);
		e->model = m;
	}
	e->model->pins++;
	return e->model;
}

/* Release a pin; a model dropped from the cache meanwhile is freed now. */
void
cw_model_unpin(CwModel *m)
{
	if (m->pins > 0)
		m->pins--;
	if (m->dead && m->pins == 0)
	{
		dead_models = list_delete_ptr(dead_models, m);
		MemoryContextDelete(m->cxt);
	}
}

PG_FUNCTION_INFO_V1(cyoda_wf_definitions_changed);

/* Statement trigger on the definition tables: every backend drops its cache. */
Datum
cyoda_wf_definitions_changed(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "definitions_changed: not called by trigger manager");
	CacheInvalidateRelcacheByRelid(cw_relid("workflow"));
	cache_stale = true;
	return PointerGetDatum(NULL);
}

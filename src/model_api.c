/*-------------------------------------------------------------------------
 * model_api.c
 *		Entity models (README: Entity models): import_model, lock_model,
 *		unlock_model, set_change_level, delete_model, export_model; the
 *		checks of a save against its model (cw_model_check_save, and the
 *		strict cw_model_check_patch for patch_item), of a search condition
 *		(cw_model_check_condition) and of import/export_workflows under
 *		require_model = on; GUC cyoda_wf.require_model.
 *
 * A model is registered when its cyoda_wf.model row has a model_schema
 * (the stored form of model_schema.c); model_state is then 'UNLOCKED' or
 * 'LOCKED' and change_level NULL or a level name.  A row without a schema
 * only declares the model (import_workflows, import_design).
 *
 * Saves see the model through the compiled model cache (cache.c reads the
 * schema with the rest of the row; any change to cyoda_wf.model invalidates
 * every backend's cache), so a save of a LOCKED model whose data conforms
 * costs one walk of the data and no query.
 *
 * Concurrency: unlock_model and delete_model take a SHARE lock on
 * cyoda_wf.entity before they lock the model row and count its entities,
 * so a save in progress is counted and a later one waits and then sees the
 * new state.  A save that extends the schema locks the model row (FOR
 * UPDATE), checks again against the schema it finds there and merges into
 * it: two extensions never lose one another.
 *-------------------------------------------------------------------------
 */
#include "model.h"
#include "catalog.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"

#include "reserved.h"

PG_FUNCTION_INFO_V1(cyoda_wf_import_model);
PG_FUNCTION_INFO_V1(cyoda_wf_lock_model);
PG_FUNCTION_INFO_V1(cyoda_wf_unlock_model);
PG_FUNCTION_INFO_V1(cyoda_wf_set_change_level);
PG_FUNCTION_INFO_V1(cyoda_wf_delete_model);
PG_FUNCTION_INFO_V1(cyoda_wf_export_model);

int			cw_require_model = CW_REQUIRE_MODEL_KNOWN;

static const struct config_enum_entry require_model_options[] = {
	{"off", CW_REQUIRE_MODEL_OFF, false},
	{"known", CW_REQUIRE_MODEL_KNOWN, false},
	{"on", CW_REQUIRE_MODEL_ON, false},
	{NULL, 0, false}
};

/* Define GUC cyoda_wf.require_model; called once from _PG_init. */
void
cw_model_init(void)
{
	DefineCustomEnumVariable("cyoda_wf.require_model",
							 "Which models a save needs: off (any), known (declared by an import), on (registered by import_model).",
							 "Registered models are checked against their schema whatever the setting.",
							 &cw_require_model, CW_REQUIRE_MODEL_KNOWN,
							 require_model_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
}

/* The model row as the model functions see it. */
typedef struct ModelRow
{
	bool		exists;			/* a row: the model is declared */
	Jsonb	   *schema;			/* NULL: not registered */
	bool		locked;
	char	   *level;
} ModelRow;

/* Read (and with lock, lock) the model row; run inside SPI as the engine owner. */
static void
read_row(const char *model, int32 version, bool lock, ModelRow *row)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(version)};
	int			rc;

	rc = SPI_execute_with_args(lock ?
							   "SELECT model_schema, model_state, change_level FROM cyoda_wf.model"
							   " WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2"
							   " FOR UPDATE" :
							   "SELECT model_schema, model_state, change_level FROM cyoda_wf.model"
							   " WHERE name OPERATOR(pg_catalog.=) $1 AND version OPERATOR(pg_catalog.=) $2",
							   2, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "cyoda_wf: reading model failed: %s", SPI_result_code_string(rc));
	memset(row, 0, sizeof(*row));
	if (SPI_processed == 0)
		return;
	row->exists = true;
	{
		TupleDesc	td = SPI_tuptable->tupdesc;
		HeapTuple	tup = SPI_tuptable->vals[0];
		bool		isnull;
		Datum		d = SPI_getbinval(tup, td, 1, &isnull);
		char	   *state = SPI_getvalue(tup, td, 2);

		row->schema = isnull ? NULL : DatumGetJsonbPCopy(d);
		row->locked = state != NULL && strcmp(state, "LOCKED") == 0;
		row->level = SPI_getvalue(tup, td, 3);
	}
}

static void
write_row(const char *model, int32 version, Jsonb *schema, const char *state,
		  const char *level)
{
	Oid			types[5] = {TEXTOID, INT4OID, JSONBOID, TEXTOID, TEXTOID};
	Datum		values[5] = {CStringGetTextDatum(model), Int32GetDatum(version),
		schema ? JsonbPGetDatum(schema) : (Datum) 0,
		state ? CStringGetTextDatum(state) : (Datum) 0,
	level ? CStringGetTextDatum(level) : (Datum) 0};
	char		nulls[5] = {' ', ' ', schema ? ' ' : 'n', state ? ' ' : 'n', level ? ' ' : 'n'};
	int			rc;

	rc = SPI_execute_with_args("INSERT INTO cyoda_wf.model AS m (name, version, model_schema,"
							   " model_state, change_level, model_updated_at)"
							   " VALUES ($1, $2, $3, $4, $5, pg_catalog.now())"
							   " ON CONFLICT (name, version) DO UPDATE SET"
							   " model_schema = EXCLUDED.model_schema,"
							   " model_state = EXCLUDED.model_state,"
							   " change_level = EXCLUDED.change_level,"
							   " model_updated_at = CASE WHEN EXCLUDED.model_schema IS NULL"
							   " THEN NULL ELSE EXCLUDED.model_updated_at END",
							   5, types, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "cyoda_wf: storing model failed: %s", SPI_result_code_string(rc));
}

static void
not_registered(const char *model, int32 version)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("model \"%s\" version %d is not registered", model, version),
			 errhint("Register it from sample data: SELECT cyoda_wf.import_model('%s', %d, '{...}').",
					 model, version)));
}

static void
check_args(const char *model, bool version_null, int32 version)
{
	if (model == NULL || model[0] == '\0' || version_null || version < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model must be a non-empty name and model_version 1 or more"),
				 errhint("Call it as (model, model_version, ...), e.g. ('order', 1, ...).")));
	if (strlen(model) > CW_MAX_NAME_LEN * 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model name must have 1 to %d characters", CW_MAX_NAME_LEN)));
}

/* Steps of a model function, between SPI_connect and SPI_finish as the engine owner. */
typedef enum ModelOp
{
	OP_IMPORT, OP_LOCK, OP_UNLOCK, OP_LEVEL, OP_DELETE, OP_EXPORT
} ModelOp;

typedef struct ModelCall
{
	const char *model;
	int32		version;
	ModelOp		op;
	Jsonb	   *sample;			/* OP_IMPORT */
	const char *level;			/* OP_LEVEL; NULL clears */
	bool		json_schema;	/* OP_EXPORT */
	Jsonb	   *result;			/* export after the call */
} ModelCall;

static int64
count_entities(const char *model, int32 version)
{
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2] = {CStringGetTextDatum(model), Int32GetDatum(version)};
	bool		isnull;
	int			rc;

	/* a save in progress is counted; later ones wait for this transaction */
	rc = SPI_execute("LOCK TABLE cyoda_wf.entity IN SHARE MODE", false, 0);
	if (rc != SPI_OK_UTILITY)
		elog(ERROR, "cyoda_wf: locking entities failed: %s", SPI_result_code_string(rc));
	rc = SPI_execute_with_args("SELECT pg_catalog.count(*) FROM cyoda_wf.entity"
							   " WHERE model OPERATOR(pg_catalog.=) $1"
							   " AND model_version OPERATOR(pg_catalog.=) $2",
							   2, types, values, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "cyoda_wf: counting entities failed: %s", SPI_result_code_string(rc));
	return DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

static void
refuse_with_entities(ModelCall *c, const char *what)
{
	int64		n = count_entities(c->model, c->version);

	if (n > 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot %s model \"%s\" version %d: it has " INT64_FORMAT " %s",
						what, c->model, c->version, n, n == 1 ? "entity" : "entities"),
				 errhint("Delete its entities first.")));
}

static void
refuse_state(ModelCall *c, bool locked, const char *what)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot %s model \"%s\" version %d: it is %s",
					what, c->model, c->version, locked ? "LOCKED" : "UNLOCKED"),
			 locked ?
			 errhint("Unlock it first: SELECT cyoda_wf.unlock_model('%s', %d).", c->model, c->version) :
			 errhint("Lock it first: SELECT cyoda_wf.lock_model('%s', %d).", c->model, c->version)));
}

/* The body of every model function (one switch: each case is a few lines). */
static void
model_call_steps(ModelCall *c)
{
	ModelRow	row;
	CwMNode    *root = NULL;

	if (c->op == OP_UNLOCK || c->op == OP_DELETE)
		(void) count_entities(c->model, c->version);	/* takes the SHARE lock first */
	read_row(c->model, c->version, c->op != OP_EXPORT, &row);
	if (row.schema == NULL && c->op != OP_IMPORT)
		not_registered(c->model, c->version);
	if (row.schema)
		root = cw_mnode_from_jsonb(row.schema);
	switch (c->op)
	{
		case OP_IMPORT:
			{
				CwMNode    *sample = cw_mnode_infer_jsonb(c->sample);
				Jsonb	   *stored;

				if (row.locked)
					refuse_state(c, true, "import a sample into");
				if (root == NULL)
					root = sample;
				else
					cw_mnode_merge(root, sample);
				stored = cw_mnode_to_jsonb(root);
				if (row.schema == NULL || compareJsonbContainers(&stored->root, &row.schema->root) != 0)
					write_row(c->model, c->version, stored, "UNLOCKED", row.level);
				break;
			}
		case OP_LOCK:
			if (row.locked)
				refuse_state(c, true, "lock");
			write_row(c->model, c->version, row.schema, "LOCKED", row.level);
			break;
		case OP_UNLOCK:
			if (!row.locked)
				refuse_state(c, false, "unlock");
			refuse_with_entities(c, "unlock");
			write_row(c->model, c->version, row.schema, "UNLOCKED", row.level);
			break;
		case OP_LEVEL:
			write_row(c->model, c->version, row.schema, row.locked ? "LOCKED" : "UNLOCKED", c->level);
			break;
		case OP_DELETE:
			if (row.locked)
				refuse_state(c, true, "delete");
			refuse_with_entities(c, "delete");
			write_row(c->model, c->version, NULL, NULL, NULL);
			return;
		case OP_EXPORT:
			break;
	}
	if (c->op == OP_LOCK)
		row.locked = true;
	else if (c->op == OP_UNLOCK || c->op == OP_IMPORT)
		row.locked = false;
	c->result = cw_mnode_export(root, c->json_schema, row.locked);
}

/* Run a model function as the engine owner; the caller has EXECUTE on it. */
static void
model_call(ModelCall *c)
{
	CwSavedUser saved;
	MemoryContext cxt = CurrentMemoryContext;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");
		model_call_steps(c);
		if (c->result)
		{
			MemoryContext old = MemoryContextSwitchTo(cxt);

			c->result = DatumGetJsonbPCopy(JsonbPGetDatum(c->result));
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
}

static void
model_call_init(ModelCall *c, FunctionCallInfo fcinfo, ModelOp op)
{
	memset(c, 0, sizeof(*c));
	c->op = op;
	c->model = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	c->version = PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1);
	check_args(c->model, PG_ARGISNULL(1), c->version);
}

/* import_model(model, model_version, sample) -> export_model after the import */
Datum
cyoda_wf_import_model(PG_FUNCTION_ARGS)
{
	ModelCall	c;

	model_call_init(&c, fcinfo, OP_IMPORT);
	if (cw_reserved_model(c.model))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("model \"%s\" is reserved: it cannot be registered", c.model),
				 errhint("Register the entity model under another name.")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample must be a JSON object, not NULL")));
	c.sample = PG_GETARG_JSONB_P(2);
	if (!JB_ROOT_IS_OBJECT(c.sample) || JB_ROOT_IS_SCALAR(c.sample))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sample must be a JSON object, not %s", cw_jb_kind(c.sample)),
				 errhint("Pass one entity's data, e.g. '{\"price\": 13}'.")));
	model_call(&c);
	PG_RETURN_JSONB_P(c.result);
}

Datum
cyoda_wf_lock_model(PG_FUNCTION_ARGS)
{
	ModelCall	c;

	model_call_init(&c, fcinfo, OP_LOCK);
	model_call(&c);
	PG_RETURN_TEXT_P(cstring_to_text("LOCKED"));
}

Datum
cyoda_wf_unlock_model(PG_FUNCTION_ARGS)
{
	ModelCall	c;

	model_call_init(&c, fcinfo, OP_UNLOCK);
	model_call(&c);
	PG_RETURN_TEXT_P(cstring_to_text("UNLOCKED"));
}

Datum
cyoda_wf_set_change_level(PG_FUNCTION_ARGS)
{
	ModelCall	c;

	model_call_init(&c, fcinfo, OP_LEVEL);
	if (!PG_ARGISNULL(2))
	{
		c.level = text_to_cstring(PG_GETARG_TEXT_PP(2));
		if (cw_mchange_level(c.level) < 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown change level \"%s\"", c.level),
					 errdetail("A change level is one of ARRAY_LENGTH, ARRAY_ELEMENTS, TYPE, STRUCTURAL "
							   "(case-sensitive), or NULL for none.")));
	}
	model_call(&c);
	if (c.level == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(c.level));
}

Datum
cyoda_wf_delete_model(PG_FUNCTION_ARGS)
{
	ModelCall	c;

	model_call_init(&c, fcinfo, OP_DELETE);
	model_call(&c);
	PG_RETURN_BOOL(true);
}

Datum
cyoda_wf_export_model(PG_FUNCTION_ARGS)
{
	ModelCall	c;
	char	   *conv;

	model_call_init(&c, fcinfo, OP_EXPORT);
	conv = PG_ARGISNULL(2) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(2));
	if (strcmp(conv, "SIMPLE_VIEW") != 0 && strcmp(conv, "JSON_SCHEMA") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown converter \"%s\"", conv),
				 errdetail("A converter is SIMPLE_VIEW or JSON_SCHEMA (case-sensitive).")));
	c.json_schema = conv[0] == 'J';
	model_call(&c);
	PG_RETURN_JSONB_P(c.result);
}

/* Saves ------------------------------------------------------------------ */

static void
refuse_data(CwModel *m, CwMCheck *chk, int level, bool strict)
{
	const char *lvl = level > CW_MC_NONE ? cw_mchange_names[level] : "NULL";

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 chk->worst == CW_MC_STRUCTURAL ?
			 errmsg("data does not fit model \"%s\" version %d at %s: no such field in the schema (found %s)",
					m->name, m->version, chk->at, chk->actual) :
			 errmsg("data does not fit model \"%s\" version %d at %s: expected %s, found %s",
					m->name, m->version, chk->at, chk->expected, chk->actual),
			 chk->worst == CW_MC_INCOMPATIBLE ?
			 errdetail("An object or array where the schema has a scalar, or the reverse, is never accepted.") :
			 strict ?
			 errdetail("The change is of kind %s; this save never extends the schema.",
					   cw_mchange_names[chk->worst]) :
			 errdetail("The change is of kind %s; the model's change level %s does not permit it.",
					   cw_mchange_names[chk->worst], lvl),
			 chk->worst == CW_MC_INCOMPATIBLE || strict ? 0 :
			 errhint("Send data that fits the schema, or permit the change: "
					 "SELECT cyoda_wf.set_change_level('%s', %d, '%s').",
					 m->name, m->version, cw_mchange_names[chk->worst])));
}

static void
refuse_unlocked(CwModel *m)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("model \"%s\" version %d is not locked: its entities cannot be saved",
					m->name, m->version),
			 errhint("Lock it first: SELECT cyoda_wf.lock_model('%s', %d).", m->name, m->version)));
}

/*
 * Extend the stored schema by data, in the saving transaction: lock the
 * model row, check against what is stored now (another save may have
 * extended it, the level may have changed), merge and store.
 */
static void
extend_schema(CwModel *m, Jsonb *data)
{
	CwSavedUser saved;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		ModelRow	row;
		CwMCheck	chk;
		CwMNode    *root;
		int			level;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "cyoda_wf: SPI_connect failed");
		read_row(m->name, m->version, true, &row);
		if (row.schema == NULL)
			not_registered(m->name, m->version);
		if (!row.locked)
			refuse_unlocked(m);
		root = cw_mnode_from_jsonb(row.schema);
		level = row.level ? cw_mchange_level(row.level) : CW_MC_NONE;
		cw_mnode_check(root, data, &chk);
		if (chk.worst > level)
			refuse_data(m, &chk, level, false);
		if (chk.worst != CW_MC_NONE)
		{
			cw_mnode_merge(root, cw_mnode_infer_jsonb(data));
			write_row(m->name, m->version, cw_mnode_to_jsonb(root), "LOCKED", row.level);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
}

/* A model nothing registered: what cyoda_wf.require_model says of a save. */
static void
check_unregistered(CwModel *m)
{
	if (cw_require_model == CW_REQUIRE_MODEL_ON)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("model \"%s\" version %d is not registered", m->name, m->version),
				 errdetail("cyoda_wf.require_model is on: entities are saved only for registered models."),
				 errhint("Register it from sample data: SELECT cyoda_wf.import_model('%s', %d, '{...}'), "
						 "then lock it with cyoda_wf.lock_model.", m->name, m->version)));
	if (cw_require_model == CW_REQUIRE_MODEL_KNOWN && !m->declared && !cw_reserved_model(m->name))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("model \"%s\" version %d is unknown", m->name, m->version),
				 errdetail("Nothing declared this model, and cyoda_wf.require_model is known."),
				 errhint("Declare it with cyoda_wf.import_workflows, cyoda_wf.import_design or "
						 "cyoda_wf.import_model (or check the model name).")));
}

/*
 * A save of client data (create, or update with new data), before the
 * workflow runs: what section 11.4 and cyoda_wf.require_model say.
 */
void
cw_model_check_save(CwModel *m, Jsonb *data)
{
	CwModelSchema *ms = m->schema;
	CwMCheck	chk;

	if (ms == NULL)
	{
		check_unregistered(m);
		return;
	}
	if (!ms->locked)
		refuse_unlocked(m);
	cw_mnode_check(ms->root, data, &chk);
	if (chk.worst == CW_MC_NONE)
		return;
	if (chk.worst > ms->level)
		refuse_data(m, &chk, ms->level, false);
	extend_schema(m, data);
}

/* patch_item: the merged data must fit the schema as it is (never extended). */
void
cw_model_check_patch(CwModel *m, Jsonb *data)
{
	CwModelSchema *ms = m->schema;
	CwMCheck	chk;

	if (ms == NULL)
	{
		check_unregistered(m);
		return;
	}
	if (!ms->locked)
		refuse_unlocked(m);
	cw_mnode_check(ms->root, data, &chk);
	if (chk.worst != CW_MC_NONE)
		refuse_data(m, &chk, ms->level, true);
}

/* Search conditions (last paragraph of 11.4) ------------------------------- */

static void
refuse_condition(CwModel *m, const char *path, const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("condition on \"%s\" does not fit model \"%s\" version %d: %s",
					path, m->name, m->version, msg),
			 errhint("See the model's fields with SELECT cyoda_wf.export_model('%s', %d).",
					 m->name, m->version)));
}

/*
 * The schema node a condition's jsonPath names ($.a.b, $.a[*].b, $.a[0],
 * $['a']), or NULL when the schema has no such field.  A path ending on an
 * array names its elements (conditions match arrays element by element).
 */
static const CwMNode *
condition_node(const CwMNode *n, const char *p, int len)
{
	int			i = 0;

	if (len > 0 && p[0] == '$')
		i = 1;
	while (i < len && n != NULL)
	{
		CHECK_FOR_INTERRUPTS();
		if (p[i] == '.')
		{
			int			s = ++i;

			while (i < len && p[i] != '.' && p[i] != '[')
				i++;
			n = n->is_object ? cw_mnode_find(n, p + s, i - s) : NULL;
		}
		else if (p[i] == '[' && i + 1 < len && (p[i + 1] == '\'' || p[i + 1] == '"'))
		{
			char		q = p[i + 1];
			int			s = i + 2;

			i = s;
			while (i < len && p[i] != q)
				i++;
			n = n->is_object ? cw_mnode_find(n, p + s, i - s) : NULL;
			i += 2;				/* the quote and ] */
		}
		else if (p[i] == '[')
		{
			while (i < len && p[i] != ']')
				i++;
			i++;
			n = n->is_array ? n->elem : NULL;
		}
		else
			return NULL;
	}
	while (n != NULL && n->is_array && !n->is_object && (n->types & ~CW_MT_BIT(CW_MT_NULL)) == 0)
		n = n->elem;
	return n;
}

static bool
operand_fits(const CwMNode *n, JsonbValue *v)
{
	uint32		types = n->types & ~CW_MT_BIT(CW_MT_NULL);
	const uint32 nums = 0x7Fu;	/* the integer and decimal families */
	const uint32 temporal = 0x1F00u;

	if (v->type == jbvNull || v->type == jbvBinary || types == 0)
		return true;
	if (types & CW_MT_BIT(CW_MT_STRING))
		return true;
	if (v->type == jbvNumeric)
		return (types & nums) != 0;
	if (v->type == jbvBool)
		return (types & CW_MT_BIT(CW_MT_BOOLEAN)) != 0;
	/* a string: as a temporal value, a number or a boolean */
	{
		CwMType		t = cw_mtype_of(v);
		char	   *s = pnstrdup(v->val.string.val, v->val.string.len);
		char	   *end;

		if ((CW_MT_BIT(t) & temporal) && (types & temporal))
			return true;
		if (types & nums)
		{
			(void) strtod(s, &end);
			if (end != s && *end == '\0')
				return true;
		}
		if ((types & CW_MT_BIT(CW_MT_BOOLEAN)) &&
			(pg_strcasecmp(s, "true") == 0 || pg_strcasecmp(s, "false") == 0))
			return true;
	}
	return false;
}

static bool
operator_compares(JsonbContainer *obj)
{
	static const char *const keys[] = {"operatorType", "operator", "operation"};
	static const char *const ops[] = {
		"EQUALS", "NOT_EQUAL", "GREATER_THAN", "LESS_THAN", "GREATER_OR_EQUAL",
		"LESS_OR_EQUAL", "BETWEEN", "BETWEEN_INCLUSIVE"
	};
	JsonbValue	ov;

	for (int k = 0; k < lengthof(keys); k++)
		if (cw_jb_key(obj, keys[k], &ov))
		{
			for (int i = 0; i < lengthof(ops); i++)
				if (ov.type == jbvString && cw_jbv_ieq(&ov, ops[i]))
					return true;
			return false;
		}
	return false;
}

/* Walk one condition object (already compiled, so well-formed) against m's schema. */
static void
check_condition_node(CwModel *m, JsonbValue *node, int depth)
{
	JsonbContainer *obj;
	JsonbValue	tv,
				pv,
				v;
	const CwMNode *n;

	check_stack_depth();
	CHECK_FOR_INTERRUPTS();
	if (!cw_jbv_is_container(node, false))
		return;
	obj = node->val.binary.data;
	if (cw_jb_key(obj, "conditions", &v) && cw_jbv_is_container(&v, true))
	{
		JsonbIterator *it = cw_jb_array_iter(v.val.binary.data);
		JsonbValue	e;

		while (cw_jb_array_next(&it, &e))
			check_condition_node(m, &e, depth + 1);
		return;
	}
	if (cw_jb_key(obj, "type", &tv) && tv.type == jbvString &&
		(cw_jbv_ieq(&tv, "lifecycle") || cw_jbv_ieq(&tv, "function")))
		return;
	if (!cw_jb_key(obj, "jsonPath", &pv) || pv.type != jbvString)
		return;
	n = condition_node(m->schema->root, pv.val.string.val, pv.val.string.len);
	if (n == NULL)
		refuse_condition(m, pnstrdup(pv.val.string.val, pv.val.string.len),
						 "no such field in the schema");
	if (!operator_compares(obj) || !cw_jb_key(obj, "value", &v))
		return;
	if (cw_jbv_is_container(&v, true))
	{
		JsonbIterator *it = cw_jb_array_iter(v.val.binary.data);
		JsonbValue	e;

		while (cw_jb_array_next(&it, &e))
			if (!operand_fits(n, &e))
				refuse_condition(m, pnstrdup(pv.val.string.val, pv.val.string.len),
								 psprintf("operand %s fits none of its types %s",
										  cw_jbv_json_text(&e), cw_mtypes_text(n->types)));
	}
	else if (!operand_fits(n, &v))
		refuse_condition(m, pnstrdup(pv.val.string.val, pv.val.string.len),
						 psprintf("operand %s fits none of its types %s",
								  cw_jbv_json_text(&v), cw_mtypes_text(n->types)));
}

/*
 * search on a model: with require_model = on the model must be registered
 * (P0002); on a registered model, the condition's data paths must be fields
 * of the schema and comparison operands must fit one of the field's types
 * (22023).  A NULL model or version is left to the caller to refuse.
 */
void
cw_model_check_condition(const char *model, int32 version, Jsonb *condition)
{
	CwModel    *m;

	if (model == NULL || version < 1)
		return;
	m = cw_model_pin(model, version);
	PG_TRY();
	{
		if (m->schema == NULL && cw_require_model == CW_REQUIRE_MODEL_ON)
			not_registered(m->name, m->version);
		if (m->schema != NULL && condition != NULL)
		{
			JsonbValue	v;

			cw_jb_as_value(condition, &v);
			check_condition_node(m, &v, 0);
		}
	}
	PG_FINALLY();
	{
		cw_model_unpin(m);
	}
	PG_END_TRY();
}

/* import_workflows / export_workflows with require_model = on: P0002 unless registered. */
void
cw_model_require_registered(const char *model, int32 version, const char *what)
{
	CwModel    *m;
	bool		registered;

	if (cw_require_model != CW_REQUIRE_MODEL_ON)
		return;
	m = cw_model_pin(model, version);
	registered = m->schema != NULL;
	cw_model_unpin(m);
	if (!registered)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("cannot %s model \"%s\" version %d: it is not registered", what, model, version),
				 errdetail("cyoda_wf.require_model is on."),
				 errhint("Register it from sample data first: SELECT cyoda_wf.import_model('%s', %d, '{...}').",
						 model, version)));
}

/*-------------------------------------------------------------------------
 * store_trigger.c
 *		The entity table as an event source: row triggers that run the
 *		engine, and what goes with every save (entity row, version row and
 *		audit rows through store_rows.c, task rows through store_tasks.c,
 *		the notification).
 *
 * Every save, whether plain SQL on cyoda_wf.entity or an API function,
 * passes through cw_entity_trigger.  API functions hand the trigger what
 * plain SQL cannot say (a named transition, if_match, the source, the
 * caller's role) through a CwRequest.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "reserved.h"
#include "store.h"
#include "store_int.h"
#include "shard.h"

PG_FUNCTION_INFO_V1(cyoda_wf_entity_trigger);

static const char *const col_names[NCOLS] = {
	"id", "model", "model_version", "state", "data", "created_at",
	"updated_at", "version", "last_transition", "workflow", "parent_id",
	"source", "transaction_id"
};
int			cw_col_attnum[NCOLS];
static Oid	col_relid = InvalidOid;

static CwRequest *pending = NULL;

/* cyoda_wf.notify: NOTIFY cyoda_wf for every save */
bool		cw_notify = true;

/* cyoda_wf.notify_payload: what a NOTIFY tells every listener */
int			cw_notify_payload = CW_NOTIFY_PAYLOAD_FULL;

/*
 * Working memory of a save.  Saves nest (a process saves other entities),
 * so there is one context per nesting depth, kept for the session and
 * reset before and after each save: no context is created or freed per save.
 * A reset frees every block but the first, so the first is made big enough
 * for a usual save (CW_SAVE_KEEP): with the default 8 kB, each save of a
 * cascade malloc'ed 16, 32 and 64 kB blocks and freed them again, and where
 * they were the top of the heap, glibc gave the memory back to the kernel
 * and took it again on the next save (four brk calls and their page faults
 * per save, a fifth of the CPU of a save with five PL/Python processes).
 */
#define CW_SAVE_CXTS 16
#define CW_SAVE_KEEP (256 * 1024)
static MemoryContext save_cxts[CW_SAVE_CXTS];

static MemoryContext
cw_save_cxt(void)
{
	int			depth = cw_engine_depth();

	if (depth >= CW_SAVE_CXTS)
		return AllocSetContextCreate(CurrentMemoryContext, "cyoda_wf save",
									 ALLOCSET_DEFAULT_SIZES);
	if (save_cxts[depth] == NULL)
		save_cxts[depth] = AllocSetContextCreate(TopMemoryContext, "cyoda_wf save",
												 CW_SAVE_KEEP,
												 ALLOCSET_DEFAULT_INITSIZE,
												 ALLOCSET_DEFAULT_MAXSIZE);
	MemoryContextReset(save_cxts[depth]);
	return save_cxts[depth];
}

/* Done with a save's memory: reset it (or delete a one-off deep context). */
static void
cw_save_cxt_done(MemoryContext cxt)
{
	for (int i = 0; i < CW_SAVE_CXTS; i++)
		if (save_cxts[i] == cxt)
		{
			MemoryContextReset(cxt);
			return;
		}
	MemoryContextDelete(cxt);
}

/* Hand `req` to the next save the trigger sees (NULL to withdraw it). */
void
cw_store_set_request(CwRequest *req)
{
	pending = req;
}

/* Map the columns of cyoda_wf.entity (rel), once per relation. */
void
cw_store_columns(Relation rel)
{
	if (col_relid == RelationGetRelid(rel))
		return;
	cw_map_columns(rel, col_names, NCOLS, cw_col_attnum);
	col_relid = RelationGetRelid(rel);
}

/* Column col of an entity row. */
Datum
cw_col(HeapTuple tup, TupleDesc td, int col, bool *isnull)
{
	return heap_getattr(tup, cw_col_attnum[col], td, isnull);
}

/* Column col of an entity row as a C string, or NULL. */
char *
cw_col_text(HeapTuple tup, TupleDesc td, int col)
{
	bool		isnull;
	Datum		d = cw_col(tup, td, col, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

static const char *
cw_source_name(int source)
{
	switch (source)
	{
		case CW_SOURCE_SCHEDULED:
			return "SCHEDULED";
		case CW_SOURCE_ENTITY_EVENT:
			return "ENTITY_EVENT";
		default:
			return "API_REQUEST";
	}
}

/* A JSON string, or null. */
static void
cw_json_str(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoString(buf, "null");
	else
		escape_json(buf, s);
}

/*
 * What a save leaves behind besides the row itself: its version row and
 * audit rows (buffered until the statement ends), its tasks, and the
 * notification.  version < 0: audit rows only.
 */
static void
cw_store_record(CwSave *s, Datum id, int64 version, const char *change_type,
				TimestampTz at, const char *transition, uint64 xid, bool with_data)
{
	StringInfoData payload;
	bool		deleted = change_type != NULL && strcmp(change_type, "DELETE") == 0;

	cw_store_buffer(s, id, version, change_type, at, transition, xid, with_data);

	if (change_type != NULL &&
		(deleted || s->moved || s->tasks != NIL || (s->wf != NULL && s->wf->has_schedules)))
		cw_store_tasks_as_owner(s, id, deleted);

	if (change_type == NULL || !cw_notify)
		return;
	/* the text jsonb would print for these keys, written directly */
	initStringInfo(&payload);
	appendStringInfoString(&payload, "{\"id\": ");
	cw_json_str(&payload, s->id);
	if (cw_notify_payload == CW_NOTIFY_PAYLOAD_ID)
	{
		/* any role that can connect may LISTEN: only what says "look" */
		appendStringInfoString(&payload, ", \"changeType\": ");
		cw_json_str(&payload, change_type);
		appendStringInfoChar(&payload, '}');
		Async_Notify("cyoda_wf", payload.data);
		return;
	}
	appendStringInfoString(&payload, ", \"model\": ");
	cw_json_str(&payload, s->model->name);
	appendStringInfoString(&payload, ", \"state\": ");
	cw_json_str(&payload, s->state_name);
	appendStringInfo(&payload, ", \"version\": " INT64_FORMAT ", \"changeType\": ", version);
	cw_json_str(&payload, change_type);
	appendStringInfoString(&payload, ", \"transition\": ");
	/* an async transition queued by this save, instead of loopback */
	cw_json_str(&payload, s->queued ? s->queued : transition);
	appendStringInfo(&payload, ", \"modelVersion\": %d", s->model->version);
	if (s->queued != NULL)
		appendStringInfoString(&payload, ", \"queued\": true");
	appendStringInfoChar(&payload, '}');
	Async_Notify("cyoda_wf", payload.data);
}

/* Audit rows only: a timer that fired without effect. */
static void
cw_store_record_audit_only(CwSave *s, Datum id, uint64 xid)
{
	cw_store_record(s, id, -1, NULL, 0, NULL, xid, false);
}

/* 55000 for a write of engine-owned column col; detail (or NULL) says why. */
static void
cw_reject_column(int col, const char *op, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("column \"%s\" of cyoda_wf.entity is owned by the engine and cannot be set by %s",
					col_names[col], op),
			 detail ? errdetail_internal("%s", detail) : 0,
			 errhint(col == COL_STATE ?
					 "Fire a transition instead: SELECT cyoda_wf.fire(id, 'transition_name')." :
					 "Write only model, model_version and data (and id on INSERT).")));
}

static Jsonb *
cw_checked_data(bool isnull, Datum d)
{
	Jsonb	   *jb;

	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("entity data must not be NULL"),
				 errhint("Use '{}' for an entity without data.")));
	jb = DatumGetJsonbP(d);
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity data must be a JSON object")));
	return jb;
}

static const char *
cw_current_role(void)
{
	return GetUserNameFromId(GetUserId(), false);
}

/*
 * Engine-owned columns that every save fills: a row "as it is" sets all of
 * them.  last_transition and parent_id are engine-owned too but may be NULL.
 */
static const bool col_always_set[NCOLS] = {
	[COL_STATE] = true, [COL_CREATED_AT] = true, [COL_UPDATED_AT] = true,
	[COL_VERSION] = true, [COL_WORKFLOW] = true, [COL_SOURCE] = true,
	[COL_TRANSACTION_ID] = true,
};

/*
 * An INSERT that sets engine-owned columns, as pg_dump's COPY and INSERT
 * statements do.  The row is stored as it is (no workflow run, no version
 * or audit row, no task, no notification: it is a save made earlier) when
 * the role writing it has the privileges of the entity table's owner (a
 * superuser, the extension owner or a member of it, who could disable this
 * trigger anyway) and it sets every column a save always fills.  Any other
 * role gets 55000 as before; so does an incomplete row, whoever writes it.
 * Returns false for an ordinary INSERT, which sets none of them.
 */
static bool
cw_store_as_is(TriggerData *td)
{
	Relation	rel = td->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	HeapTuple	tup = td->tg_trigtuple;
	int			first = -1;
	bool		isnull;
	bool		known = false;
	Datum		data;
	char	   *source;
	int64		version;

	for (int c = COL_STATE; c < NCOLS && first < 0; c++)
		if (c != COL_DATA && !heap_attisnull(tup, cw_col_attnum[c], desc))
			first = c;
	if (first < 0)
		return false;
	if (!has_privs_of_role(GetUserId(), rel->rd_rel->relowner))
		cw_reject_column(first, "INSERT",
						 "Only a superuser or the owner of the extension may store an entity row as it is, "
						 "as a restore of pg_dump's output does.");

	for (int c = COL_STATE; c < NCOLS; c++)
		if (col_always_set[c] && heap_attisnull(tup, cw_col_attnum[c], desc))
		{
			StringInfoData detail;
			const char *sep = "";

			initStringInfo(&detail);
			appendStringInfoString(&detail, "A row stored as it is sets every one of");
			for (int k = COL_STATE; k < NCOLS; k++)
				if (col_always_set[k])
				{
					appendStringInfo(&detail, "%s %s", sep, col_names[k]);
					sep = ",";
				}
			appendStringInfoString(&detail, "; this one lacks");
			sep = "";
			for (int k = COL_STATE; k < NCOLS; k++)
				if (col_always_set[k] && heap_attisnull(tup, cw_col_attnum[k], desc))
				{
					appendStringInfo(&detail, "%s %s", sep, col_names[k]);
					sep = ",";
				}
			appendStringInfoChar(&detail, '.');
			cw_reject_column(first, "INSERT", detail.data);
		}

	/* the same checks as for a new entity, and what a save can produce */
	data = cw_col(tup, desc, COL_DATA, &isnull);
	(void) cw_checked_data(isnull, data);
	version = DatumGetInt64(cw_col(tup, desc, COL_VERSION, &isnull));
	source = cw_col_text(tup, desc, COL_SOURCE);
	for (int src = CW_SOURCE_API_REQUEST; src <= CW_SOURCE_ENTITY_EVENT; src <<= 1)
		known = known || strcmp(source, cw_source_name(src)) == 0;
	if (version < 1 || !known)
	{
		Datum		id = cw_col(tup, desc, COL_ID, &isnull);
		const char *idtext = isnull ? "without an id" :
			DatumGetCString(DirectFunctionCall1(uuid_out, id));

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 version < 1 ?
				 errmsg("entity version must be at least 1, not " INT64_FORMAT, version) :
				 errmsg("entity source must be API_REQUEST, SCHEDULED or ENTITY_EVENT, not \"%s\"", source),
				 errdetail("The row of entity %s sets every engine-owned column: it would be stored as it is.",
						   idtext),
				 errhint("Store rows as pg_dump wrote them, or write only model, model_version and data "
						 "to create an entity through its workflow.")));
	}
	return true;
}

/* The source of a new entity: the request's, else by who creates it; checked against the model. */
static int
cw_insert_source(CwSave *s, CwRequest *req, CwSave *parent)
{
	int			source;

	if (req && req->source)
		source = req->source;
	else if (parent != NULL)
		source = CW_SOURCE_ENTITY_EVENT;
	else
		source = CW_SOURCE_API_REQUEST;
	if ((s->model->sources & source) == 0)
	{
		bool		only_events = s->model->sources == CW_SOURCE_ENTITY_EVENT;

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("entities of model \"%s\" version %d cannot be created from source %s",
						s->model->name, s->model->version, cw_source_name(source)),
				 only_events && s->model->depends_on ?
				 errhint("Entities of this model are created by the processes of \"%s\".",
						 s->model->depends_on) :
				 only_events ?
				 errhint("Entities of this model are created by processes of other entities.") : 0));
	}
	return source;
}

/*
 * A new entity's save from the inserted row: pins its model (s->model) and
 * switches to the save's memory context, which it returns.
 */
static MemoryContext
cw_insert_prepare(CwSave *s, HeapTuple tup, TupleDesc desc, CwRequest *req, Datum *id)
{
	MemoryContext savecxt;
	bool		isnull;
	char	   *model;
	int32		mversion;
	Datum		d;

	*id = cw_col(tup, desc, COL_ID, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("entity id must not be NULL")));
	cw_shard_check_id(DatumGetUUIDP(*id));
	model = cw_col_text(tup, desc, COL_MODEL);
	if (model == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("entity model must not be NULL")));
	mversion = DatumGetInt32(cw_col(tup, desc, COL_MODEL_VERSION, &isnull));
	if (isnull)
		mversion = 1;

	memset(s, 0, sizeof(*s));
	s->model = cw_model_pin(model, mversion);

	savecxt = cw_save_cxt();
	MemoryContextSwitchTo(savecxt);
	strlcpy(s->id, DatumGetCString(DirectFunctionCall1(uuid_out, *id)), sizeof(s->id));
	d = cw_col(tup, desc, COL_DATA, &isnull);
	s->data = cw_checked_data(isnull, d);
	s->role = (req && req->role) ? req->role : cw_current_role();
	return savecxt;
}

#define SETCOL(c, v) (cols[ncols] = cw_col_attnum[c], values[ncols] = (v), nulls[ncols] = false, ncols++)
#define SETNULL(c) (cols[ncols] = cw_col_attnum[c], values[ncols] = (Datum) 0, nulls[ncols] = true, ncols++)

/* The inserted row as the save left it. */
static HeapTuple
cw_insert_row(TriggerData *td, CwSave *s, CwSave *parent, int source,
			  TimestampTz now, uint64 xid)
{
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	int			cols[NCOLS];
	int			ncols = 0;

	SETCOL(COL_MODEL_VERSION, Int32GetDatum(s->model->version));
	SETCOL(COL_STATE, CStringGetTextDatum(s->state_name));
	SETCOL(COL_DATA, JsonbPGetDatum(s->data));
	SETCOL(COL_CREATED_AT, TimestampTzGetDatum(now));
	SETCOL(COL_UPDATED_AT, TimestampTzGetDatum(now));
	SETCOL(COL_VERSION, Int64GetDatum(1));
	if (s->made)
		SETCOL(COL_LAST_TRANSITION, CStringGetTextDatum(s->made));
	else
		SETNULL(COL_LAST_TRANSITION);
	SETCOL(COL_WORKFLOW, CStringGetTextDatum(s->wf_name));
	if (parent && source == CW_SOURCE_ENTITY_EVENT)
		SETCOL(COL_PARENT_ID, DirectFunctionCall1(uuid_in, CStringGetDatum(parent->id)));
	else
		SETNULL(COL_PARENT_ID);
	SETCOL(COL_SOURCE, CStringGetTextDatum(cw_source_name(source)));
	SETCOL(COL_TRANSACTION_ID, Int64GetDatum((int64) xid));
	return heap_modify_tuple_by_cols(td->tg_trigtuple, RelationGetDescr(td->tg_relation),
									 ncols, cols, values, nulls);
}

/* BEFORE INSERT: a new entity. */
static HeapTuple
cw_store_insert(TriggerData *td, CwRequest *req)
{
	CwSave		s;
	CwSave	   *parent = cw_engine_running_process();
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext savecxt;
	Datum		id;
	int			source;
	uint64		xid;
	TimestampTz now;
	HeapTuple	result;

	if (cw_store_as_is(td))
		return td->tg_trigtuple;

	savecxt = cw_insert_prepare(&s, td->tg_trigtuple, RelationGetDescr(td->tg_relation), req, &id);
	source = cw_insert_source(&s, req, parent);
	s.created_at = s.updated_at = s.started_at = GetCurrentTimestamp();

	cw_engine_run(&s, CW_RUN_CREATE, NULL);

	now = GetCurrentTimestamp();
	xid = U64FromFullTransactionId(GetTopFullTransactionId());
	cw_store_record(&s, id, 1, "CREATE", now, s.made, xid, true);

	MemoryContextSwitchTo(callercxt);
	result = cw_insert_row(td, &s, parent, source, now, xid);
	cw_save_cxt_done(savecxt);
	cw_model_unpin(s.model);
	return result;
}

/*
 * An UPDATE of an entity row changes data only (the engine owns the rest)
 * and, with if_match, only the version asked for.  Returns the old version;
 * ov/on hold the old row, the new data goes to *data / *data_null.
 */
static int64
cw_update_check(TriggerData *td, CwRequest *req, Datum *ov, bool *on,
				Datum *data, bool *data_null)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	Datum	   *nv = palloc(desc->natts * sizeof(Datum));
	bool	   *nn = palloc(desc->natts * sizeof(bool));
	int64		version;
	int			da = cw_col_attnum[COL_DATA] - 1;

	heap_deform_tuple(td->tg_trigtuple, desc, ov, on);
	heap_deform_tuple(td->tg_newtuple, desc, nv, nn);

	for (int c = 0; c < NCOLS; c++)
	{
		int			a = cw_col_attnum[c] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (c == COL_DATA)
			continue;
		if (on[a] != nn[a] || (!on[a] && !datumIsEqual(ov[a], nv[a], att->attbyval, att->attlen)))
			cw_reject_column(c, "UPDATE", NULL);
	}

	version = DatumGetInt64(ov[cw_col_attnum[COL_VERSION] - 1]);
	if (req && req->has_if_match && req->if_match != version)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("entity %s is at version " INT64_FORMAT ", not " INT64_FORMAT,
						DatumGetCString(DirectFunctionCall1(uuid_out, ov[cw_col_attnum[COL_ID] - 1])),
						version, req->if_match),
				 errhint("Read the entity again and retry with its current version.")));
	*data = nv[da];
	*data_null = nn[da];
	return version;
}

/*
 * An existing entity's save from its old row and new data: pins its model
 * (s->model) and switches to the save's memory context, which it returns.
 */
static MemoryContext
cw_update_prepare(CwSave *s, Datum *ov, bool *on, Datum data, bool data_null,
				  CwRequest *req)
{
	MemoryContext savecxt;

#define OLDV(c) (ov[cw_col_attnum[c] - 1])
#define OLDTEXT(c) (on[cw_col_attnum[c] - 1] ? NULL : TextDatumGetCString(OLDV(c)))
	memset(s, 0, sizeof(*s));
	s->model = cw_model_pin(OLDTEXT(COL_MODEL), DatumGetInt32(OLDV(COL_MODEL_VERSION)));
	savecxt = cw_save_cxt();
	MemoryContextSwitchTo(savecxt);
	strlcpy(s->id, DatumGetCString(DirectFunctionCall1(uuid_out, OLDV(COL_ID))), sizeof(s->id));
	s->data = cw_checked_data(data_null, data);
	/* new data from the client (fire and update_item without data keep it) */
	s->client_data = DatumGetPointer(OLDV(COL_DATA)) != DatumGetPointer(data) &&
		!datumIsEqual(OLDV(COL_DATA), data, false, -1);
	s->strict_schema = req != NULL && req->patch;
	s->role = (req && req->role) ? req->role : cw_current_role();
	s->wf_name = OLDTEXT(COL_WORKFLOW);
	s->state_name = OLDTEXT(COL_STATE);
	s->prev_transition = OLDTEXT(COL_LAST_TRANSITION);
	s->created_at = DatumGetTimestampTz(OLDV(COL_CREATED_AT));
	s->updated_at = DatumGetTimestampTz(OLDV(COL_UPDATED_AT));
	s->started_at = GetCurrentTimestamp();	/* entity_version.started_at */
#undef OLDV
#undef OLDTEXT
	return savecxt;
}

/*
 * The columns a save of an existing entity may write (cw_update_row): the
 * engine's UPDATE tells the indexes on other columns that their key is
 * unchanged (store_update.c).
 */
const bool	cw_col_updated[NCOLS] = {
	[COL_STATE] = true, [COL_DATA] = true, [COL_UPDATED_AT] = true,
	[COL_VERSION] = true, [COL_LAST_TRANSITION] = true, [COL_WORKFLOW] = true,
	[COL_TRANSACTION_ID] = true,
};

/* The updated row as the save left it. */
static HeapTuple
cw_update_row(TriggerData *td, CwSave *s, int64 version, const char *lt,
			  TimestampTz now, uint64 xid)
{
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	int			cols[NCOLS];
	int			ncols = 0;

	SETCOL(COL_STATE, CStringGetTextDatum(s->state_name));
	SETCOL(COL_DATA, JsonbPGetDatum(s->data));
	SETCOL(COL_UPDATED_AT, TimestampTzGetDatum(now));
	SETCOL(COL_VERSION, Int64GetDatum(version));
	if (lt != NULL)
		SETCOL(COL_LAST_TRANSITION, CStringGetTextDatum(lt));
	SETCOL(COL_TRANSACTION_ID, Int64GetDatum((int64) xid));
	if (s->moved)
		SETCOL(COL_WORKFLOW, CStringGetTextDatum(s->wf_name));
#ifdef USE_ASSERT_CHECKING
	for (int i = 0; i < ncols; i++)
	{
		int			c = 0;

		while (cw_col_attnum[c] != cols[i])
			c++;
		Assert(cw_col_updated[c]);
	}
#endif
	return heap_modify_tuple_by_cols(td->tg_newtuple, RelationGetDescr(td->tg_relation),
									 ncols, cols, values, nulls);
}

#undef SETCOL
#undef SETNULL

/* BEFORE UPDATE: a save of an existing entity. */
static HeapTuple
cw_store_update(TriggerData *td, CwRequest *req)
{
	int			natts = RelationGetDescr(td->tg_relation)->natts;
	Datum	   *ov = palloc(natts * sizeof(Datum));
	bool	   *on = palloc(natts * sizeof(bool));
	CwSave		s;
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext savecxt;
	Datum		data;
	bool		data_null;
	Datum		id;
	int64		version;
	uint64		xid;
	TimestampTz now;
	const char *lt;
	HeapTuple	result;

	version = cw_update_check(td, req, ov, on, &data, &data_null);
	id = ov[cw_col_attnum[COL_ID] - 1];
	savecxt = cw_update_prepare(&s, ov, on, data, data_null, req);

	if (req && req->kind == CW_REQ_TASK)
	{
		s.attempt = req->attempt;
		cw_engine_run(&s, req->task_timer ? CW_RUN_TIMER : CW_RUN_TASK, req->transition);
		if (s.made == NULL && s.tasks == NIL)
		{
			/* a due timer whose criterion did not match: audited, not a save */
			xid = U64FromFullTransactionId(GetTopFullTransactionId());
			cw_store_record_audit_only(&s, id, xid);
			MemoryContextSwitchTo(callercxt);
			cw_save_cxt_done(savecxt);
			cw_model_unpin(s.model);
			return heap_copytuple(td->tg_trigtuple);
		}
	}
	else if (req && req->kind == CW_REQ_MOVE)
	{
		PG_TRY();
		{
			cw_engine_move(&s, req->move_workflow, req->move_state, req->move_reason);
		}
		PG_CATCH();
		{
			cw_model_unpin(s.model);
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	else
		cw_engine_run(&s, CW_RUN_UPDATE, req ? req->transition : NULL);

	now = GetCurrentTimestamp();
	xid = U64FromFullTransactionId(GetTopFullTransactionId());
	/* a move is no transition: its version row names none, last_transition stays */
	lt = s.moved ? NULL : s.made ? s.made : "loopback";
	cw_store_record(&s, id, version + 1, "UPDATE", now, lt, xid, true);

	MemoryContextSwitchTo(callercxt);
	result = cw_update_row(td, &s, version + 1, lt, now, xid);
	cw_save_cxt_done(savecxt);
	cw_model_unpin(s.model);
	return result;
}

/* BEFORE DELETE: record the deletion; no workflow runs. */
static HeapTuple
cw_store_delete(TriggerData *td, CwRequest *req)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	oldtup = td->tg_trigtuple;
	CwSave		s;
	bool		isnull;
	Datum		id;
	int64		version;
	char	   *model;
	int32		mversion;

	id = cw_col(oldtup, desc, COL_ID, &isnull);
	version = DatumGetInt64(cw_col(oldtup, desc, COL_VERSION, &isnull));
	model = cw_col_text(oldtup, desc, COL_MODEL);
	mversion = DatumGetInt32(cw_col(oldtup, desc, COL_MODEL_VERSION, &isnull));

	memset(&s, 0, sizeof(s));
	/* a bare model record: deleting needs no compiled workflow */
	s.model = palloc0(sizeof(CwModel));
	s.model->name = model;
	s.model->version = mversion;
	strlcpy(s.id, DatumGetCString(DirectFunctionCall1(uuid_out, id)), sizeof(s.id));
	s.role = (req && req->role) ? req->role : cw_current_role();
	s.state_name = cw_col_text(oldtup, desc, COL_STATE);
	cw_store_record(&s, id, version + 1, "DELETE", GetCurrentTimestamp(), NULL,
					U64FromFullTransactionId(GetTopFullTransactionId()), false);
	return oldtup;
}

PG_FUNCTION_INFO_V1(cyoda_wf_entity_flush);

/* AFTER STATEMENT trigger on cyoda_wf.entity: write the statement's buffered rows. */
Datum
cyoda_wf_entity_flush(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "entity_flush: not called by trigger manager");
	cw_store_flush();
	return PointerGetDatum(NULL);
}

/* The row trigger on cyoda_wf.entity. */
Datum
cyoda_wf_entity_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	CwRequest  *req = NULL;
	HeapTuple	rettup;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "entity_trigger: not called by trigger manager");
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event))
		elog(ERROR, "entity_trigger: must be fired before, for each row");

	cw_store_columns(td->tg_relation);

	/* take the API's request if it is meant for this row */
	if (pending != NULL)
	{
		if (TRIGGER_FIRED_BY_INSERT(td->tg_event) && pending->kind == CW_REQ_INSERT)
			req = pending;
		else if (!TRIGGER_FIRED_BY_INSERT(td->tg_event) && pending->kind != CW_REQ_INSERT)
		{
			bool		isnull;
			Datum		id = heap_getattr(td->tg_trigtuple, cw_col_attnum[COL_ID],
										  RelationGetDescr(td->tg_relation), &isnull);

			if (!isnull && memcmp(DatumGetUUIDP(id), &pending->id, sizeof(pg_uuid_t)) == 0)
				req = pending;
		}
		if (req != NULL)
			pending = NULL;
	}

	/* reserved models: written by their own functions only */
	{
		TupleDesc	desc = RelationGetDescr(td->tg_relation);
		bool		isnull;
		Datum		model = heap_getattr(td->tg_trigtuple, cw_col_attnum[COL_MODEL], desc, &isnull);

		if (!isnull)
			cw_reserved_check_write(model,
									TRIGGER_FIRED_BY_INSERT(td->tg_event) ? CW_REQ_INSERT :
									TRIGGER_FIRED_BY_DELETE(td->tg_event) ? CW_REQ_DELETE : CW_REQ_UPDATE,
									heap_getattr(td->tg_trigtuple, cw_col_attnum[COL_ID], desc, &isnull),
									req != NULL);
	}

	if (TRIGGER_FIRED_BY_INSERT(td->tg_event))
		rettup = cw_store_insert(td, req);
	else if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		rettup = cw_store_update(td, req);
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		rettup = cw_store_delete(td, req);
	else
		elog(ERROR, "entity_trigger: unexpected event");
	return PointerGetDatum(rettup);
}

/*-------------------------------------------------------------------------
 * store.c
 *		The entity table as an event source: row triggers that run the
 *		engine, and the writes that go with every save (entity row, version
 *		row, audit rows, notification).
 *
 * Every save, whether plain SQL on cyoda_wf.entity or an API function,
 * passes through cw_entity_trigger.  API functions hand the trigger what
 * plain SQL cannot say (a named transition, if_match, the source, the
 * caller's role) through a CwRequest.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "access/htup_details.h"
#include "utils/typcache.h"
#include "utils/syscache.h"
#include "funcapi.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "store.h"

PG_FUNCTION_INFO_V1(entity_trigger);

/* Columns of cyoda_wf.entity, by attribute number. */
enum
{
	COL_ID, COL_MODEL, COL_MODEL_VERSION, COL_STATE, COL_DATA, COL_CREATED_AT,
	COL_UPDATED_AT, COL_VERSION, COL_LAST_TRANSITION, COL_WORKFLOW,
	COL_PARENT_ID, COL_SOURCE, COL_TRANSACTION_ID, NCOLS
};
static const char *const col_names[NCOLS] = {
	"id", "model", "model_version", "state", "data", "created_at",
	"updated_at", "version", "last_transition", "workflow", "parent_id",
	"source", "transaction_id"
};
static int	col_attnum[NCOLS];
static Oid	col_relid = InvalidOid;

static CwRequest *pending = NULL;

static SPIPlanPtr plan_disarm = NULL;
static SPIPlanPtr plan_task = NULL;

/*
 * Working memory of a save.  Saves nest (a process saves other entities),
 * so there is one context per nesting depth, kept for the session and
 * reset before and after each save: no context is created or freed per save.
 */
#define CW_SAVE_CXTS 16
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
												 ALLOCSET_DEFAULT_SIZES);
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

static void
cw_store_columns(Relation rel)
{
	if (col_relid == RelationGetRelid(rel))
		return;
	for (int i = 0; i < NCOLS; i++)
	{
		col_attnum[i] = SPI_fnumber(RelationGetDescr(rel), col_names[i]);
		if (col_attnum[i] <= 0)
			elog(ERROR, "column \"%s\" missing from %s", col_names[i],
				 RelationGetRelationName(rel));
	}
	col_relid = RelationGetRelid(rel);
}

static Datum
cw_col(HeapTuple tup, TupleDesc td, int col, bool *isnull)
{
	return heap_getattr(tup, col_attnum[col], td, isnull);
}

static char *
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

static SPIPlanPtr
cw_keep(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

	if (p == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(p);
	return p;
}

/*
 * Disarm the entity's pending timers (all its pending tasks on delete) and
 * queue what the save asked for.  Called inside cw_store_record's SPI
 * connection, as the engine owner.
 */
static void
cw_store_tasks(CwSave *s, Datum id, bool deleted)
{
	int			rc;
	ListCell   *lc;

	if (deleted || (s->wf != NULL && s->wf->has_schedules))
	{
		Datum		a[2] = {id, BoolGetDatum(deleted)};

		if (plan_disarm == NULL)
		{
			Oid			t[2] = {UUIDOID, BOOLOID};

			plan_disarm = cw_keep(
				"UPDATE cyoda_wf.task SET state = 'cancelled', finished_at = pg_catalog.clock_timestamp() "
				"WHERE entity_id OPERATOR(pg_catalog.=) $1 AND state OPERATOR(pg_catalog.=) 'pending' "
				"AND ($2 OR kind OPERATOR(pg_catalog.=) 'timer')", 2, t);
		}
		rc = SPI_execute_plan(plan_disarm, a, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	}
	if (deleted)
		return;
	foreach(lc, s->tasks)
	{
		CwTaskEntry *e = lfirst(lc);
		Datum		a[8];
		char		n[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		if (plan_task == NULL)
		{
			Oid			t[8] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, INT4OID, INT4OID, INT8OID, INT8OID};

			/* an async transition already queued from this state is not queued twice */
			plan_task = cw_keep(
				"INSERT INTO cyoda_wf.task (entity_id, transition, from_state, kind, max_attempts, "
				"retry_delay_ms, timeout_ms, run_at) SELECT $1, $2, $3, $4, $5, $6, $7, "
				"pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) "
				"($8 OPERATOR(pg_catalog.*) interval '1 millisecond') "
				"WHERE $4 OPERATOR(pg_catalog.=) 'timer' OR NOT EXISTS (SELECT 1 FROM cyoda_wf.task q "
				"WHERE q.entity_id OPERATOR(pg_catalog.=) $1 AND q.state OPERATOR(pg_catalog.=) 'pending' "
				"AND q.kind OPERATOR(pg_catalog.=) 'process' AND q.transition OPERATOR(pg_catalog.=) $2 "
				"AND q.from_state OPERATOR(pg_catalog.=) $3)", 8, t);
		}
		a[0] = id;
		a[1] = CStringGetTextDatum(e->transition);
		a[2] = CStringGetTextDatum(e->from_state);
		a[3] = CStringGetTextDatum(e->timer ? "timer" : "process");
		a[4] = Int32GetDatum(e->max_attempts);
		a[5] = Int32GetDatum(e->retry_delay_ms);
		a[6] = Int64GetDatum(e->timeout_ms);
		n[6] = e->timeout_ms < 0 ? 'n' : ' ';
		a[7] = Int64GetDatum(e->delay_ms);
		rc = SPI_execute_plan(plan_task, a, n, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	}
	if (s->tasks != NIL)
		cw_tasks_queued();
}

/*
 * Rows of saves not yet written: every version row and audit row of a
 * statement is buffered and written by one INSERT when the statement ends
 * (cw_store_flush, from the AFTER STATEMENT trigger), or earlier when a
 * nested statement ends.  Entries remember the subtransaction level they
 * were made at, so a rolled-back subtransaction takes its rows with it.
 */
typedef struct CwPendingVersion
{
	pg_uuid_t	id;
	int64		version;
	const char *change_type;
	TimestampTz at;
	const char *role;
	const char *model;
	int32		model_version;
	const char *state;
	const char *transition;
	int64		xid;
	Jsonb	   *data;
	int			level;
} CwPendingVersion;

typedef struct CwPendingAudit
{
	pg_uuid_t	id;
	TimestampTz at;
	int64		xid;
	const char *event;
	const char *transition;
	const char *from_state;
	const char *to_state;
	const char *role;
	Jsonb	   *detail;
	int			level;
} CwPendingAudit;

static MemoryContext pend_cxt = NULL;	/* child of TopTransactionContext */
static List *pend_versions = NIL;
static List *pend_audits = NIL;

static char *
cw_pend_strdup(const char *s)
{
	return s ? MemoryContextStrdup(pend_cxt, s) : NULL;
}

/* Buffer one save's version row and audit rows (copied out of the save). */
static void
cw_store_buffer(CwSave *s, Datum id, int64 version, const char *change_type,
				TimestampTz at, const char *transition, uint64 xid, bool with_data)
{
	MemoryContext old;
	int			level = GetCurrentTransactionNestLevel();
	ListCell   *lc;
	const char *role;

	if (pend_cxt == NULL)
		pend_cxt = AllocSetContextCreate(TopTransactionContext, "cyoda_wf pending rows",
										 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(pend_cxt);
	role = pstrdup(s->role);
	if (version >= 0)
	{
		CwPendingVersion *v = palloc(sizeof(CwPendingVersion));

		memcpy(&v->id, DatumGetUUIDP(id), sizeof(pg_uuid_t));
		v->version = version;
		v->change_type = change_type;	/* a string constant */
		v->at = at;
		v->role = role;
		v->model = pstrdup(s->model->name);
		v->model_version = s->model->version;
		v->state = cw_pend_strdup(s->state_name);
		v->transition = cw_pend_strdup(transition);
		v->xid = (int64) xid;
		v->data = with_data ? (Jsonb *) datumCopy(JsonbPGetDatum(s->data), false, -1) : NULL;
		v->level = level;
		pend_versions = lappend(pend_versions, v);
	}
	foreach(lc, s->audit)
	{
		CwAuditEntry *e = lfirst(lc);
		CwPendingAudit *a = palloc(sizeof(CwPendingAudit));

		memcpy(&a->id, DatumGetUUIDP(id), sizeof(pg_uuid_t));
		a->at = e->at;
		a->xid = (int64) xid;
		a->event = e->event;	/* a string constant */
		a->transition = cw_pend_strdup(e->transition);
		a->from_state = cw_pend_strdup(e->from_state);
		a->to_state = cw_pend_strdup(e->to_state);
		a->role = role;
		a->detail = e->detail ? (Jsonb *) datumCopy(JsonbPGetDatum(e->detail), false, -1) : NULL;
		a->level = level;
		pend_audits = lappend(pend_audits, a);
	}
	MemoryContextSwitchTo(old);
}

/* A composite datum of row type `typid` (desc) from values and nulls. */
static Datum
cw_row(TupleDesc desc, Datum *values, bool *nulls)
{
	return HeapTupleGetDatum(heap_form_tuple(desc, values, nulls));
}

/* An array of composite datums. */
static Datum
cw_row_array(Datum *rows, int n, Oid typid)
{
	return PointerGetDatum(construct_array(rows, n, typid, -1, false, TYPALIGN_DOUBLE));
}

/*
 * Write every buffered version and audit row with one statement: two
 * arrays of rows (cyoda_wf.entity_version and cyoda_wf.audit_row), each
 * unnested into its table.
 */
void
cw_store_flush(void)
{
	static SPIPlanPtr plan = NULL;
	static Oid	plan_vtype = InvalidOid;
	static Oid	plan_atype = InvalidOid;
	int			nv = list_length(pend_versions);
	int			na = list_length(pend_audits);
	Oid			nsp,
				vtype,
				atype;
	TupleDesc	vdesc,
				adesc;
	Datum	   *vrows,
			   *arows;
	Datum		args[2];
	int			i;
	ListCell   *lc;
	Oid			save_userid;
	int			save_sec;

	if (nv == 0 && na == 0)
		return;
	nsp = get_namespace_oid(CW_SCHEMA, false);
	vtype = get_rel_type_id(cw_relid("entity_version"));
	atype = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
							CStringGetDatum("audit_row"), ObjectIdGetDatum(nsp));
	if (!OidIsValid(vtype) || !OidIsValid(atype))
		elog(ERROR, "cyoda_wf row types are missing");
	vdesc = lookup_rowtype_tupdesc_copy(vtype, -1);
	adesc = lookup_rowtype_tupdesc_copy(atype, -1);
	vrows = palloc(sizeof(Datum) * (nv + 1));
	arows = palloc(sizeof(Datum) * (na + 1));

#define TXT(v, n, i, s) ((n)[i] = ((s) == NULL), (v)[i] = (s) ? CStringGetTextDatum(s) : (Datum) 0)
	i = 0;
	foreach(lc, pend_versions)
	{
		CwPendingVersion *p = lfirst(lc);
		Datum		v[11];
		bool		n[11];

		memset(n, false, sizeof(n));
		v[0] = UUIDPGetDatum(&p->id);
		v[1] = Int64GetDatum(p->version);
		TXT(v, n, 2, p->change_type);
		v[3] = TimestampTzGetDatum(p->at);
		TXT(v, n, 4, p->role);
		TXT(v, n, 5, p->model);
		v[6] = Int32GetDatum(p->model_version);
		TXT(v, n, 7, p->state);
		TXT(v, n, 8, p->transition);
		v[9] = Int64GetDatum(p->xid);
		n[10] = (p->data == NULL);
		v[10] = p->data ? JsonbPGetDatum(p->data) : (Datum) 0;
		vrows[i++] = cw_row(vdesc, v, n);
	}
	i = 0;
	foreach(lc, pend_audits)
	{
		CwPendingAudit *p = lfirst(lc);
		Datum		v[9];
		bool		n[9];

		memset(n, false, sizeof(n));
		v[0] = UUIDPGetDatum(&p->id);
		v[1] = TimestampTzGetDatum(p->at);
		v[2] = Int64GetDatum(p->xid);
		TXT(v, n, 3, p->event);
		TXT(v, n, 4, p->transition);
		TXT(v, n, 5, p->from_state);
		TXT(v, n, 6, p->to_state);
		TXT(v, n, 7, p->role);
		n[8] = (p->detail == NULL);
		v[8] = p->detail ? JsonbPGetDatum(p->detail) : (Datum) 0;
		arows[i++] = cw_row(adesc, v, n);
	}
#undef TXT
	args[0] = cw_row_array(vrows, nv, vtype);
	args[1] = cw_row_array(arows, na, atype);

	GetUserIdAndSecContext(&save_userid, &save_sec);
	SetUserIdAndSecContext(cw_engine_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (plan == NULL || plan_vtype != vtype || plan_atype != atype)
		{
			Oid			t[2];

			t[0] = get_array_type(vtype);
			t[1] = get_array_type(atype);
			if (plan != NULL)
				SPI_freeplan(plan);
			plan = NULL;
			plan = cw_keep(
				"WITH v AS (INSERT INTO cyoda_wf.entity_version "
				"SELECT * FROM pg_catalog.unnest($1)) "
				"INSERT INTO cyoda_wf.audit (entity_id, at, transaction_id, event_type, "
				"transition, from_state, to_state, role, detail) "
				"SELECT * FROM pg_catalog.unnest($2)", 2, t);
			plan_vtype = vtype;
			plan_atype = atype;
		}
		/* take the rows off the buffer first: an error must not write them twice */
		pend_versions = NIL;
		pend_audits = NIL;
		rc = SPI_execute_plan(plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		SPI_finish();
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
	}
	PG_END_TRY();
	if (pend_cxt != NULL)
		MemoryContextReset(pend_cxt);
}

/* Forget buffered rows made inside an aborted subtransaction (or all, at top level). */
static void
cw_store_discard(int level)
{
	ListCell   *lc;

	foreach(lc, pend_versions)
		if (((CwPendingVersion *) lfirst(lc))->level >= level)
			pend_versions = foreach_delete_current(pend_versions, lc);
	foreach(lc, pend_audits)
		if (((CwPendingAudit *) lfirst(lc))->level >= level)
			pend_audits = foreach_delete_current(pend_audits, lc);
}

static void
cw_store_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
			/* normally empty: every statement on the entity table flushed */
			cw_store_flush();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			pend_versions = NIL;
			pend_audits = NIL;
			pend_cxt = NULL;	/* freed with TopTransactionContext */
			break;
		default:
			break;
	}
}

static void
cw_store_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						  SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		cw_store_discard(GetCurrentTransactionNestLevel());
}

/* Register the callbacks; called once from _PG_init. */
void
cw_store_init(void)
{
	RegisterXactCallback(cw_store_xact_callback, NULL);
	RegisterSubXactCallback(cw_store_subxact_callback, NULL);
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
	CwJsonBuilder nb;
	Jsonb	   *payload;
	bool		deleted = change_type != NULL && strcmp(change_type, "DELETE") == 0;

	cw_store_buffer(s, id, version, change_type, at, transition, xid, with_data);

	if (change_type != NULL &&
		(deleted || s->tasks != NIL || (s->wf != NULL && s->wf->has_schedules)))
	{
		Oid			save_userid;
		int			save_sec;

		GetUserIdAndSecContext(&save_userid, &save_sec);
		SetUserIdAndSecContext(cw_engine_owner(), save_sec | SECURITY_LOCAL_USERID_CHANGE);
		PG_TRY();
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			cw_store_tasks(s, id, deleted);
			SPI_finish();
		}
		PG_FINALLY();
		{
			SetUserIdAndSecContext(save_userid, save_sec);
		}
		PG_END_TRY();
	}

	if (change_type == NULL)
		return;
	cw_jbb_begin(&nb);
	cw_jbb_str(&nb, "id", s->id);
	cw_jbb_str(&nb, "model", s->model->name);
	cw_jbb_int(&nb, "modelVersion", s->model->version);
	cw_jbb_int(&nb, "version", version);
	cw_jbb_str(&nb, "state", s->state_name);
	cw_jbb_str(&nb, "transition", transition);
	cw_jbb_str(&nb, "changeType", change_type);
	payload = cw_jbb_end(&nb);
	Async_Notify("cyoda_wf", JsonbToCString(NULL, &payload->root, VARSIZE(payload)));
}

/* Run the engine on s with s on the save stack; pops and unpins on error. */
static void
cw_store_run_engine(CwSave *s, bool create, const char *transition)
{
	cw_engine_push(s);
	PG_TRY();
	{
		if (create)
			cw_engine_create(s);
		else
			cw_engine_update(s, transition);
		cw_engine_unpin_path(s, true);
	}
	PG_CATCH();
	{
		cw_engine_unpin_path(s, false);
		cw_engine_pop(s);
		cw_model_unpin(s->model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	cw_engine_pop(s);
}

/* Like cw_store_run_engine, for a queued transition. */
static void
cw_store_run_task(CwSave *s, const char *transition, bool timer)
{
	cw_engine_push(s);
	PG_TRY();
	{
		cw_engine_run_task(s, transition, timer);
		cw_engine_unpin_path(s, true);
	}
	PG_CATCH();
	{
		cw_engine_unpin_path(s, false);
		cw_engine_pop(s);
		cw_model_unpin(s->model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	cw_engine_pop(s);
}

/* Audit rows only: a timer that fired without effect. */
static void
cw_store_record_audit_only(CwSave *s, Datum id, uint64 xid)
{
	cw_store_record(s, id, -1, NULL, 0, NULL, xid, false);
}

static void
cw_reject_column(int col, const char *op)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("column \"%s\" of cyoda_wf.entity is owned by the engine and cannot be set by %s",
					col_names[col], op),
			 errhint(col == COL_STATE ?
					 "Fire a transition instead: SELECT cyoda_wf.fire(id, 'transition_name')." :
					 "Write only model, model_version and data (and id on INSERT).")));
}

static Jsonb *
cw_checked_data(HeapTuple tup, TupleDesc td)
{
	bool		isnull;
	Datum		d = cw_col(tup, td, COL_DATA, &isnull);
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

/* BEFORE INSERT: a new entity. */
static HeapTuple
cw_store_insert(TriggerData *td, CwRequest *req)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	tup = td->tg_trigtuple;
	CwSave		s;
	CwSave	   *parent = cw_engine_running_process();
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext savecxt;
	bool		isnull;
	Datum		id;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	int			cols[NCOLS];
	int			ncols = 0;
	int			source;
	char	   *model;
	int32		mversion;
	uint64		xid;
	TimestampTz now;
	HeapTuple	result;

	for (int c = COL_STATE; c < NCOLS; c++)
		if (c != COL_DATA && !heap_attisnull(tup, col_attnum[c], desc))
			cw_reject_column(c, "INSERT");

	id = cw_col(tup, desc, COL_ID, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("entity id must not be NULL")));
	model = cw_col_text(tup, desc, COL_MODEL);
	if (model == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_NOT_NULL_VIOLATION),
				 errmsg("entity model must not be NULL")));
	mversion = DatumGetInt32(cw_col(tup, desc, COL_MODEL_VERSION, &isnull));
	if (isnull)
		mversion = 1;

	memset(&s, 0, sizeof(s));
	s.model = cw_model_pin(model, mversion);

	savecxt = cw_save_cxt();
	MemoryContextSwitchTo(savecxt);
	strlcpy(s.id, DatumGetCString(DirectFunctionCall1(uuid_out, id)), sizeof(s.id));
	s.data = cw_checked_data(tup, desc);
	s.role = (req && req->role) ? req->role : cw_current_role();

	if (req && req->source)
		source = req->source;
	else if (parent != NULL)
		source = CW_SOURCE_ENTITY_EVENT;
	else
		source = CW_SOURCE_API_REQUEST;
	if ((s.model->sources & source) == 0)
	{
		bool		only_events = s.model->sources == CW_SOURCE_ENTITY_EVENT;

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("entities of model \"%s\" version %d cannot be created from source %s",
						s.model->name, s.model->version, cw_source_name(source)),
				 only_events && s.model->depends_on ?
				 errhint("Entities of this model are created by the processes of \"%s\".",
						 s.model->depends_on) :
				 only_events ?
				 errhint("Entities of this model are created by processes of other entities.") : 0));
	}

	now = GetCurrentTimestamp();
	s.created_at = now;
	s.updated_at = now;

	cw_store_run_engine(&s, true, NULL);

	now = GetCurrentTimestamp();
	xid = U64FromFullTransactionId(GetTopFullTransactionId());
	cw_store_record(&s, id, 1, "CREATE", now, s.made, xid, true);

	MemoryContextSwitchTo(callercxt);
	memset(nulls, false, sizeof(nulls));
#define SETCOL(c, v) (cols[ncols] = col_attnum[c], values[ncols] = (v), nulls[ncols] = false, ncols++)
#define SETNULL(c) (cols[ncols] = col_attnum[c], values[ncols] = (Datum) 0, nulls[ncols] = true, ncols++)
	SETCOL(COL_MODEL_VERSION, Int32GetDatum(mversion));
	SETCOL(COL_STATE, CStringGetTextDatum(s.state_name));
	SETCOL(COL_DATA, JsonbPGetDatum(s.data));
	SETCOL(COL_CREATED_AT, TimestampTzGetDatum(now));
	SETCOL(COL_UPDATED_AT, TimestampTzGetDatum(now));
	SETCOL(COL_VERSION, Int64GetDatum(1));
	if (s.made)
		SETCOL(COL_LAST_TRANSITION, CStringGetTextDatum(s.made));
	else
		SETNULL(COL_LAST_TRANSITION);
	SETCOL(COL_WORKFLOW, CStringGetTextDatum(s.wf_name));
	if (parent && source == CW_SOURCE_ENTITY_EVENT)
		SETCOL(COL_PARENT_ID, DirectFunctionCall1(uuid_in, CStringGetDatum(parent->id)));
	else
		SETNULL(COL_PARENT_ID);
	SETCOL(COL_SOURCE, CStringGetTextDatum(cw_source_name(source)));
	SETCOL(COL_TRANSACTION_ID, Int64GetDatum((int64) xid));
	result = heap_modify_tuple_by_cols(tup, desc, ncols, cols, values, nulls);
	cw_save_cxt_done(savecxt);
	cw_model_unpin(s.model);
	return result;
}

/* BEFORE UPDATE: a save of an existing entity. */
static HeapTuple
cw_store_update(TriggerData *td, CwRequest *req)
{
	TupleDesc	desc = RelationGetDescr(td->tg_relation);
	HeapTuple	oldtup = td->tg_trigtuple;
	HeapTuple	newtup = td->tg_newtuple;
	CwSave		s;
	MemoryContext callercxt = CurrentMemoryContext;
	MemoryContext savecxt;
	bool		isnull;
	Datum		id;
	int64		version;
	char	   *model;
	int32		mversion;
	uint64		xid;
	TimestampTz now;
	const char *lt;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	int			cols[NCOLS];
	int			ncols = 0;
	HeapTuple	result;

	/* the engine owns everything but data */
	for (int c = 0; c < NCOLS; c++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, col_attnum[c] - 1);
		bool		n1,
					n2;
		Datum		d1,
					d2;

		if (c == COL_DATA)
			continue;
		d1 = heap_getattr(oldtup, col_attnum[c], desc, &n1);
		d2 = heap_getattr(newtup, col_attnum[c], desc, &n2);
		if (n1 != n2 || (!n1 && !datumIsEqual(d1, d2, att->attbyval, att->attlen)))
			cw_reject_column(c, "UPDATE");
	}

	id = cw_col(oldtup, desc, COL_ID, &isnull);
	version = DatumGetInt64(cw_col(oldtup, desc, COL_VERSION, &isnull));
	if (req && req->has_if_match && req->if_match != version)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("entity %s is at version " INT64_FORMAT ", not " INT64_FORMAT,
						DatumGetCString(DirectFunctionCall1(uuid_out, id)),
						version, req->if_match),
				 errhint("Read the entity again and retry with its current version.")));

	model = cw_col_text(oldtup, desc, COL_MODEL);
	mversion = DatumGetInt32(cw_col(oldtup, desc, COL_MODEL_VERSION, &isnull));

	memset(&s, 0, sizeof(s));
	s.model = cw_model_pin(model, mversion);
	savecxt = cw_save_cxt();
	MemoryContextSwitchTo(savecxt);
	strlcpy(s.id, DatumGetCString(DirectFunctionCall1(uuid_out, id)), sizeof(s.id));
	s.data = cw_checked_data(newtup, desc);
	s.role = (req && req->role) ? req->role : cw_current_role();
	s.wf_name = cw_col_text(oldtup, desc, COL_WORKFLOW);
	s.state_name = cw_col_text(oldtup, desc, COL_STATE);
	s.prev_transition = cw_col_text(oldtup, desc, COL_LAST_TRANSITION);
	s.created_at = DatumGetTimestampTz(cw_col(oldtup, desc, COL_CREATED_AT, &isnull));
	s.updated_at = DatumGetTimestampTz(cw_col(oldtup, desc, COL_UPDATED_AT, &isnull));

	if (req && req->kind == CW_REQ_TASK)
	{
		s.attempt = req->attempt;
		cw_store_run_task(&s, req->transition, req->task_timer);
		if (s.made == NULL && s.tasks == NIL)
		{
			/* a due timer whose criterion did not match: audited, not a save */
			xid = U64FromFullTransactionId(GetTopFullTransactionId());
			cw_store_record_audit_only(&s, id, xid);
			MemoryContextSwitchTo(callercxt);
			cw_save_cxt_done(savecxt);
			cw_model_unpin(s.model);
			return heap_copytuple(oldtup);
		}
	}
	else
		cw_store_run_engine(&s, false, req ? req->transition : NULL);

	now = GetCurrentTimestamp();
	xid = U64FromFullTransactionId(GetTopFullTransactionId());
	lt = s.made ? s.made : "loopback";
	cw_store_record(&s, id, version + 1, "UPDATE", now, lt, xid, true);

	MemoryContextSwitchTo(callercxt);
	SETCOL(COL_STATE, CStringGetTextDatum(s.state_name));
	SETCOL(COL_DATA, JsonbPGetDatum(s.data));
	SETCOL(COL_UPDATED_AT, TimestampTzGetDatum(now));
	SETCOL(COL_VERSION, Int64GetDatum(version + 1));
	SETCOL(COL_LAST_TRANSITION, CStringGetTextDatum(lt));
	SETCOL(COL_TRANSACTION_ID, Int64GetDatum((int64) xid));
	result = heap_modify_tuple_by_cols(newtup, desc, ncols, cols, values, nulls);
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

PG_FUNCTION_INFO_V1(entity_flush);

/* AFTER STATEMENT trigger on cyoda_wf.entity: write the statement's buffered rows. */
Datum
entity_flush(PG_FUNCTION_ARGS)
{
	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "entity_flush: not called by trigger manager");
	cw_store_flush();
	return PointerGetDatum(NULL);
}

/* The row trigger on cyoda_wf.entity. */
Datum
entity_trigger(PG_FUNCTION_ARGS)
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
			Datum		id = heap_getattr(td->tg_trigtuple, col_attnum[COL_ID],
										  RelationGetDescr(td->tg_relation), &isnull);

			if (!isnull && memcmp(DatumGetUUIDP(id), &pending->id, sizeof(pg_uuid_t)) == 0)
				req = pending;
		}
		if (req != NULL)
			pending = NULL;
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

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

#include "connections.h"
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

/* cyoda_wf.notify: NOTIFY cyoda_wf for every save */
bool		cw_notify = true;

/* cyoda_wf.notify_payload: what a NOTIFY tells every listener */
int			cw_notify_payload = CW_NOTIFY_PAYLOAD_FULL;

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

/* Attribute numbers of the columns `names` of rel, by name. */
static void
cw_map_columns(Relation rel, const char *const *names, int n, int *attnum)
{
	for (int i = 0; i < n; i++)
	{
		attnum[i] = SPI_fnumber(RelationGetDescr(rel), names[i]);
		if (attnum[i] <= 0)
			elog(ERROR, "column \"%s\" missing from %s.%s", names[i],
				 CW_SCHEMA, RelationGetRelationName(rel));
	}
}

static void
cw_store_columns(Relation rel)
{
	if (col_relid == RelationGetRelid(rel))
		return;
	cw_map_columns(rel, col_names, NCOLS, col_attnum);
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

			cw_kept_plan(&plan_disarm,
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
			cw_kept_plan(&plan_task,
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
 * cw_store_tasks in an SPI connection of its own, as the engine owner.  Not
 * inlined: its PG_TRY stays out of the callers' frames.
 */
static pg_noinline void
cw_store_tasks_as_owner(CwSave *s, Datum id, bool deleted)
{
	CwSavedUser saved;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cw_store_tasks(s, id, deleted);
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
}

/*
 * Rows of saves not yet written: every version row and audit row of a
 * statement is buffered and written when the statement ends (cw_store_flush,
 * from the AFTER STATEMENT trigger), or earlier when a nested statement at
 * the same subtransaction level ends.  Entries remember the subtransaction
 * level they were made at, so a rolled-back subtransaction takes its rows
 * with it and a nested one does not write its parent's rows.
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
	int64		aid;			/* audit.id, drawn when the row is buffered */
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

/*
 * The next audit.id.  Drawn when a row is buffered, so audit ids follow the
 * order of the saves even when rows are written later than others.
 */
static int64
cw_next_audit_id(void)
{
	return nextval_internal(cw_audit_seqid(), false);
}
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

		a->aid = cw_next_audit_id();
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

/*
 * Writing the buffered rows.  The rows go straight to the table access
 * method and the indexes, as logical replication applies rows: no parse,
 * plan or executor tree per statement.  Constraints are checked and row
 * triggers a user adds to the tables still fire (ExecSimpleRelationInsert).
 */
#define CW_TARGET_MAXCOLS 11

enum
{
	V_ENTITY_ID, V_VERSION, V_CHANGE_TYPE, V_CHANGED_AT, V_CHANGED_BY, V_MODEL,
	V_MODEL_VERSION, V_STATE, V_TRANSITION, V_TRANSACTION_ID, V_DATA, V_NCOLS
};
static const char *const v_names[V_NCOLS] = {
	"entity_id", "version", "change_type", "changed_at", "changed_by", "model",
	"model_version", "state", "transition", "transaction_id", "data"
};

enum
{
	A_ID, A_ENTITY_ID, A_AT, A_TRANSACTION_ID, A_EVENT_TYPE, A_TRANSITION,
	A_FROM_STATE, A_TO_STATE, A_ROLE, A_DETAIL, A_NCOLS
};
static const char *const a_names[A_NCOLS] = {
	"id", "entity_id", "at", "transaction_id", "event_type", "transition",
	"from_state", "to_state", "role", "detail"
};

/* One target table of the flush: its columns by name, checked once per relation. */
typedef struct CwTarget
{
	Oid			relid;			/* the relation the map below is for */
	int			ncols;
	const char *const *names;
	int			attnum[CW_TARGET_MAXCOLS];
	Relation	rel;
	ResultRelInfo *rri;
	TupleTableSlot *slot;		/* the row being built */
	/* rows inserted together (table_multi_insert) when no row trigger needs them one by one */
	bool		multi;
	TupleTableSlot **slots;
	int			nslots;			/* rows waiting */
	int			maxslots;		/* slots made */
	MemoryContext batch_cxt;	/* their values; reset after each batch */
} CwTarget;

#define CW_BATCH_ROWS 1000

StaticAssertDecl(V_NCOLS <= CW_TARGET_MAXCOLS && A_NCOLS <= CW_TARGET_MAXCOLS,
				 "CwTarget.attnum is too small");
static CwTarget target_version = {InvalidOid, V_NCOLS, v_names};
static CwTarget target_audit = {InvalidOid, A_NCOLS, a_names};

static void
cw_target_open(CwTarget *t, Oid relid, EState *estate, Index rti, List **rtable)
{
	RangeTblEntry *rte;
	TriggerDesc *trig;

	t->rel = table_open(relid, RowExclusiveLock);
	if (t->relid != relid)
	{
		cw_map_columns(t->rel, t->names, t->ncols, t->attnum);
		t->relid = relid;
	}
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = relid;
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	*rtable = lappend(*rtable, rte);
	t->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(t->rri, t->rel, rti, NULL, 0);
	estate->es_opened_result_relations = lappend(estate->es_opened_result_relations, t->rri);
	ExecOpenIndices(t->rri, false);
	trig = t->rri->ri_TrigDesc;
	t->multi = !(trig != NULL && (trig->trig_insert_before_row || trig->trig_insert_after_row ||
								  trig->trig_insert_instead_row || trig->trig_insert_new_table)) &&
		!(t->rel->rd_att->constr && t->rel->rd_att->constr->has_generated_stored) &&
		!t->rel->rd_rel->relispartition;
	t->slot = NULL;
	t->slots = NULL;
	t->nslots = 0;
	t->maxslots = 0;
	t->batch_cxt = AllocSetContextCreate(estate->es_query_cxt, "cyoda_wf rows",
										 ALLOCSET_DEFAULT_SIZES);
}

/* Insert the waiting rows of t: heap tuples in one call, then their index entries. */
static void
cw_target_drain(CwTarget *t, EState *estate)
{
	if (t->nslots == 0)
		return;
	if (t->rel->rd_att->constr)
		for (int i = 0; i < t->nslots; i++)
			ExecConstraints(t->rri, t->slots[i], estate);
	table_multi_insert(t->rel, t->slots, t->nslots, estate->es_output_cid, 0, NULL);
	for (int i = 0; i < t->nslots; i++)
	{
		ResetPerTupleExprContext(estate);
		if (t->rri->ri_NumIndices > 0)
			list_free(ExecInsertIndexTuples(t->rri, t->slots[i], estate, false, false, NULL, NIL));
		ExecClearTuple(t->slots[i]);
	}
	t->nslots = 0;
	MemoryContextReset(t->batch_cxt);
}


/*
 * Start a row of t in a slot: every column NULL until set.  Returns the
 * memory context its values go in.
 */
static MemoryContext
cw_target_row(CwTarget *t, EState *estate)
{
	TupleTableSlot *slot;

	if (t->multi)
	{
		if (t->nslots == t->maxslots)
		{
			MemoryContext old = MemoryContextSwitchTo(estate->es_query_cxt);

			t->maxslots = t->maxslots == 0 ? 8 : Min(t->maxslots * 2, CW_BATCH_ROWS);
			t->slots = t->slots == NULL ? palloc(sizeof(TupleTableSlot *) * t->maxslots) :
				repalloc(t->slots, sizeof(TupleTableSlot *) * t->maxslots);
			for (int i = t->nslots; i < t->maxslots; i++)
				t->slots[i] = ExecInitExtraTupleSlot(estate, RelationGetDescr(t->rel),
													 table_slot_callbacks(t->rel));
			MemoryContextSwitchTo(old);
		}
		slot = t->slots[t->nslots];
	}
	else
	{
		if (t->slot == NULL)
			t->slot = ExecInitExtraTupleSlot(estate, RelationGetDescr(t->rel),
											 table_slot_callbacks(t->rel));
		slot = t->slot;
		ResetPerTupleExprContext(estate);
	}
	t->slot = slot;
	ExecClearTuple(slot);
	for (int i = 0; i < slot->tts_tupleDescriptor->natts; i++)
	{
		slot->tts_values[i] = (Datum) 0;
		slot->tts_isnull[i] = true;
	}
	return t->multi ? t->batch_cxt : GetPerTupleMemoryContext(estate);
}

static inline void
cw_target_set(CwTarget *t, int col, Datum value)
{
	t->slot->tts_values[t->attnum[col] - 1] = value;
	t->slot->tts_isnull[t->attnum[col] - 1] = false;
}

static inline void
cw_target_text(CwTarget *t, int col, const char *s)
{
	if (s != NULL)
		cw_target_set(t, col, CStringGetTextDatum(s));
}

static void
cw_target_insert(CwTarget *t, EState *estate)
{
	ExecStoreVirtualTuple(t->slot);
	if (!t->multi)
		ExecSimpleRelationInsert(t->rri, estate, t->slot);
	else if (++t->nslots == CW_BATCH_ROWS)
		cw_target_drain(t, estate);
}

/*
 * Write every buffered version and audit row, as the engine owner, into
 * cyoda_wf.entity_version and cyoda_wf.audit.
 */
void
cw_store_flush(void)
{
	List	   *versions = NIL;
	List	   *audits = NIL;
	List	   *keep_versions = NIL;
	List	   *keep_audits = NIL;
	int			level = GetCurrentTransactionNestLevel();
	MemoryContext old;
	EState	   *estate;
	List	   *rtable = NIL;
	ListCell   *lc;
	CwSavedUser saved;

	if (pend_versions == NIL && pend_audits == NIL)
		return;

	/*
	 * Rows of an enclosing subtransaction level stay buffered: written here,
	 * inside a subtransaction, they would vanish if it rolled back.  Take the
	 * rest off the buffer first: an error must not write them twice.
	 */
	old = MemoryContextSwitchTo(pend_cxt);
	foreach(lc, pend_versions)
		if (((CwPendingVersion *) lfirst(lc))->level < level)
			keep_versions = lappend(keep_versions, lfirst(lc));
		else
			versions = lappend(versions, lfirst(lc));
	foreach(lc, pend_audits)
		if (((CwPendingAudit *) lfirst(lc))->level < level)
			keep_audits = lappend(keep_audits, lfirst(lc));
		else
			audits = lappend(audits, lfirst(lc));
	MemoryContextSwitchTo(old);
	pend_versions = keep_versions;
	pend_audits = keep_audits;
	if (versions == NIL && audits == NIL)
		return;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		estate = CreateExecutorState();
		cw_target_open(&target_version, cw_version_relid(), estate, 1, &rtable);
		cw_target_open(&target_audit, cw_audit_relid(), estate, 2, &rtable);
		ExecInitRangeTable(estate, rtable);
		estate->es_output_cid = GetCurrentCommandId(true);
		AfterTriggerBeginQuery();

		foreach(lc, versions)
		{
			CwPendingVersion *p = lfirst(lc);
			CwTarget   *t = &target_version;

			old = MemoryContextSwitchTo(cw_target_row(t, estate));
			cw_target_set(t, V_ENTITY_ID, UUIDPGetDatum(&p->id));
			cw_target_set(t, V_VERSION, Int64GetDatum(p->version));
			cw_target_text(t, V_CHANGE_TYPE, p->change_type);
			cw_target_set(t, V_CHANGED_AT, TimestampTzGetDatum(p->at));
			cw_target_text(t, V_CHANGED_BY, p->role);
			cw_target_text(t, V_MODEL, p->model);
			cw_target_set(t, V_MODEL_VERSION, Int32GetDatum(p->model_version));
			cw_target_text(t, V_STATE, p->state);
			cw_target_text(t, V_TRANSITION, p->transition);
			cw_target_set(t, V_TRANSACTION_ID, Int64GetDatum(p->xid));
			if (p->data != NULL)
				cw_target_set(t, V_DATA, JsonbPGetDatum(p->data));
			MemoryContextSwitchTo(old);
			cw_target_insert(t, estate);
		}
		foreach(lc, audits)
		{
			CwPendingAudit *p = lfirst(lc);
			CwTarget   *t = &target_audit;

			old = MemoryContextSwitchTo(cw_target_row(t, estate));
			cw_target_set(t, A_ID, Int64GetDatum(p->aid));
			cw_target_set(t, A_ENTITY_ID, UUIDPGetDatum(&p->id));
			cw_target_set(t, A_AT, TimestampTzGetDatum(p->at));
			cw_target_set(t, A_TRANSACTION_ID, Int64GetDatum(p->xid));
			cw_target_text(t, A_EVENT_TYPE, p->event);
			cw_target_text(t, A_TRANSITION, p->transition);
			cw_target_text(t, A_FROM_STATE, p->from_state);
			cw_target_text(t, A_TO_STATE, p->to_state);
			cw_target_text(t, A_ROLE, p->role);
			if (p->detail != NULL)
				cw_target_set(t, A_DETAIL, JsonbPGetDatum(p->detail));
			MemoryContextSwitchTo(old);
			cw_target_insert(t, estate);
		}

		cw_target_drain(&target_version, estate);
		cw_target_drain(&target_audit, estate);
		AfterTriggerEndQuery(estate);
		ExecCloseResultRelations(estate);
		table_close(target_version.rel, NoLock);
		table_close(target_audit.rel, NoLock);
		ExecResetTupleTable(estate->es_tupleTable, false);
		FreeExecutorState(estate);
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	/* a later save's data must not outlive the pending-rows context either */
	if (pend_cxt != NULL && pend_versions == NIL && pend_audits == NIL)
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
		(deleted || s->tasks != NIL || (s->wf != NULL && s->wf->has_schedules)))
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
	cw_json_str(&payload, transition);
	appendStringInfo(&payload, ", \"modelVersion\": %d}", s->model->version);
	Async_Notify("cyoda_wf", payload.data);
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
		if (c != COL_DATA && !heap_attisnull(tup, col_attnum[c], desc))
			first = c;
	if (first < 0)
		return false;
	if (!has_privs_of_role(GetUserId(), rel->rd_rel->relowner))
		cw_reject_column(first, "INSERT",
						 "Only a superuser or the owner of the extension may store an entity row as it is, "
						 "as a restore of pg_dump's output does.");

	for (int c = COL_STATE; c < NCOLS; c++)
		if (col_always_set[c] && heap_attisnull(tup, col_attnum[c], desc))
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
				if (col_always_set[k] && heap_attisnull(tup, col_attnum[k], desc))
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

	if (cw_store_as_is(td))
		return tup;

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
	{
		Datum		d = cw_col(tup, desc, COL_DATA, &isnull);

		s.data = cw_checked_data(isnull, d);
	}
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
	Datum	   *ov = palloc(desc->natts * sizeof(Datum));
	Datum	   *nv = palloc(desc->natts * sizeof(Datum));
	bool	   *on = palloc(desc->natts * sizeof(bool));
	bool	   *nn = palloc(desc->natts * sizeof(bool));
	Datum		id;
	int64		version;
	int32		mversion;
	uint64		xid;
	TimestampTz now;
	const char *lt;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	int			cols[NCOLS];
	int			ncols = 0;
	HeapTuple	result;

#define OLDV(c) (ov[col_attnum[c] - 1])
#define OLDTEXT(c) (on[col_attnum[c] - 1] ? NULL : TextDatumGetCString(OLDV(c)))
	heap_deform_tuple(oldtup, desc, ov, on);
	heap_deform_tuple(newtup, desc, nv, nn);

	/* the engine owns everything but data */
	for (int c = 0; c < NCOLS; c++)
	{
		int			a = col_attnum[c] - 1;
		Form_pg_attribute att = TupleDescAttr(desc, a);

		if (c == COL_DATA)
			continue;
		if (on[a] != nn[a] || (!on[a] && !datumIsEqual(ov[a], nv[a], att->attbyval, att->attlen)))
			cw_reject_column(c, "UPDATE", NULL);
	}

	id = OLDV(COL_ID);
	version = DatumGetInt64(OLDV(COL_VERSION));
	if (req && req->has_if_match && req->if_match != version)
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("entity %s is at version " INT64_FORMAT ", not " INT64_FORMAT,
						DatumGetCString(DirectFunctionCall1(uuid_out, id)),
						version, req->if_match),
				 errhint("Read the entity again and retry with its current version.")));

	mversion = DatumGetInt32(OLDV(COL_MODEL_VERSION));

	memset(&s, 0, sizeof(s));
	s.model = cw_model_pin(OLDTEXT(COL_MODEL), mversion);
	savecxt = cw_save_cxt();
	MemoryContextSwitchTo(savecxt);
	strlcpy(s.id, DatumGetCString(DirectFunctionCall1(uuid_out, id)), sizeof(s.id));
	s.data = cw_checked_data(nn[col_attnum[COL_DATA] - 1], nv[col_attnum[COL_DATA] - 1]);
	s.role = (req && req->role) ? req->role : cw_current_role();
	s.wf_name = OLDTEXT(COL_WORKFLOW);
	s.state_name = OLDTEXT(COL_STATE);
	s.prev_transition = OLDTEXT(COL_LAST_TRANSITION);
	s.created_at = DatumGetTimestampTz(OLDV(COL_CREATED_AT));
	s.updated_at = DatumGetTimestampTz(OLDV(COL_UPDATED_AT));
#undef OLDV
#undef OLDTEXT

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

/*
 * update_item and fire without the planner: the equivalent of
 *
 *	 UPDATE cyoda_wf.entity SET data = COALESCE(data_arg, data) WHERE id = id_arg
 *
 * done as logical replication applies a row: the entity is found through its
 * primary key with a new statement snapshot, its latest version is locked
 * (waiting for a concurrent save, as UPDATE does under READ COMMITTED; under
 * REPEATABLE READ and SERIALIZABLE a concurrent change is a serialization
 * failure), and the row goes through ExecSimpleRelationUpdate, which fires the
 * row triggers (the engine's among them), checks constraints and maintains
 * the indexes.  Statement triggers fire as for an UPDATE.
 *
 * Returns 1 when the entity was saved (*state gets the state it reached), 0 when there is no such entity, and -1
 * when the table needs the full executor (rules, forced row security,
 * transition tables, an unexpected primary key): then nothing was done.
 * Runs as the current user; the caller switches to the engine owner.
 */
int
cw_store_update_direct(Datum id, bool data_null, Datum data, CwRequest *req, char **state)
{
	Relation	rel;
	Relation	pkrel = NULL;
	TriggerDesc *trig;
	Oid			pkoid;
	EState	   *estate;
	RangeTblEntry *rte;
	ResultRelInfo *rri;
	EPQState	epq;
	TupleTableSlot *oldslot,
			   *newslot;
	Snapshot	snap;
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;
	int			natts;

	/* what the executor checks before any UPDATE */
	PreventCommandIfReadOnly("UPDATE");
	PreventCommandIfParallelMode("UPDATE");

	rel = table_open(cw_entity_relid(), RowExclusiveLock);
	trig = rel->trigdesc;
	pkoid = RelationGetPrimaryKeyIndex(rel);
	if (rel->rd_rel->relkind != RELKIND_RELATION || rel->rd_rules != NULL ||
		rel->rd_rel->relforcerowsecurity || !OidIsValid(pkoid) ||
		(trig != NULL && (trig->trig_update_old_table || trig->trig_update_new_table)))
	{
		table_close(rel, NoLock);
		return -1;
	}
	cw_store_columns(rel);

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	snap = GetActiveSnapshot();

	estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(rel);
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_SELECT | ACL_UPDATE;
	rte->updatedCols = bms_make_singleton(col_attnum[COL_DATA] - FirstLowInvalidHeapAttributeNumber);
	ExecInitRangeTable(estate, list_make1(rte));
	estate->es_snapshot = snap;
	estate->es_output_cid = GetCurrentCommandId(true);
	rri = makeNode(ResultRelInfo);
	InitResultRelInfo(rri, rel, 1, NULL, 0);
	/* where the trigger manager looks for it (ExecGetTriggerResultRel) */
	estate->es_opened_result_relations = list_make1(rri);
	ExecOpenIndices(rri, false);
	for (int i = 0; i < rri->ri_NumIndices; i++)
		if (RelationGetRelid(rri->ri_IndexRelationDescs[i]) == pkoid)
			pkrel = rri->ri_IndexRelationDescs[i];
	if (pkrel == NULL || pkrel->rd_index->indnkeyatts != 1 ||
		pkrel->rd_index->indkey.values[0] != col_attnum[COL_ID])
	{
		ExecCloseIndices(rri);
		FreeExecutorState(estate);
		PopActiveSnapshot();
		table_close(rel, NoLock);
		return -1;
	}
	EvalPlanQualInit(&epq, estate, NULL, NIL, -1);
	oldslot = table_slot_create(rel, &estate->es_tupleTable);
	newslot = table_slot_create(rel, &estate->es_tupleTable);
	natts = RelationGetDescr(rel)->natts;

	AfterTriggerBeginQuery();
	ExecBSUpdateTriggers(estate, rri);

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, id);
	scan = index_beginscan(rel, pkrel, snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, oldslot);
	index_endscan(scan);

	if (found)
	{
		TM_FailureData tmfd;
		TM_Result	res;

		res = table_tuple_lock(rel, &oldslot->tts_tid, snap, oldslot,
							   estate->es_output_cid, LockTupleNoKeyExclusive,
							   LockWaitBlock,
							   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							   &tmfd);
		switch (res)
		{
			case TM_Ok:
				break;
			case TM_SelfModified:
				if (tmfd.cmax != estate->es_output_cid)
					ereport(ERROR,
							(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
							 errmsg("tuple to be updated was already modified by an operation triggered by the current command")));
				found = false;
				break;
			case TM_Updated:
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errmsg("could not serialize access due to concurrent update")));
				break;
			case TM_Deleted:
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errmsg("could not serialize access due to concurrent delete")));
				found = false;
				break;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
		}
	}
	if (found)
	{
		bool		isnull;
		Datum		lockedid = slot_getattr(oldslot, col_attnum[COL_ID], &isnull);

		/* a concurrent save's version is locked: still the same entity? */
		found = !isnull && memcmp(DatumGetUUIDP(lockedid), DatumGetUUIDP(id), sizeof(pg_uuid_t)) == 0;
	}
	if (found)
	{
		bool		isnull;
		Datum		st;

		slot_getallattrs(oldslot);
		ExecClearTuple(newslot);
		memcpy(newslot->tts_values, oldslot->tts_values, natts * sizeof(Datum));
		memcpy(newslot->tts_isnull, oldslot->tts_isnull, natts * sizeof(bool));
		if (!data_null)
		{
			newslot->tts_values[col_attnum[COL_DATA] - 1] = data;
			newslot->tts_isnull[col_attnum[COL_DATA] - 1] = false;
		}
		ExecStoreVirtualTuple(newslot);

		cw_store_set_request(req);
		ExecSimpleRelationUpdate(rri, estate, &epq, oldslot, newslot);
		cw_store_set_request(NULL);

		/*
		 * A row written has a new TID; without one a user's BEFORE trigger
		 * skipped the row ("UPDATE 0"), and that is what fire reports.
		 */
		if (!ItemPointerIsValid(&newslot->tts_tid) ||
			ItemPointerEquals(&newslot->tts_tid, &oldslot->tts_tid))
			found = false;
		else
		{
			st = slot_getattr(newslot, col_attnum[COL_STATE], &isnull);
			*state = isnull ? NULL : TextDatumGetCString(st);
		}
	}

	ExecASUpdateTriggers(estate, rri, NULL);
	AfterTriggerEndQuery(estate);
	EvalPlanQualEnd(&epq);
	ExecCloseResultRelations(estate);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
	PopActiveSnapshot();
	table_close(rel, NoLock);
	/* as after an SPI statement: what it did is visible to what follows */
	CommandCounterIncrement();
	return found ? 1 : 0;
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

	/* reserved models: written by their own functions only */
	{
		TupleDesc	desc = RelationGetDescr(td->tg_relation);
		bool		isnull;
		Datum		model = heap_getattr(td->tg_trigtuple, col_attnum[COL_MODEL], desc, &isnull);

		if (!isnull)
			cw_reserved_check_write(model,
									TRIGGER_FIRED_BY_INSERT(td->tg_event) ? CW_REQ_INSERT :
									TRIGGER_FIRED_BY_DELETE(td->tg_event) ? CW_REQ_DELETE : CW_REQ_UPDATE,
									heap_getattr(td->tg_trigtuple, col_attnum[COL_ID], desc, &isnull),
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

/*-------------------------------------------------------------------------
 * store_rows.c
 *		The version row and audit rows of every save: buffered while the
 *		statement runs, written into cyoda_wf.entity_version and
 *		cyoda_wf.audit_log when it ends.  A save's STATE_MACHINE_START and
 *		STATE_MACHINE_FINISH events are not written: the view cyoda_wf.audit
 *		derives them from the version row (started_at, changed_at).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "commands/sequence.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "nodes/makefuncs.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/uuid.h"

#include "store_int.h"

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
	TimestampTz started_at;
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
	int64		aid;			/* audit_log.id, drawn when the row is buffered */
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
 * The next audit_log.id.  Drawn when a row is buffered, so audit ids follow the
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
void
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
		v->started_at = s->started_at != 0 ? s->started_at : at;
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
#define CW_TARGET_MAXCOLS 12

enum
{
	V_ENTITY_ID, V_VERSION, V_CHANGE_TYPE, V_CHANGED_AT, V_CHANGED_BY, V_MODEL,
	V_MODEL_VERSION, V_STATE, V_TRANSITION, V_TRANSACTION_ID, V_DATA, V_STARTED_AT,
	V_NCOLS
};
static const char *const v_names[V_NCOLS] = {
	"entity_id", "version", "change_type", "changed_at", "changed_by", "model",
	"model_version", "state", "transition", "transaction_id", "data", "started_at"
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

	/*
	 * The slots of multi are kept for the session (in keep_cxt, on a copy of
	 * the table's row type, keep_desc) rather than made again by every
	 * statement's flush: a statement of 100 saves would otherwise make and
	 * free 600 of them.  They hold no value between flushes (cleared after
	 * each batch, values in batch_cxt); a changed row type drops them.
	 */
	MemoryContext keep_cxt;
	TupleDesc	keep_desc;
} CwTarget;

#define CW_BATCH_ROWS 1000

StaticAssertDecl(V_NCOLS <= CW_TARGET_MAXCOLS && A_NCOLS <= CW_TARGET_MAXCOLS,
				 "CwTarget.attnum is too small");
static CwTarget target_version = {InvalidOid, V_NCOLS, v_names};
static CwTarget target_audit = {InvalidOid, A_NCOLS, a_names};

/* Whether slots made for row type a can hold rows of b. */
static bool
cw_same_rowtype(TupleDesc a, TupleDesc b)
{
	if (a->natts != b->natts)
		return false;
	for (int i = 0; i < a->natts; i++)
	{
		Form_pg_attribute x = TupleDescAttr(a, i);
		Form_pg_attribute y = TupleDescAttr(b, i);

		if (x->atttypid != y->atttypid || x->atttypmod != y->atttypmod ||
			x->attlen != y->attlen || x->attbyval != y->attbyval ||
			x->attalign != y->attalign || x->attisdropped != y->attisdropped)
			return false;
	}
	return true;
}

/* The kept slots of t, ready for this flush (dropped if the row type changed). */
static void
cw_target_keep(CwTarget *t)
{
	TupleDesc	desc = RelationGetDescr(t->rel);

	if (t->keep_cxt == NULL)
		t->keep_cxt = AllocSetContextCreate(TopMemoryContext, "cyoda_wf row slots",
											ALLOCSET_SMALL_SIZES);
	if (t->keep_desc != NULL && !cw_same_rowtype(t->keep_desc, desc))
	{
		MemoryContextReset(t->keep_cxt);
		t->keep_desc = NULL;
		t->slots = NULL;
		t->maxslots = 0;
	}
	if (t->keep_desc == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(t->keep_cxt);

		/* a copy: not reference-counted, so no resource owner holds it */
		t->keep_desc = CreateTupleDescCopy(desc);
		MemoryContextSwitchTo(old);
	}
	/* an error in an earlier flush may have left rows in them */
	for (int i = 0; i < t->maxslots; i++)
		ExecClearTuple(t->slots[i]);
}

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
	t->nslots = 0;
	if (t->multi)
		cw_target_keep(t);
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
			MemoryContext old = MemoryContextSwitchTo(t->keep_cxt);
			int			n = t->maxslots == 0 ? 8 : Min(t->maxslots * 2, CW_BATCH_ROWS);

			t->slots = t->slots == NULL ? palloc(sizeof(TupleTableSlot *) * n) :
				repalloc(t->slots, sizeof(TupleTableSlot *) * n);
			for (int i = t->maxslots; i < n; i++)
				t->slots[i] = MakeSingleTupleTableSlot(t->keep_desc, table_slot_callbacks(t->rel));
			t->maxslots = n;
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

/* One buffered version row into cyoda_wf.entity_version. */
static void
cw_write_version(CwPendingVersion *p, EState *estate)
{
	CwTarget   *t = &target_version;
	MemoryContext old = MemoryContextSwitchTo(cw_target_row(t, estate));

	cw_target_set(t, V_ENTITY_ID, UUIDPGetDatum(&p->id));
	cw_target_set(t, V_VERSION, Int64GetDatum(p->version));
	cw_target_text(t, V_CHANGE_TYPE, p->change_type);
	cw_target_set(t, V_CHANGED_AT, TimestampTzGetDatum(p->at));
	cw_target_set(t, V_STARTED_AT, TimestampTzGetDatum(p->started_at));
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

/* One buffered audit row into cyoda_wf.audit_log. */
static void
cw_write_audit(CwPendingAudit *p, EState *estate)
{
	CwTarget   *t = &target_audit;
	MemoryContext old = MemoryContextSwitchTo(cw_target_row(t, estate));

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

/* The rows a flush writes, taken off the buffer. */
typedef struct CwTaken
{
	List	   *versions;
	List	   *audits;
} CwTaken;

/*
 * Take the rows to write now off the buffer.  Rows of an enclosing
 * subtransaction level stay buffered: written here, inside a
 * subtransaction, they would vanish if it rolled back.  Taken off first:
 * an error must not write them twice.
 */
static CwTaken
cw_take_pending(void)
{
	CwTaken		taken = {NIL, NIL};
	List	   *keep_versions = NIL;
	List	   *keep_audits = NIL;
	int			level = GetCurrentTransactionNestLevel();
	MemoryContext old = MemoryContextSwitchTo(pend_cxt);
	ListCell   *lc;

	foreach(lc, pend_versions)
		if (((CwPendingVersion *) lfirst(lc))->level < level)
			keep_versions = lappend(keep_versions, lfirst(lc));
		else
			taken.versions = lappend(taken.versions, lfirst(lc));
	foreach(lc, pend_audits)
		if (((CwPendingAudit *) lfirst(lc))->level < level)
			keep_audits = lappend(keep_audits, lfirst(lc));
		else
			taken.audits = lappend(taken.audits, lfirst(lc));
	MemoryContextSwitchTo(old);
	pend_versions = keep_versions;
	pend_audits = keep_audits;
	return taken;
}

/* Write versions and audits (lists of pending rows) in one executor state. */
static void
cw_write_rows(List *versions, List *audits)
{
	EState	   *estate = CreateExecutorState();
	List	   *rtable = NIL;
	ListCell   *lc;

	cw_target_open(&target_version, cw_version_relid(), estate, 1, &rtable);
	cw_target_open(&target_audit, cw_audit_relid(), estate, 2, &rtable);
	ExecInitRangeTable(estate, rtable);
	estate->es_output_cid = GetCurrentCommandId(true);
	AfterTriggerBeginQuery();

	foreach(lc, versions)
		cw_write_version(lfirst(lc), estate);
	foreach(lc, audits)
		cw_write_audit(lfirst(lc), estate);

	cw_target_drain(&target_version, estate);
	cw_target_drain(&target_audit, estate);
	AfterTriggerEndQuery(estate);
	ExecCloseResultRelations(estate);
	table_close(target_version.rel, NoLock);
	table_close(target_audit.rel, NoLock);
	ExecResetTupleTable(estate->es_tupleTable, false);
	FreeExecutorState(estate);
}

/*
 * Write every buffered version and audit row, as the engine owner, into
 * cyoda_wf.entity_version and cyoda_wf.audit_log.
 */
void
cw_store_flush(void)
{
	CwTaken		taken;
	CwSavedUser saved;

	if (pend_versions == NIL && pend_audits == NIL)
		return;
	taken = cw_take_pending();
	if (taken.versions == NIL && taken.audits == NIL)
		return;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		cw_write_rows(taken.versions, taken.audits);
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

/*-------------------------------------------------------------------------
 * task_claim.c
 *		Claiming the next due task: which task a backend runs next, taken
 *		with its entity row locked, without the planner.
 *
 * cw_task_claim does what
 *
 *	 SELECT ... FROM cyoda_wf.task t JOIN cyoda_wf.entity e ON e.id = t.entity_id
 *	  WHERE t.state = 'pending' AND t.run_at <= now
 *		AND EXISTS (SELECT 1 FROM cyoda_wf.workflow w
 *					 WHERE w.model = e.model AND w.model_version = e.model_version)
 *	  ORDER BY t.run_at, t.id LIMIT 1 FOR UPDATE OF t, e SKIP LOCKED
 *
 * does (only tasks of models with imported workflows: a restore loads
 * cyoda_wf.task before cyoda_wf.workflow, and a task is never made for the
 * default workflow), by index scans: the due tasks in (run_at, id) order
 * through task_due_idx, each one's entity through the entity's primary key, the
 * model's workflows through the workflow table's primary key, then the
 * task row and the entity row locked as FOR UPDATE SKIP LOCKED locks them.
 * Without parse, plan or executor tree a claim costs a fraction of the
 * statement's start-up and tear-down, which was a third of a task's work.
 *
 * What of the executor it reproduces:
 *	- a statement's visibility: CommandCounterIncrement and a new snapshot;
 *	- FOR UPDATE ... SKIP LOCKED: a row another transaction has locked or is
 *	  changing is passed over (the task row is locked first, the entity
 *	  row second; a task passed over because its entity was locked stays
 *	  locked until the transaction ends, as with the statement);
 *	- EvalPlanQual for READ COMMITTED: a row changed since the snapshot is
 *	  followed to its latest version and taken only if that still
 *	  qualifies; under REPEATABLE READ and SERIALIZABLE such a change is a
 *	  serialization failure (40001).  A row deleted meanwhile is passed over.
 * The conditions are checked on the rows themselves, so the indexes only
 * have to give the order: a task_due_idx redefined without its predicate
 * still claims correctly, only slower.  A missing index is an error that
 * names it.
 *
 * Where a backend's claims start.  Finished tasks leave their entries in
 * task_due_idx until VACUUM removes them, at the queue's front, so a claim
 * from the front steps over all of them: a page per few hundred tasks, on
 * every claim, which with a backlog of many thousand tasks is most of a
 * claim's work.  When a claim from the front reads more than
 * CW_CLAIM_FRONT_PAGES pages, the next ones go on after the (run_at, id) of
 * the task this backend claimed last.  The tasks before that point are the
 * ones this and other backends have claimed, apart from one that was locked
 * when passed over or whose transaction committed late (a long
 * transaction's task, a task restored with an old run_at): a claim from the
 * front takes those, when the claim from the point finds nothing and at
 * least every CW_CLAIM_FRONT_EVERY claims.  A claim from the point never
 * takes a task of an entity that has a pending task before it (probed
 * through task_entity_idx), so an entity's own tasks run in order as they
 * do from the front.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "access/genam.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_index.h"
#include "commands/trigger.h"
#include "common/int.h"
#include "executor/instrument.h"
#include "executor/tuptable.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "store.h"
#include "store_int.h"
#include "exec_direct.h"
#include "task_claim.h"

#define CW_CLAIM_FRONT_PAGES 48
#define CW_CLAIM_FRONT_EVERY 64

static struct
{
	bool		use;			/* the next claim may start at the point */
	TimestampTz run_at;
	int64		id;
	int			claims;			/* claims from the point since the last from the front */
} claim_point;

/* Columns of cyoda_wf.task a claim reads, and cw_task_mark_done writes. */
enum
{
	TC_ID, TC_ENTITY, TC_TRANSITION, TC_FROM, TC_KIND, TC_STATE, TC_ATTEMPTS,
	TC_MAX_ATTEMPTS, TC_RETRY_DELAY, TC_TIMEOUT, TC_RUN_AT, TC_LAST_ERROR,
	TC_FINISHED_AT, NTC
};
static const char *const tc_names[NTC] = {
	"id", "entity_id", "transition", "from_state", "kind", "state", "attempts",
	"max_attempts", "retry_delay_ms", "timeout_ms", "run_at", "last_error",
	"finished_at"
};
static int	tc_attnum[NTC];
static Oid	tc_relid = InvalidOid;	/* the table tc_attnum was read from */

/* Workflow columns: the primary key's first two. */
static const char *const wc_names[2] = {"model", "model_version"};
static int	wc_attnum[2];
static Oid	wc_relid = InvalidOid;

/* The indexes, by name, as last found (checked against the index list). */
static Oid	due_idx = InvalidOid;
static Oid	entity_idx = InvalidOid;

/* The relations, snapshot and slots of one claim. */
typedef struct CwClaimScan
{
	Relation	task;
	Relation	entity;
	Relation	workflow;
	Relation	due;			/* task_due_idx: (run_at, id) */
	Relation	byentity;		/* task_entity_idx: (entity_id) */
	Relation	pk;				/* the entity's primary key (id) */
	Relation	wpk;			/* the workflow's primary key (model, model_version, ...) */
	Snapshot	snap;
	CommandId	cid;
	TimestampTz now;			/* the claim's clock reading */
	TupleTableSlot *tslot;		/* the candidate task */
	TupleTableSlot *pslot;		/* an earlier task of its entity */
	TupleTableSlot *eslot;		/* its entity */
	TupleTableSlot *wslot;		/* a workflow of the entity's model */
} CwClaimScan;

/*
 * The OID of index `name` of cyoda_wf.task, found by name when the one
 * known is no longer among the table's indexes.
 */
static Oid
cw_claim_index_oid(Relation task, Oid known, const char *name)
{
	List	   *indexes = RelationGetIndexList(task);
	Oid			oid = known;

	if (!OidIsValid(oid) || !list_member_oid(indexes, oid))
	{
		oid = get_relname_relid(name, RelationGetNamespace(task));
		if (!OidIsValid(oid) || !list_member_oid(indexes, oid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("index %s.%s is missing: tasks cannot be claimed", CW_SCHEMA, name),
					 errhint("Create it again as the extension's install script does.")));
	}
	list_free(indexes);
	return oid;
}

/*
 * Open index oid, which must be a valid btree whose keys start with attnums,
 * in ascending order (a claim reads it forward for the oldest task first).
 */
static Relation
cw_claim_index_open(Oid oid, const int *attnums, int n)
{
	Relation	idx = index_open(oid, AccessShareLock);
	Form_pg_index ix = idx->rd_index;
	bool		ok = idx->rd_rel->relam == BTREE_AM_OID && ix->indisvalid &&
		ix->indnkeyatts >= n;

	for (int i = 0; ok && i < n; i++)
		ok = ix->indkey.values[i] == attnums[i] &&
			(idx->rd_indoption[i] & INDOPTION_DESC) == 0;
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index %s.%s is not a valid ascending btree index of the columns the task claim reads",
						CW_SCHEMA, RelationGetRelationName(idx)),
				 errhint("Create it again as the extension's install script does.")));
	return idx;
}

/* The primary key index of rel, which a claim reads. */
static Oid
cw_claim_pkey(Relation rel)
{
	Oid			pkoid = RelationGetPrimaryKeyIndex(rel);

	if (!OidIsValid(pkoid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table %s.%s has no primary key: tasks cannot be claimed",
						CW_SCHEMA, RelationGetRelationName(rel)),
				 errhint("Create it again as the extension's install script does.")));
	return pkoid;
}

/* Open what a claim reads, with a new snapshot (see the top of this file). */
static void
cw_claim_open(CwClaimScan *s)
{
	int			keys[2];

	s->task = table_open(cw_task_relid(), RowShareLock);
	s->entity = table_open(cw_entity_relid(), RowShareLock);
	s->workflow = table_open(cw_workflow_relid(), AccessShareLock);
	if (tc_relid != RelationGetRelid(s->task))
	{
		cw_map_columns(s->task, tc_names, NTC, tc_attnum);
		tc_relid = RelationGetRelid(s->task);
	}
	if (wc_relid != RelationGetRelid(s->workflow))
	{
		cw_map_columns(s->workflow, wc_names, 2, wc_attnum);
		wc_relid = RelationGetRelid(s->workflow);
	}
	cw_store_columns(s->entity);

	due_idx = cw_claim_index_oid(s->task, due_idx, "task_due_idx");
	entity_idx = cw_claim_index_oid(s->task, entity_idx, "task_entity_idx");
	keys[0] = tc_attnum[TC_RUN_AT];
	keys[1] = tc_attnum[TC_ID];
	s->due = cw_claim_index_open(due_idx, keys, 2);
	keys[0] = tc_attnum[TC_ENTITY];
	s->byentity = cw_claim_index_open(entity_idx, keys, 1);
	keys[0] = cw_col_attnum[COL_ID];
	s->pk = cw_claim_index_open(cw_claim_pkey(s->entity), keys, 1);
	s->wpk = cw_claim_index_open(cw_claim_pkey(s->workflow), wc_attnum, 2);

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	s->snap = GetActiveSnapshot();
	s->cid = GetCurrentCommandId(true);
	s->now = GetCurrentTimestamp();
	s->tslot = table_slot_create(s->task, NULL);
	s->pslot = table_slot_create(s->task, NULL);
	s->eslot = table_slot_create(s->entity, NULL);
	s->wslot = table_slot_create(s->workflow, NULL);
}

static void
cw_claim_close(CwClaimScan *s)
{
	ExecDropSingleTupleTableSlot(s->tslot);
	ExecDropSingleTupleTableSlot(s->pslot);
	ExecDropSingleTupleTableSlot(s->eslot);
	ExecDropSingleTupleTableSlot(s->wslot);
	PopActiveSnapshot();
	CommandCounterIncrement();
	index_close(s->due, NoLock);
	index_close(s->byentity, NoLock);
	index_close(s->pk, NoLock);
	index_close(s->wpk, NoLock);
	table_close(s->workflow, NoLock);
	table_close(s->entity, NoLock);
	table_close(s->task, NoLock);
}

/* A column of the task in slot (NULL-checked by the caller where it may be null). */
static Datum
cw_tcol(TupleTableSlot *slot, int col, bool *isnull)
{
	return slot_getattr(slot, tc_attnum[col], isnull);
}

/* Whether text datum d equals the C string s. */
static bool
cw_text_is(Datum d, const char *s)
{
	text	   *t = DatumGetTextPP(d);
	size_t		len = strlen(s);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/*
 * Whether the task in slot is pending and due, and, when from the point,
 * after it.  The conditions of the scan, checked on the row (a row reached
 * by following an update, or an index without its predicate).
 */
static bool
cw_claim_task_qualifies(CwClaimScan *s, TupleTableSlot *slot, bool from_point)
{
	bool		isnull;
	Datum		d;
	TimestampTz run_at;

	d = cw_tcol(slot, TC_STATE, &isnull);
	if (isnull || !cw_text_is(d, "pending"))
		return false;
	run_at = DatumGetTimestampTz(cw_tcol(slot, TC_RUN_AT, &isnull));
	if (isnull || run_at > s->now)
		return false;
	if (from_point)
	{
		int64		id = DatumGetInt64(cw_tcol(slot, TC_ID, &isnull));

		if (run_at < claim_point.run_at ||
			(run_at == claim_point.run_at && id <= claim_point.id))
			return false;
	}
	return true;
}

/*
 * Whether the entity of the task in s->tslot has a pending task before it
 * in (run_at, id) order.
 */
static bool
cw_claim_has_earlier(CwClaimScan *s, Datum entity, TimestampTz run_at, int64 id)
{
	ScanKeyData key;
	IndexScanDesc scan;
	bool		earlier = false;
	bool		isnull;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, entity);
	scan = index_beginscan(s->task, s->byentity, s->snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	while (!earlier && index_getnext_slot(scan, ForwardScanDirection, s->pslot))
	{
		TimestampTz p_run_at = DatumGetTimestampTz(cw_tcol(s->pslot, TC_RUN_AT, &isnull));
		int64		p_id = DatumGetInt64(cw_tcol(s->pslot, TC_ID, &isnull));

		if (!cw_text_is(cw_tcol(s->pslot, TC_STATE, &isnull), "pending"))
			continue;
		earlier = p_run_at < run_at || (p_run_at == run_at && p_id < id);
	}
	index_endscan(scan);
	return earlier;
}

/* Whether the model of the entity in s->eslot has imported workflows. */
static bool
cw_claim_runnable(CwClaimScan *s)
{
	ScanKeyData keys[2];
	IndexScanDesc scan;
	bool		isnull;
	bool		found;

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_TEXTEQ,
				slot_getattr(s->eslot, cw_col_attnum[COL_MODEL], &isnull));
	if (isnull)
		return false;
	keys[0].sk_collation = s->wpk->rd_indcollation[0];
	ScanKeyInit(&keys[1], 2, BTEqualStrategyNumber, F_INT4EQ,
				slot_getattr(s->eslot, cw_col_attnum[COL_MODEL_VERSION], &isnull));
	if (isnull)
		return false;
	scan = index_beginscan(s->workflow, s->wpk, s->snap, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, s->wslot);
	index_endscan(scan);
	return found;
}

/* Find the entity `id` (visible to the claim's snapshot) into s->eslot. */
static bool
cw_claim_find_entity(CwClaimScan *s, Datum id)
{
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found;

	ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, id);
	scan = index_beginscan(s->entity, s->pk, s->snap, 1, 0);
	index_rescan(scan, &key, 1, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, s->eslot);
	index_endscan(scan);
	return found;
}

/*
 * Lock the row in slot as FOR UPDATE SKIP LOCKED does.  Returns false when
 * it is to be passed over (locked by another transaction, deleted, or
 * changed by this one); true when locked, with its latest version in slot
 * and *followed set when that is a newer version than the snapshot's.
 */
static bool
cw_claim_lock(CwClaimScan *s, Relation rel, TupleTableSlot *slot, bool *followed)
{
	TM_FailureData tmfd;
	TM_Result	res;

	res = table_tuple_lock(rel, &slot->tts_tid, s->snap, slot, s->cid,
						   LockTupleExclusive, LockWaitSkip,
						   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						   &tmfd);
	*followed = false;
	switch (res)
	{
		case TM_Ok:
			*followed = tmfd.traversed;
			return true;
		case TM_WouldBlock:
		case TM_SelfModified:
			return false;
		case TM_Updated:
			cw_lock_conflict(res);
			elog(ERROR, "unexpected table_tuple_lock status: %u", res);
			break;
		case TM_Deleted:
			cw_lock_conflict(res);
			return false;
		case TM_Invisible:
			elog(ERROR, "attempted to lock invisible tuple");
			break;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", res);
	}
	return false;
}

/* Whether uuid datums a and b are equal. */
static bool
cw_uuid_is(Datum a, Datum b)
{
	return memcmp(DatumGetUUIDP(a), DatumGetUUIDP(b), sizeof(pg_uuid_t)) == 0;
}

/*
 * The candidate in s->tslot, when it can be taken: its entity found and
 * runnable, the pair locked, and after following updates still a due
 * pending task of the same entity.
 */
static bool
cw_claim_take(CwClaimScan *s, bool from_point)
{
	bool		isnull;
	bool		followed;
	Datum		entity;
	Datum		eid;

	if (!cw_claim_task_qualifies(s, s->tslot, from_point))
		return false;
	entity = cw_tcol(s->tslot, TC_ENTITY, &isnull);
	if (isnull)
		return false;
	if (from_point &&
		cw_claim_has_earlier(s, entity,
							 DatumGetTimestampTz(cw_tcol(s->tslot, TC_RUN_AT, &isnull)),
							 DatumGetInt64(cw_tcol(s->tslot, TC_ID, &isnull))))
		return false;
	/* copied: the slot is filled again by the lock */
	entity = datumCopy(entity, false, UUID_LEN);
	if (!cw_claim_find_entity(s, entity) || !cw_claim_runnable(s))
		return false;

	if (!cw_claim_lock(s, s->task, s->tslot, &followed))
		return false;
	if (followed)
	{
		Datum		now_entity = cw_tcol(s->tslot, TC_ENTITY, &isnull);

		if (!cw_claim_task_qualifies(s, s->tslot, from_point) || isnull ||
			!cw_uuid_is(now_entity, entity))
			return false;
	}
	if (!cw_claim_lock(s, s->entity, s->eslot, &followed))
		return false;
	if (followed)
	{
		eid = slot_getattr(s->eslot, cw_col_attnum[COL_ID], &isnull);
		if (isnull || !cw_uuid_is(eid, entity) || !cw_claim_runnable(s))
			return false;
	}
	return true;
}

/* The text column of slot at attnum, as a C string, or NULL. */
static char *
cw_claim_text(TupleTableSlot *slot, int attnum)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnum, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

/* Copy the claimed task and entity into t. */
static void
cw_claim_read(CwClaimScan *s, CwClaimed *t)
{
	TupleTableSlot *ts = s->tslot;
	bool		isnull;
	Datum		d;
	char	   *kind;
	TimestampTz expiry;

	t->id = DatumGetInt64(cw_tcol(ts, TC_ID, &isnull));
	t->entity = datumCopy(cw_tcol(ts, TC_ENTITY, &isnull), false, UUID_LEN);
	t->transition = cw_claim_text(ts, tc_attnum[TC_TRANSITION]);
	t->from_state = cw_claim_text(ts, tc_attnum[TC_FROM]);
	kind = cw_claim_text(ts, tc_attnum[TC_KIND]);
	t->timer = kind != NULL && strcmp(kind, "timer") == 0;
	t->attempts = DatumGetInt32(cw_tcol(ts, TC_ATTEMPTS, &isnull));
	t->max_attempts = DatumGetInt32(cw_tcol(ts, TC_MAX_ATTEMPTS, &isnull));
	t->retry_delay = DatumGetInt32(cw_tcol(ts, TC_RETRY_DELAY, &isnull));
	d = cw_tcol(ts, TC_TIMEOUT, &isnull);
	t->timeout_ms = isnull ? -1 : DatumGetInt64(d);
	t->run_at = DatumGetTimestampTz(cw_tcol(ts, TC_RUN_AT, &isnull));
	/* a timer past run_at + timeout_ms now (never, when that is out of range) */
	t->expired = t->timer && t->timeout_ms >= 0 &&
		!pg_mul_s64_overflow(t->timeout_ms, INT64CONST(1000), &expiry) &&
		!pg_add_s64_overflow(t->run_at, expiry, &expiry) &&
		GetCurrentTimestamp() > expiry;
	t->tid = ts->tts_tid;
	t->entity_tid = s->eslot->tts_tid;
	t->cur_state = cw_claim_text(s->eslot, cw_col_attnum[COL_STATE]);
	t->model = cw_claim_text(s->eslot, cw_col_attnum[COL_MODEL]);
	t->model_version = DatumGetInt32(slot_getattr(s->eslot, cw_col_attnum[COL_MODEL_VERSION],
												  &isnull));
}

/*
 * One pass over the due tasks, from the front or from the point: the first
 * that can be taken, read into t.  *pages gets the buffers the pass read.
 */
static bool
cw_claim_pass(CwClaimScan *s, CwClaimed *t, bool from_point, int64 *pages)
{
	ScanKeyData keys[2];
	int			nkeys = 0;
	IndexScanDesc scan;
	bool		found = false;
	int64		blks = pgBufferUsage.shared_blks_hit + pgBufferUsage.shared_blks_read;

	if (from_point)
		ScanKeyInit(&keys[nkeys++], 1, BTGreaterEqualStrategyNumber, F_TIMESTAMPTZ_GE,
					TimestampTzGetDatum(claim_point.run_at));
	ScanKeyInit(&keys[nkeys++], 1, BTLessEqualStrategyNumber, F_TIMESTAMPTZ_LE,
				TimestampTzGetDatum(s->now));
	scan = index_beginscan(s->task, s->due, s->snap, nkeys, 0);
	index_rescan(scan, keys, nkeys, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, s->tslot))
	{
		CHECK_FOR_INTERRUPTS();
		if (cw_claim_take(s, from_point))
		{
			cw_claim_read(s, t);
			found = true;
			break;
		}
	}
	index_endscan(scan);
	*pages = pgBufferUsage.shared_blks_hit + pgBufferUsage.shared_blks_read - blks;
	return found;
}

/* Claim the first due task (into t, in the caller's memory); false when none is due. */
bool
cw_task_claim(CwClaimed *t)
{
	CwClaimScan s;
	bool		found = false;
	int64		pages;

	cw_claim_open(&s);
	if (claim_point.use && claim_point.claims < CW_CLAIM_FRONT_EVERY)
	{
		found = cw_claim_pass(&s, t, true, &pages);
		claim_point.claims++;
	}
	if (!found)
	{
		found = cw_claim_pass(&s, t, false, &pages);
		claim_point.use = pages > CW_CLAIM_FRONT_PAGES;
		claim_point.claims = 0;
	}
	cw_claim_close(&s);
	if (found)
	{
		claim_point.run_at = t->run_at;
		claim_point.id = t->id;
	}
	return found;
}

/*
 * Is slot pending task id, with attempts that can be counted up once more
 * (into *attempts)?
 */
static bool
cw_task_done_row(TupleTableSlot *slot, int64 id, int32 *attempts)
{
	bool		isnull;
	Datum		v;

	v = cw_tcol(slot, TC_ID, &isnull);
	if (isnull || DatumGetInt64(v) != id)
		return false;
	v = cw_tcol(slot, TC_STATE, &isnull);
	if (isnull || !cw_text_is(v, "pending"))
		return false;
	v = cw_tcol(slot, TC_ATTEMPTS, &isnull);
	return !isnull && !pg_add_s32_overflow(DatumGetInt32(v), 1, attempts);
}

/*
 * Mark claimed task t done, as
 *
 *	 UPDATE cyoda_wf.task SET state = 'done', attempts = attempts + 1,
 *		 last_error = NULL, finished_at = clock_timestamp() WHERE id = t->id
 *
 * does, without the planner (exec_direct.c): the row is the version the
 * claim locked, found by its TID.  Returns false, having done nothing, when
 * the caller must run that statement instead: the table needs the full
 * executor, or the row is no longer that version (the task's own save
 * changed it), or attempts would overflow (the statement's error).
 */
bool
cw_task_mark_done(const CwClaimed *t)
{
	CwDirect	d;
	Bitmapset  *cols = NULL;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
	int32		attempts;
	int			natts;

	if (!ItemPointerIsValid(&t->tid) || tc_relid != cw_task_relid() ||
		!cw_direct_open(&d, tc_relid))
		return false;
	cols = cw_direct_add_col(cols, tc_attnum[TC_STATE]);
	cols = cw_direct_add_col(cols, tc_attnum[TC_ATTEMPTS]);
	cols = cw_direct_add_col(cols, tc_attnum[TC_LAST_ERROR]);
	cols = cw_direct_add_col(cols, tc_attnum[TC_FINISHED_AT]);
	cw_direct_begin(&d, cols, cols);
	bms_free(cols);
	oldslot = d.oldslot;
	newslot = d.newslot;

	/* the version claimed, still the latest and the same pending task */
	if (!table_tuple_fetch_row_version(d.rel, (ItemPointer) &t->tid, d.snap, oldslot) ||
		!cw_task_done_row(oldslot, t->id, &attempts))
	{
		cw_direct_end(&d);
		return false;
	}

	natts = RelationGetDescr(d.rel)->natts;
	slot_getallattrs(oldslot);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values, natts * sizeof(Datum));
	memcpy(newslot->tts_isnull, oldslot->tts_isnull, natts * sizeof(bool));
#define SETTC(c, val, null) \
	(newslot->tts_values[tc_attnum[c] - 1] = (val), newslot->tts_isnull[tc_attnum[c] - 1] = (null))
	SETTC(TC_STATE, CStringGetTextDatum("done"), false);
	SETTC(TC_ATTEMPTS, Int32GetDatum(attempts), false);
	SETTC(TC_LAST_ERROR, (Datum) 0, true);
	SETTC(TC_FINISHED_AT, TimestampTzGetDatum(GetCurrentTimestamp()), false);
#undef SETTC
	ExecStoreVirtualTuple(newslot);

	AfterTriggerBeginQuery();
	ExecBSUpdateTriggers(d.estate, d.rri);
	ExecSimpleRelationUpdate(d.rri, d.estate, &d.epq, oldslot, newslot);
	ExecASUpdateTriggers(d.estate, d.rri, NULL);
	AfterTriggerEndQuery(d.estate);
	cw_direct_end(&d);
	return true;
}

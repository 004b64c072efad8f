/*-------------------------------------------------------------------------
 * store_update.c
 *		The entity update of update_item, fire and queued transitions
 *		(cw_store_update_entity): without the planner when the table allows,
 *		a hand-built UPDATE of one entity row by primary key.
 *
 * cw_store_update_direct does what
 *
 *	 UPDATE cyoda_wf.entity SET data = COALESCE(data_arg, data) WHERE id = id_arg
 *
 * does, without parse, plan or executor tree (exec_direct.c builds the
 * executor state).  What of the executor it reproduces:
 *	- the refusals of any UPDATE: read-only transaction, parallel mode
 *	  (PreventCommandIfReadOnly, PreventCommandIfParallelMode);
 *	- a statement's visibility: CommandCounterIncrement and a new active
 *	  snapshot before, CommandCounterIncrement after (as after an SPI
 *	  statement);
 *	- statement triggers: BEFORE and AFTER STATEMENT UPDATE triggers fire,
 *	  between AfterTriggerBeginQuery and AfterTriggerEndQuery;
 *	- the scan: the row is found through the primary key index with that
 *	  snapshot;
 *	- UPDATE's row locking (what EvalPlanQual gives a plain UPDATE): under
 *	  READ COMMITTED it waits for a concurrent save, follows the row to its
 *	  latest version and checks that it is still the same entity; under
 *	  REPEATABLE READ and SERIALIZABLE a concurrent update or delete is a
 *	  serialization failure (40001); a row already changed by a trigger of
 *	  the current command is 27000, as in ExecUpdate;
 *	- the row itself through ExecSimpleRelationUpdate: BEFORE and AFTER ROW
 *	  triggers (the engine's among them), constraints, index maintenance; a
 *	  BEFORE trigger that skips the row makes it "UPDATE 0".
 *
 * It falls back (returns -1, having done nothing) and cw_store_update_entity
 * runs the plain SQL UPDATE when the table needs the full executor: it is
 * not a plain table, has rules, forces row level security, has no primary
 * key or one that is not exactly the id column, or an UPDATE trigger uses
 * transition tables.
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
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

#include "store.h"
#include "store_int.h"
#include "exec_direct.h"

/*
 * Open the entity table and begin the direct UPDATE (exec_direct.c): as
 * UPDATE ... SET data, with the indexes told which columns the entity
 * trigger writes (cw_col_updated).  Sets *pkrel to the primary key index on
 * id.  False (all undone) when the table needs the full executor or has no
 * primary key that is exactly the id column.
 */
static bool
cw_direct_entity_begin(CwDirect *d, Relation *pkrel)
{
	Oid			pkoid;
	Bitmapset  *set_cols;
	Bitmapset  *written = NULL;

	if (!cw_direct_open(d, cw_entity_relid()))
		return false;
	pkoid = RelationGetPrimaryKeyIndex(d->rel);
	if (!OidIsValid(pkoid))
	{
		table_close(d->rel, NoLock);
		return false;
	}
	cw_store_columns(d->rel);
	set_cols = cw_direct_add_col(NULL, cw_col_attnum[COL_DATA]);
	for (int c = 0; c < NCOLS; c++)
		if (cw_col_updated[c])
			written = cw_direct_add_col(written, cw_col_attnum[c]);
	cw_direct_begin(d, set_cols, written);
	bms_free(set_cols);
	bms_free(written);

	*pkrel = NULL;
	for (int i = 0; i < d->rri->ri_NumIndices; i++)
		if (RelationGetRelid(d->rri->ri_IndexRelationDescs[i]) == pkoid)
			*pkrel = d->rri->ri_IndexRelationDescs[i];
	if (*pkrel == NULL || (*pkrel)->rd_index->indnkeyatts != 1 ||
		(*pkrel)->rd_index->indkey.values[0] != cw_col_attnum[COL_ID])
	{
		cw_direct_end(d);
		return false;
	}
	return true;
}

/*
 * Find entity id through the primary key and lock its latest version as
 * UPDATE would (see the top of this file); false when there is none to save.
 */
static bool
cw_direct_find_locked(CwDirect *d, Relation pkrel, Datum id, const ItemPointerData *hint)
{
	ScanKeyData key;
	IndexScanDesc scan;
	bool		found = false;
	TM_FailureData tmfd;
	TM_Result	res;
	bool		isnull;
	Datum		lockedid;

	/*
	 * A row version this transaction has locked (a claimed task's entity)
	 * is the latest, and visible to the statement's snapshot: fetched by
	 * its TID, when it still holds the entity.
	 */
	if (hint != NULL && ItemPointerIsValid(hint) &&
		table_tuple_fetch_row_version(d->rel, (ItemPointer) hint, d->snap, d->oldslot))
	{
		lockedid = slot_getattr(d->oldslot, cw_col_attnum[COL_ID], &isnull);
		found = !isnull &&
			memcmp(DatumGetUUIDP(lockedid), DatumGetUUIDP(id), sizeof(pg_uuid_t)) == 0;
	}
	if (!found)
	{
		ScanKeyInit(&key, 1, BTEqualStrategyNumber, F_UUID_EQ, id);
		scan = index_beginscan(d->rel, pkrel, d->snap, 1, 0);
		index_rescan(scan, &key, 1, NULL, 0);
		found = index_getnext_slot(scan, ForwardScanDirection, d->oldslot);
		index_endscan(scan);
	}
	if (!found)
		return false;

	res = table_tuple_lock(d->rel, &d->oldslot->tts_tid, d->snap, d->oldslot,
						   d->estate->es_output_cid, LockTupleNoKeyExclusive,
						   LockWaitBlock,
						   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
						   &tmfd);
	switch (res)
	{
		case TM_Ok:
			break;
		case TM_SelfModified:
			if (tmfd.cmax != d->estate->es_output_cid)
				ereport(ERROR,
						(errcode(ERRCODE_TRIGGERED_DATA_CHANGE_VIOLATION),
						 errmsg("tuple to be updated was already modified by an operation triggered by the current command")));
			return false;
		case TM_Updated:
			/* only under REPEATABLE READ, where a latest version is not followed */
			cw_lock_conflict(res);
			elog(ERROR, "unexpected table_tuple_lock status: %u", res);
			break;
		case TM_Deleted:
			cw_lock_conflict(res);
			return false;
		default:
			elog(ERROR, "unexpected table_tuple_lock status: %u", res);
	}

	/* a concurrent save's version is locked: still the same entity? */
	lockedid = slot_getattr(d->oldslot, cw_col_attnum[COL_ID], &isnull);
	return !isnull && memcmp(DatumGetUUIDP(lockedid), DatumGetUUIDP(id), sizeof(pg_uuid_t)) == 0;
}

/*
 * Write the locked row with the new data through ExecSimpleRelationUpdate
 * (the entity trigger gets req).  False when a BEFORE trigger skipped it;
 * else *state gets the state reached.
 */
static bool
cw_direct_write(CwDirect *d, bool data_null, Datum data, CwRequest *req, char **state)
{
	TupleTableSlot *oldslot = d->oldslot;
	TupleTableSlot *newslot = d->newslot;
	int			natts = RelationGetDescr(d->rel)->natts;
	bool		isnull;
	Datum		st;

	slot_getallattrs(oldslot);
	ExecClearTuple(newslot);
	memcpy(newslot->tts_values, oldslot->tts_values, natts * sizeof(Datum));
	memcpy(newslot->tts_isnull, oldslot->tts_isnull, natts * sizeof(bool));
	if (!data_null)
	{
		newslot->tts_values[cw_col_attnum[COL_DATA] - 1] = data;
		newslot->tts_isnull[cw_col_attnum[COL_DATA] - 1] = false;
	}
	ExecStoreVirtualTuple(newslot);

	cw_store_set_request(req);
	ExecSimpleRelationUpdate(d->rri, d->estate, &d->epq, oldslot, newslot);
	cw_store_set_request(NULL);

	/*
	 * A row written has a new TID; without one a user's BEFORE trigger
	 * skipped the row ("UPDATE 0"), and that is what fire reports.
	 */
	if (!ItemPointerIsValid(&newslot->tts_tid) ||
		ItemPointerEquals(&newslot->tts_tid, &oldslot->tts_tid))
		return false;
	st = slot_getattr(newslot, cw_col_attnum[COL_STATE], &isnull);
	*state = isnull ? NULL : TextDatumGetCString(st);
	return true;
}

/*
 * The UPDATE described at the top of this file, in the executor's order:
 * open, begin (snapshot, executor state), BEFORE STATEMENT triggers, find
 * and lock the row, write it, AFTER STATEMENT triggers, end.
 *
 * Returns 1 when the entity was saved (*state gets the state it reached),
 * 0 when there is no such entity, and -1 when the table needs the full
 * executor (see above): then nothing was done.
 * Runs as the current user; the caller switches to the engine owner.
 */
static int
cw_store_update_direct(Datum id, bool data_null, Datum data, CwRequest *req, char **state)
{
	CwDirect	d;
	Relation	pkrel;
	bool		found;

	if (!cw_direct_entity_begin(&d, &pkrel))
		return -1;

	AfterTriggerBeginQuery();
	ExecBSUpdateTriggers(d.estate, d.rri);
	found = cw_direct_find_locked(&d, pkrel, id, req != NULL && req->kind == CW_REQ_TASK ?
								  &req->locked_tid : NULL) &&
		cw_direct_write(&d, data_null, data, req, state);
	ExecASUpdateTriggers(d.estate, d.rri, NULL);
	AfterTriggerEndQuery(d.estate);
	cw_direct_end(&d);
	return found ? 1 : 0;
}

/*
 * The save of update_item, fire and a queued transition: entity id gets
 * data (kept when data_null) and req goes to the entity trigger.  Written
 * directly when the table allows (cw_store_update_direct), else by the plain
 * SQL UPDATE.  Returns the number of entities saved (0 or 1); *state gets
 * the state reached, or NULL.  Runs as the current user; the caller switches
 * to the engine owner and withdraws the request on error.
 */
uint64
cw_store_update_entity(Datum id, bool data_null, Datum data, CwRequest *req, char **state)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {UUIDOID, JSONBOID};
	Datum		args[2] = {id, data};
	char		nulls[2] = {' ', data_null ? 'n' : ' '};
	MemoryContext cxt = CurrentMemoryContext;
	int			rc;
	uint64		n;

	*state = NULL;
	rc = cw_store_update_direct(id, data_null, data, req, state);
	if (rc >= 0)
		return (uint64) rc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cw_kept_plan(&plan,
				 "UPDATE cyoda_wf.entity SET data = COALESCE($2, data) "
				 "WHERE id OPERATOR(pg_catalog.=) $1 RETURNING state", 2, types);
	cw_store_set_request(req);
	rc = SPI_execute_plan(plan, args, nulls, false, 0);
	cw_store_set_request(NULL);
	if (rc < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	n = SPI_processed;
	if (n > 0)
	{
		char	   *st = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (st != NULL)
			*state = MemoryContextStrdup(cxt, st);
	}
	SPI_finish();
	return n;
}

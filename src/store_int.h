/*-------------------------------------------------------------------------
 * store_int.h
 *		Private declarations shared by the store_*.c files.
 *
 * store_trigger.c  the row triggers on cyoda_wf.entity: one save per row,
 *                  and what every save leaves behind (store_rows.c,
 *                  store_tasks.c, the notification)
 * store_rows.c     version and audit rows, buffered per statement and
 *                  written with table_multi_insert
 * store_tasks.c    the task rows a save cancels or queues
 * store_update.c   the entity update of update_item, fire and queued
 *                  transitions, without the planner when the table allows
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_STORE_INT_H
#define CYODA_WF_STORE_INT_H

#include "access/htup.h"
#include "access/tupdesc.h"
#include "utils/relcache.h"

/* Columns of cyoda_wf.entity, by attribute number. */
enum
{
	COL_ID, COL_MODEL, COL_MODEL_VERSION, COL_STATE, COL_DATA, COL_CREATED_AT,
	COL_UPDATED_AT, COL_VERSION, COL_LAST_TRANSITION, COL_WORKFLOW,
	COL_PARENT_ID, COL_SOURCE, COL_TRANSACTION_ID, NCOLS
};

/* Attribute numbers of those columns in cyoda_wf.entity (store_trigger.c) */
extern int	cw_col_attnum[NCOLS];

/* store_trigger.c */
extern void cw_store_columns(Relation rel);
extern Datum cw_col(HeapTuple tup, TupleDesc td, int col, bool *isnull);
extern char *cw_col_text(HeapTuple tup, TupleDesc td, int col);
extern const bool cw_col_updated[NCOLS];

/* store_rows.c */
extern void cw_store_buffer(CwSave *s, Datum id, int64 version, const char *change_type,
							TimestampTz at, const char *transition, uint64 xid,
							bool with_data);

/* store_tasks.c */
extern void cw_store_tasks_as_owner(CwSave *s, Datum id, bool deleted);

#endif							/* CYODA_WF_STORE_INT_H */

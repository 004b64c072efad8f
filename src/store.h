/*-------------------------------------------------------------------------
 * store.h
 *		What API functions hand to the entity trigger for one save.
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_STORE_H
#define CYODA_WF_STORE_H

#include "storage/itemptr.h"
#include "utils/uuid.h"

typedef enum CwRequestKind
{
	CW_REQ_INSERT,
	CW_REQ_UPDATE,
	CW_REQ_DELETE,
	CW_REQ_TASK,				/* run a queued transition (tasks.c) */
	CW_REQ_MOVE					/* move_entity: set workflow and state, nothing runs */
} CwRequestKind;

typedef struct CwRequest
{
	CwRequestKind kind;
	pg_uuid_t	id;				/* the entity, for update and delete */
	const char *transition;		/* named transition, or NULL for loopback */
	bool		has_if_match;
	int64		if_match;
	int			source;			/* CW_SOURCE_* for inserts; 0 = decide */
	const char *role;			/* the caller, recorded as changed_by */
	bool		task_timer;		/* CW_REQ_TASK: a timer, not async processors */
	int			attempt;		/* CW_REQ_TASK: attempt number */
	bool		patch;			/* CW_REQ_UPDATE: the data is a merge patch's result */
	const char *move_workflow;	/* CW_REQ_MOVE: target workflow, NULL = the entity's */
	const char *move_state;		/* CW_REQ_MOVE: target state */
	const char *move_reason;	/* CW_REQ_MOVE: why, for the audit row */
	ItemPointerData locked_tid;	/* CW_REQ_TASK: the entity row version this
								 * transaction locked when it claimed the
								 * task (invalid: none), found without the
								 * primary key */
} CwRequest;

extern void cw_store_set_request(CwRequest *req);
extern uint64 cw_store_update_entity(Datum id, bool data_null, Datum data, CwRequest *req,
									 char **state);

#endif

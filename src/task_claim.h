/*-------------------------------------------------------------------------
 * task_claim.h
 *		Claiming the next due task (task_claim.c) for tasks.c.
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_TASK_CLAIM_H
#define CYODA_WF_TASK_CLAIM_H

#include "datatype/timestamp.h"
#include "storage/itemptr.h"

/* A claimed task: the task row and its entity's, in the caller's memory. */
typedef struct CwClaimed
{
	int64		id;
	ItemPointerData tid;		/* the task row version locked */
	Datum		entity;			/* uuid */
	ItemPointerData entity_tid;	/* the entity row version locked */
	char	   *transition;
	char	   *from_state;
	char	   *cur_state;		/* the entity's state now (NULL: none) */
	int			attempts;
	int			max_attempts;
	int			retry_delay;
	int64		timeout_ms;		/* -1: none */
	bool		expired;		/* a timer past its timeout_ms */
	bool		timer;
	char	   *model;			/* the entity's model and version */
	int			model_version;
	TimestampTz run_at;
} CwClaimed;

extern bool cw_task_claim(CwClaimed *t);
extern bool cw_task_mark_done(const CwClaimed *t);

#endif							/* CYODA_WF_TASK_CLAIM_H */

/*-------------------------------------------------------------------------
 * exec_direct.h
 *		A one-row UPDATE without parse, plan or executor tree
 *		(exec_direct.c), for the engine's own tables.
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_EXEC_DIRECT_H
#define CYODA_WF_EXEC_DIRECT_H

#include "executor/executor.h"
#include "nodes/bitmapset.h"
#include "utils/rel.h"

/* The executor state of one direct UPDATE, built and torn down in order. */
typedef struct CwDirect
{
	Relation	rel;
	Snapshot	snap;
	EState	   *estate;
	ResultRelInfo *rri;
	EPQState	epq;
	TupleTableSlot *oldslot;
	TupleTableSlot *newslot;
} CwDirect;

extern bool cw_direct_open(CwDirect *d, Oid relid);
extern void cw_direct_begin(CwDirect *d, const Bitmapset *set_cols, const Bitmapset *written);
extern void cw_direct_end(CwDirect *d);
extern Bitmapset *cw_direct_add_col(Bitmapset *cols, AttrNumber attnum);

#endif							/* CYODA_WF_EXEC_DIRECT_H */

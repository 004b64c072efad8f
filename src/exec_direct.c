/*-------------------------------------------------------------------------
 * exec_direct.c
 *		A one-row UPDATE of an engine table without parse, plan or executor
 *		tree: the entity update of update_item, fire and queued transitions
 *		(store_update.c) and a finished task's row (tasks.c).
 *
 * The caller opens the table (cw_direct_open refuses a table that needs the
 * full executor: not a plain table, rules, forced row level security, UPDATE
 * triggers with transition tables), begins (cw_direct_begin: a statement's
 * snapshot, the executor state of the result relation with its indexes),
 * finds and locks its row, writes it with ExecSimpleRelationUpdate between
 * AfterTriggerBeginQuery and AfterTriggerEndQuery, and ends (cw_direct_end).
 *
 * What a planned UPDATE would do that this keeps:
 *	- the refusals of any UPDATE: read-only transaction, parallel mode;
 *	- the visibility of a statement: CommandCounterIncrement and a new active
 *	  snapshot before, CommandCounterIncrement after (as after an SPI
 *	  statement);
 *	- the hint each index gets about its key (index_unchanged_by_update),
 *	  here from the columns the write can change, which the caller names:
 *	  the engine's row trigger writes columns no SET list mentions;
 *	- the table's CHECK constraints, evaluated on every row as ExecRelCheck
 *	  does, from their stored expressions.  What ExecRelCheck makes of a
 *	  constraint's stored text before it builds the expression state
 *	  (stringToNode, then expression_planner: most of its cost) is kept for
 *	  the session, per table, and checked against the catalog's text on
 *	  every use.  The planned form is kept only when the expression calls
 *	  built-in functions alone: the planner may inline or fold a function
 *	  that CREATE OR REPLACE FUNCTION can change, so such a constraint is
 *	  planned again on every statement, as ExecRelCheck plans it.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "access/table.h"
#include "access/tableam.h"
#include "access/transam.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/executor.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "nodes/pg_list.h"
#include "optimizer/optimizer.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "exec_direct.h"

/*
 * The parsed CHECK constraints of one table, as its catalog text was when
 * they were parsed.
 */
typedef struct CwChecks
{
	Oid			relid;
	int			n;
	char	  **ccbin;			/* the stored text of each */
	Node	  **expr;			/* stringToNode of each, planned when planned[i] */
	bool	   *planned;
	MemoryContext cxt;
} CwChecks;

static List *checks_cache = NIL;	/* of CwChecks *, in TopMemoryContext */

static bool
cw_func_not_builtin(Oid func, void *context)
{
	return func >= FirstNormalObjectId;
}

/* Does expression node call a function that is not built in? */
static bool
cw_calls_user_function(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, cw_func_not_builtin, context))
		return true;
	return expression_tree_walker(node, cw_calls_user_function, context);
}

/* The parse of rel's CHECK constraints, from the cache when still current. */
static CwChecks *
cw_direct_checks(Relation rel)
{
	TupleConstr *constr = RelationGetDescr(rel)->constr;
	int			n = constr->num_check;
	CwChecks   *c = NULL;
	ListCell   *lc;
	MemoryContext old;

	foreach(lc, checks_cache)
	{
		CwChecks   *e = (CwChecks *) lfirst(lc);

		if (e->relid == RelationGetRelid(rel))
		{
			c = e;
			break;
		}
	}
	if (c != NULL)
	{
		bool		current = c->n == n;

		for (int i = 0; current && i < n; i++)
			current = strcmp(c->ccbin[i], constr->check[i].ccbin) == 0;
		if (current)
			return c;
		/* changed since: parse again */
		MemoryContextReset(c->cxt);
	}
	else
	{
		old = MemoryContextSwitchTo(TopMemoryContext);
		c = palloc0(sizeof(CwChecks));
		c->relid = RelationGetRelid(rel);
		c->cxt = AllocSetContextCreate(TopMemoryContext, "cyoda_wf CHECK constraints",
									   ALLOCSET_SMALL_SIZES);
		checks_cache = lappend(checks_cache, c);
		MemoryContextSwitchTo(old);
	}
	old = MemoryContextSwitchTo(c->cxt);
	c->n = 0;
	c->ccbin = palloc(Max(n, 1) * sizeof(char *));
	c->expr = palloc(Max(n, 1) * sizeof(Node *));
	c->planned = palloc(Max(n, 1) * sizeof(bool));
	for (int i = 0; i < n; i++)
	{
		c->ccbin[i] = pstrdup(constr->check[i].ccbin);
		c->expr[i] = stringToNode(constr->check[i].ccbin);
		c->planned[i] = !cw_calls_user_function(c->expr[i], NULL);
		if (c->planned[i])
			c->expr[i] = (Node *) expression_planner((Expr *) c->expr[i]);
	}
	c->n = n;
	MemoryContextSwitchTo(old);
	return c;
}

/*
 * The expression states ExecRelCheck would build for rel's CHECK
 * constraints (ExecPrepareExpr of each), in the statement's memory; the
 * planned expressions of the cache are only read.
 */
static void
cw_direct_check_states(CwDirect *d)
{
	TupleConstr *constr = RelationGetDescr(d->rel)->constr;
	CwChecks   *c;
	MemoryContext old;

	if (constr == NULL || constr->num_check == 0)
		return;
	c = cw_direct_checks(d->rel);
	old = MemoryContextSwitchTo(d->estate->es_query_cxt);
	d->rri->ri_ConstraintExprs = palloc(c->n * sizeof(ExprState *));
	for (int i = 0; i < c->n; i++)
		d->rri->ri_ConstraintExprs[i] = c->planned[i] ?
			ExecInitExpr((Expr *) c->expr[i], NULL) :
			ExecPrepareExpr((Expr *) copyObject(c->expr[i]), d->estate);
	MemoryContextSwitchTo(old);
}

/*
 * Tell each index whether the write can change its key, as the executor
 * tells it from an UPDATE's SET list (index_unchanged_by_update), here from
 * the columns in written.  An index whose key or expression uses none of
 * them keeps the hint (a B-tree may then delete older duplicates of the
 * key before it splits a page); the others do not get it.  The hint changes
 * no stored value, only which pages a B-tree tries to clean first.
 */
static void
cw_direct_index_hints(ResultRelInfo *rri, const Bitmapset *written)
{
	for (int i = 0; i < rri->ri_NumIndices; i++)
	{
		IndexInfo  *ii = rri->ri_IndexRelationInfo[i];
		Bitmapset  *used = NULL;

		for (int k = 0; k < ii->ii_NumIndexAttrs; k++)
			if (ii->ii_IndexAttrNumbers[k] != 0)
				used = cw_direct_add_col(used, ii->ii_IndexAttrNumbers[k]);
		pull_varattnos((Node *) ii->ii_Expressions, 1, &used);
		ii->ii_CheckedUnchanged = true;
		ii->ii_IndexUnchanged = !bms_overlap(used, written);
		bms_free(used);
	}
}

/* cols with attnum added, in the offsets of an RTE's column sets. */
Bitmapset *
cw_direct_add_col(Bitmapset *cols, AttrNumber attnum)
{
	return bms_add_member(cols, attnum - FirstLowInvalidHeapAttributeNumber);
}

/*
 * Open table relid for a direct UPDATE; false (table closed again) when it
 * needs the full executor for its kind, rules, row security or transition
 * tables.
 */
bool
cw_direct_open(CwDirect *d, Oid relid)
{
	TriggerDesc *trig;

	/* what the executor checks before any UPDATE */
	PreventCommandIfReadOnly("UPDATE");
	PreventCommandIfParallelMode("UPDATE");

	memset(d, 0, sizeof(*d));
	d->rel = table_open(relid, RowExclusiveLock);
	trig = d->rel->trigdesc;
	if (d->rel->rd_rel->relkind != RELKIND_RELATION || d->rel->rd_rules != NULL ||
		d->rel->rd_rel->relforcerowsecurity ||
		(trig != NULL && (trig->trig_update_old_table || trig->trig_update_new_table)))
	{
		table_close(d->rel, NoLock);
		d->rel = NULL;
		return false;
	}
	return true;
}

/*
 * The statement's snapshot and executor state: the result relation with
 * its indexes (hinted by written, the columns the write can change) and
 * CHECK constraints, as an UPDATE whose SET list is set_cols.
 */
void
cw_direct_begin(CwDirect *d, const Bitmapset *set_cols, const Bitmapset *written)
{
	RangeTblEntry *rte;

	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	d->snap = GetActiveSnapshot();

	d->estate = CreateExecutorState();
	rte = makeNode(RangeTblEntry);
	rte->rtekind = RTE_RELATION;
	rte->relid = RelationGetRelid(d->rel);
	rte->relkind = RELKIND_RELATION;
	rte->rellockmode = RowExclusiveLock;
	rte->requiredPerms = ACL_SELECT | ACL_UPDATE;
	rte->updatedCols = bms_copy(set_cols);
	ExecInitRangeTable(d->estate, list_make1(rte));
	d->estate->es_snapshot = d->snap;
	d->estate->es_output_cid = GetCurrentCommandId(true);
	d->rri = makeNode(ResultRelInfo);
	InitResultRelInfo(d->rri, d->rel, 1, NULL, 0);
	/* where the trigger manager looks for it (ExecGetTriggerResultRel) */
	d->estate->es_opened_result_relations = list_make1(d->rri);
	ExecOpenIndices(d->rri, false);
	cw_direct_index_hints(d->rri, written);
	cw_direct_check_states(d);
	EvalPlanQualInit(&d->epq, d->estate, NULL, NIL, -1);
	d->oldslot = table_slot_create(d->rel, &d->estate->es_tupleTable);
	d->newslot = table_slot_create(d->rel, &d->estate->es_tupleTable);
}

/* Tear down what cw_direct_begin built, and close the table. */
void
cw_direct_end(CwDirect *d)
{
	EvalPlanQualEnd(&d->epq);
	ExecCloseResultRelations(d->estate);
	ExecResetTupleTable(d->estate->es_tupleTable, false);
	FreeExecutorState(d->estate);
	PopActiveSnapshot();
	table_close(d->rel, NoLock);
	/* as after an SPI statement: what it did is visible to what follows */
	CommandCounterIncrement();
}

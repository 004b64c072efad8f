/*-------------------------------------------------------------------------
 * search.c
 *		cyoda_wf.search: a Cyoda condition translated into one SQL query.
 *
 * search(model, model_version, condition, point_in_time) validates the
 * condition with the condition compiler (so every 22023 error is the one a
 * workflow criterion would raise; function criteria are refused), then
 * walks the compiled tree (cond.h, each group member as written) and
 * writes a single parameterized SELECT over
 * cyoda_wf.entity, or, with a point_in_time, over the latest version row of
 * each entity at that time.  Every value taken from the condition travels
 * as a $n parameter (json names as text, paths as text[] read with #>);
 * nothing the caller wrote is spliced into the SQL text.  The query text
 * depends only on the condition's shape, so its saved plan is reused by
 * later searches of the same shape.  It runs through SPI as the engine
 * owner, like the other entity-service functions.  search_sql() returns
 * the same SQL with the parameters written as literals, to EXPLAIN it.
 * The translation of the condition itself is search_sql.c's.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "cond.h"
#include "search_int.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(search_entities);
PG_FUNCTION_INFO_V1(search_sql);

/* Rows fetched from the cursor at a time. */
#define SEARCH_FETCH 1000

/* Saved plans kept per backend, by query text (least recently used goes). */
#define SEARCH_PLAN_CACHE 64

/*
 * A saved plan of a generated query.  The query text depends only on the
 * condition's shape (values are parameters), so repeated searches with new
 * values reuse it; the plan cache still plans custom plans with the values
 * as long as that pays, as for any prepared statement.
 */
typedef struct SearchPlan
{
	char	   *sql;
	int			nargs;
	Oid		   *types;
	SPIPlanPtr	plan;
	uint64		last_used;
} SearchPlan;

static SearchPlan search_plans[SEARCH_PLAN_CACHE];
static int	search_nplans = 0;
static uint64 search_clock = 0;
static MemoryContext search_plan_cxt = NULL;

/* ----------------------------------------------------------------
 * The query
 * ----------------------------------------------------------------
 */

/*
 * Validate the arguments of search / search_sql and write the query into q.
 * Raises 22023 for an invalid condition or one that calls a function.
 */
static void
search_build(FunctionCallInfo fcinfo, SqlQuery *q, bool inline_params)
{
	char	   *pm,
			   *pv;
	Jsonb	   *cond = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	MemoryContext tmp = NULL;
	CwCondition *c = NULL;

	memset(q, 0, sizeof(SqlQuery));
	initStringInfo(&q->sql);
	q->inline_params = inline_params;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));

	if (cond != NULL)
	{
		/* unmerged: each group member as written, merged by gen_group */
		tmp = AllocSetContextCreate(CurrentMemoryContext,
									"cyoda_wf search condition",
									ALLOCSET_SMALL_SIZES);
		c = cw_condition_compile_unmerged(cond, "$", "public", tmp);

		if (cw_condition_uses_function(c))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("function criteria cannot be used in search"),
					 errdetail("The condition contains a condition of type \"function\"."),
					 errhint("Search with simple, group, lifecycle and array conditions, then apply the function to the rows found.")));
	}

	pm = cw_sq_param(q, TEXTOID, PG_GETARG_DATUM(0));
	pv = cw_sq_param(q, INT4OID, PG_ARGISNULL(1) ? Int32GetDatum(1) : PG_GETARG_DATUM(1));
	if (PG_ARGISNULL(3))
		appendStringInfo(&q->sql,
						 "SELECT e.* FROM cyoda_wf.entity e "
						 "WHERE e.model = %s AND e.model_version = %s", pm, pv);
	else
	{
		/* the latest version row of each entity at that time, as an entity */
		appendStringInfo(&q->sql,
						 "SELECT e.* FROM ("
						 "SELECT v.entity_id AS id, v.model, v.model_version, v.state, v.data, "
						 "COALESCE(c.changed_at, l.created_at) AS created_at, "
						 "v.changed_at AS updated_at, v.version, "
						 "v.transition AS last_transition, l.workflow, l.parent_id, "
						 "l.source, v.transaction_id "
						 "FROM (SELECT DISTINCT ON (h.entity_id) h.* FROM cyoda_wf.entity_version h "
						 "WHERE h.model = %s AND h.model_version = %s AND h.changed_at <= %s "
						 "ORDER BY h.entity_id, h.version DESC) v "
						 "LEFT JOIN cyoda_wf.entity l ON l.id = v.entity_id "
						 "LEFT JOIN cyoda_wf.entity_version c "
						 "ON c.entity_id = v.entity_id AND c.version = 1 "
						 "WHERE v.change_type <> 'DELETE') e WHERE true",
						 pm, pv, cw_sq_param(q, TIMESTAMPTZOID, PG_GETARG_DATUM(3)));
	}
	if (c != NULL)
	{
		appendStringInfoString(&q->sql, " AND ");
		cw_sq_condition(q, &q->sql, c);
		MemoryContextDelete(tmp);
	}
	appendStringInfoString(&q->sql, " ORDER BY e.created_at, e.id");
}

/* The saved plan for q (inside SPI): from the cache, else prepared and kept. */
static SPIPlanPtr
search_plan(SqlQuery *q)
{
	SearchPlan *slot = NULL;
	SPIPlanPtr	plan;
	MemoryContext old;

	for (int i = 0; i < search_nplans; i++)
	{
		SearchPlan *sp = &search_plans[i];

		if (sp->nargs == q->nparams && strcmp(sp->sql, q->sql.data) == 0 &&
			memcmp(sp->types, q->types, q->nparams * sizeof(Oid)) == 0)
		{
			sp->last_used = ++search_clock;
			return sp->plan;
		}
	}

	plan = NULL;
	cw_kept_plan(&plan, q->sql.data, q->nparams, q->types);

	if (search_plan_cxt == NULL)
		search_plan_cxt = AllocSetContextCreate(TopMemoryContext,
												"cyoda_wf search plans",
												ALLOCSET_SMALL_SIZES);
	if (search_nplans < SEARCH_PLAN_CACHE)
		slot = &search_plans[search_nplans++];
	else
	{
		/* evict the least recently used */
		slot = &search_plans[0];
		for (int i = 1; i < search_nplans; i++)
			if (search_plans[i].last_used < slot->last_used)
				slot = &search_plans[i];
		SPI_freeplan(slot->plan);
		pfree(slot->sql);
		if (slot->types)
			pfree(slot->types);
	}
	old = MemoryContextSwitchTo(search_plan_cxt);
	slot->sql = pstrdup(q->sql.data);
	slot->nargs = q->nparams;
	slot->types = q->nparams ? palloc(q->nparams * sizeof(Oid)) : NULL;
	if (q->nparams)
		memcpy(slot->types, q->types, q->nparams * sizeof(Oid));
	MemoryContextSwitchTo(old);
	slot->plan = plan;
	slot->last_used = ++search_clock;
	return plan;
}

/*
 * cyoda_wf.search(model, model_version, condition, point_in_time) RETURNS
 * SETOF cyoda_wf.entity: the entities of a model version matching a Cyoda
 * condition (all of them for NULL), now or as of point_in_time, ordered by
 * created_at, id.
 */
Datum
search_entities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SqlQuery	q;
	CwSavedUser saved;

	InitMaterializedSRF(fcinfo, 0);
	search_build(fcinfo, &q, false);

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		TupleDesc	rdesc = rsinfo->setDesc;
		Portal		portal;
		int		   *colmap = palloc0(rdesc->natts * sizeof(int));
		Datum	   *values = palloc(rdesc->natts * sizeof(Datum));
		bool	   *nulls = palloc(rdesc->natts * sizeof(bool));
		Datum	   *svalues = NULL;
		bool	   *snulls = NULL;
		bool		mapped = false;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		portal = SPI_cursor_open(NULL, search_plan(&q), q.values, NULL, true);
		if (portal == NULL)
			elog(ERROR, "SPI_cursor_open failed: %s",
				 SPI_result_code_string(SPI_result));
		for (;;)
		{
			TupleDesc	sdesc;

			SPI_cursor_fetch(portal, true, SEARCH_FETCH);
			if (SPI_processed == 0)
				break;
			sdesc = SPI_tuptable->tupdesc;
			if (!mapped)
			{
				/* result columns by name: the query's columns may be fewer */
				for (int i = 0; i < rdesc->natts; i++)
				{
					Form_pg_attribute att = TupleDescAttr(rdesc, i);
					int			col;

					colmap[i] = 0;
					if (att->attisdropped)
						continue;
					col = SPI_fnumber(sdesc, NameStr(att->attname));
					if (col <= 0)
						continue;
					if (SPI_gettypeid(sdesc, col) != att->atttypid)
						elog(ERROR, "search: column \"%s\" has type %u, expected %u",
							 NameStr(att->attname), SPI_gettypeid(sdesc, col),
							 att->atttypid);
					colmap[i] = col;
				}
				/* in SPI's memory, gone at SPI_finish */
				svalues = palloc(sdesc->natts * sizeof(Datum));
				snulls = palloc(sdesc->natts * sizeof(bool));
				mapped = true;
			}
			for (uint64 r = 0; r < SPI_processed; r++)
			{
				heap_deform_tuple(SPI_tuptable->vals[r], sdesc, svalues, snulls);
				for (int i = 0; i < rdesc->natts; i++)
				{
					int			col = colmap[i];

					values[i] = col ? svalues[col - 1] : (Datum) 0;
					nulls[i] = col ? snulls[col - 1] : true;
				}
				tuplestore_putvalues(rsinfo->setResult, rdesc, values, nulls);
			}
			SPI_freetuptable(SPI_tuptable);
			CHECK_FOR_INTERRUPTS();
		}
		SPI_cursor_close(portal);
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	return (Datum) 0;
}

/*
 * cyoda_wf.search_sql(model, model_version, condition, point_in_time)
 * RETURNS text: the query search() runs, its parameters written as quoted
 * literals, to read or EXPLAIN (a debugging aid).
 */
Datum
search_sql(PG_FUNCTION_ARGS)
{
	SqlQuery	q;

	search_build(fcinfo, &q, true);
	PG_RETURN_TEXT_P(cstring_to_text(q.sql.data));
}

/*-------------------------------------------------------------------------
 * search.c
 *		cyoda_wf.search: a Cyoda condition translated into one SQL query.
 *
 * search(model, model_version, condition, point_in_time, sort, page_size,
 * page_number) validates the
 * condition with the condition compiler (so every 22023 error is the one a
 * workflow criterion would raise; function criteria are refused), then
 * walks the compiled tree (cond.h, each group member as written) and
 * writes a single parameterized SELECT over
 * cyoda_wf.entity, or, with a point_in_time, over the latest version row of
 * each entity at that time.  Every value taken from the condition travels
 * as a $n parameter (json names as text, paths as text[] read with #>);
 * nothing the caller wrote is spliced into the SQL text.  The query text
 * depends only on the condition's shape, so it keys a per-backend cache of
 * saved plans (search_plan: generic plans where they keep the GIN index)
 * reused by later searches of the same shape.  It runs through SPI as the
 * engine owner, like the other entity-service functions, its rows sent
 * straight into the function's result.  search_sql() returns
 * the same SQL with the parameters written as literals, to EXPLAIN it.
 * The translation of the condition itself is search_sql.c's.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "model.h"
#include "cond.h"
#include "search_int.h"

#include <ctype.h>

#include "access/htup_details.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "common/hashfn.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "nodes/plannodes.h"
#include "utils/plancache.h"
#include "utils/syscache.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(cyoda_wf_search_entities);
PG_FUNCTION_INFO_V1(cyoda_wf_search_sql);
PG_FUNCTION_INFO_V1(cyoda_wf_stats_by);

/* Saved plans kept per backend, by query text (least recently used goes). */
#define SEARCH_PLAN_CACHE 128

/*
 * A saved plan of a generated query.  The query text depends only on the
 * condition's shape (model, paths, operators, sort keys, paging present or
 * not: the values are parameters), so it is the cache key itself: two
 * shapes never share a plan.  generic: the plan is prepared to run its
 * generic plan every time (see search_plan); otherwise PostgreSQL's plan
 * cache chooses, as for any prepared statement.
 */
typedef struct SearchPlan
{
	char	   *sql;
	uint32		hash;			/* of sql, compared first */
	int			nargs;
	Oid		   *types;
	SPIPlanPtr	plan;
	bool		generic;
	uint64		last_used;
} SearchPlan;

static SearchPlan search_plans[SEARCH_PLAN_CACHE];
static int	search_nplans = 0;
static uint64 search_clock = 0;
static uint64 search_plans_gen = 0; /* cw_definitions_generation() of the cache */
static MemoryContext search_plan_cxt = NULL;

/* ----------------------------------------------------------------
 * The query
 * ----------------------------------------------------------------
 */

/* Longest text of a key or path shown in an error. */
#define SEARCH_SHOW_MAX 64

/* At most this many sort keys. */
#define SEARCH_MAX_SORT_KEYS 10

/*
 * Compile a search condition (NULL: none) in a context of its own, which
 * the caller deletes once the SQL is written (*tmp).  Raises 22023 for an
 * invalid condition or one that calls a function.
 */
static CwCondition *
search_compile(Jsonb *cond, MemoryContext *tmp)
{
	CwCondition *c;

	*tmp = AllocSetContextCreate(CurrentMemoryContext,
								 "cyoda_wf search condition",
								 ALLOCSET_SMALL_SIZES);
	if (cond == NULL)
		return NULL;
	/* unmerged: each group member as written, merged by search_sql.c */
	c = cw_condition_compile_unmerged(cond, "$", "public", *tmp);
	if (cw_condition_uses_function(c))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("function criteria cannot be used in search"),
				 errdetail("The condition contains a condition of type \"function\"."),
				 errhint("Search with simple, group, lifecycle and array conditions, then apply the function to the rows found.")));
	return c;
}

/*
 * Append the rows searched, as alias e with the columns of cyoda_wf.entity:
 * " FROM ... WHERE ..." over the model version's live entities, or with a
 * point_in_time (pit not NULL) over the latest version row of each entity
 * at that time, then " AND " the condition c when there is one.
 */
static void
search_from(SqlQuery *q, Datum model, bool version_null, Datum version,
			const Datum *pit, const CwCondition *c)
{
	char	   *pm = cw_sq_param(q, TEXTOID, model);
	char	   *pv = cw_sq_param(q, INT4OID, version_null ? Int32GetDatum(1) : version);

	if (pit == NULL)
		appendStringInfo(&q->sql,
						 " FROM cyoda_wf.entity e "
						 "WHERE e.model = %s AND e.model_version = %s", pm, pv);
	else
		appendStringInfo(&q->sql,
						 " FROM ("
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
						 pm, pv, cw_sq_param(q, TIMESTAMPTZOID, *pit));
	if (c != NULL)
	{
		appendStringInfoString(&q->sql, " AND ");
		cw_sq_condition(q, &q->sql, c);
	}
}

/*
 * The steps of a data path written as in conditions ("$.a.b", "a.b",
 * "$.list[0]"), parsed by the condition compiler in cxt; what names the
 * argument in errors (22023 for an invalid path or one with [*], 54000 for
 * one beyond the path limit: the compiler's error, its message as detail).
 */
static Path
search_data_path(const char *p, const char *what, MemoryContext cxt)
{
	StringInfoData buf;
	Jsonb	   *cj;
	CwCondition *c = NULL;
	MemoryContext old = CurrentMemoryContext;
	Path		path;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"type\": \"simple\", \"operatorType\": \"IS_NULL\", \"jsonPath\": ");
	escape_json(&buf, p);
	appendStringInfoChar(&buf, '}');
	cj = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(buf.data)));
	PG_TRY();
	{
		c = cw_condition_compile_unmerged(cj, "$", "public", cxt);
	}
	PG_CATCH();
	{
		ErrorData  *edata;
		int			code = geterrcode();

		if (code != ERRCODE_INVALID_PARAMETER_VALUE &&
			code != ERRCODE_PROGRAM_LIMIT_EXCEEDED)
			PG_RE_THROW();		/* a cancel, out of memory, ... as it is */
		MemoryContextSwitchTo(old);
		edata = CopyErrorData();
		FlushErrorState();
		ereport(ERROR,
				(errcode(edata->sqlerrcode),
				 errmsg("invalid %s \"%s\"", what, cw_clip_text(p, strlen(p), SEARCH_SHOW_MAX)),
				 errdetail("%s", edata->message),
				 edata->hint ? errhint("%s", edata->hint) : 0));
	}
	PG_END_TRY();
	path = cw_sq_node_path(c);
	for (int k = 0; k < path.n; k++)
		if (path.steps[k].kind == PS_ANY)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid %s \"%s\": [*] selects many values", what,
							cw_clip_text(p, strlen(p), SEARCH_SHOW_MAX)),
					 errhint("Address one value: names and [N] steps only.")));
	return path;
}

/* Raise the 22023 of a bad sort key. */
static void
pg_attribute_noreturn()
bad_sort_key(const char *key, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid sort key \"%s\": %s",
					cw_clip_text(key, strlen(key), SEARCH_SHOW_MAX), why),
			 errhint("Write sort keys as [@]path[:asc|desc]: a dotted data path such as \"price\" or \"customer.name\", or @creationDate, @lastUpdateTime, @state, @id.")));
	pg_unreachable();
}

/*
 * Append one sort key's ORDER BY terms.  A lifecycle key orders by its
 * column.  A data path orders entities that have a value there (not
 * missing, not JSON null) first in either direction, then by JSON type
 * (number, string, boolean, array, object), then numbers numerically,
 * strings byte-wise, booleans false before true, containers as jsonb
 * orders them; every term but the first in the key's direction.
 */
static void
sort_key_sql(SqlQuery *q, StringInfo out, const char *key, MemoryContext cxt)
{
	const char *colon = strrchr(key, ':');
	int			len = colon ? colon - key : strlen(key);
	const char *dir = " ASC";
	char	   *name = pnstrdup(key, len);
	char	   *v;

	if (colon != NULL)
	{
		if (pg_strcasecmp(colon + 1, "desc") == 0)
			dir = " DESC";
		else if (pg_strcasecmp(colon + 1, "asc") != 0)
			bad_sort_key(key, "the direction must be asc or desc");
	}
	if (name[0] == '@')
	{
		const char *col = strcmp(name, "@creationDate") == 0 ? "e.created_at" :
			strcmp(name, "@lastUpdateTime") == 0 ? "e.updated_at" :
			strcmp(name, "@state") == 0 ? "e.state COLLATE \"C\"" :
			strcmp(name, "@id") == 0 ? "e.id" : NULL;

		if (col == NULL)
			bad_sort_key(key, "unknown lifecycle field");
		appendStringInfo(out, "%s%s NULLS LAST, ", col, dir);
		return;
	}
	if (len == 0)
		bad_sort_key(key, "the path is empty");
	{
		Path		path = search_data_path(name, "sort key", cxt);

		if (path.n == 0)
			bad_sort_key(key, "the path is empty");
		v = cw_sq_path_value(q, "e.data", &path, 0, path.n);
	}
	appendStringInfo(out,
					 "(COALESCE(jsonb_typeof(%s), 'null') = 'null'), "
					 "(CASE jsonb_typeof(%s) WHEN 'number' THEN 0 WHEN 'string' THEN 1 "
					 "WHEN 'boolean' THEN 2 WHEN 'array' THEN 3 ELSE 4 END)%s, "
					 "(CASE WHEN jsonb_typeof(%s) = 'number' THEN (%s)::numeric END)%s, "
					 "(CASE WHEN jsonb_typeof(%s) = 'string' THEN %s #>> '{}' END) COLLATE \"C\"%s, "
					 "(CASE WHEN jsonb_typeof(%s) IN ('boolean', 'array', 'object') THEN %s END)%s, ",
					 v, v, dir, v, v, dir, v, v, dir, v, v, dir);
}

/*
 * Append ORDER BY (the sort keys, then created_at, id) and the page
 * (LIMIT / OFFSET) of a search: 22023 for more than 10 keys, a bad key or
 * a negative page size or number.
 */
static void
search_order(SqlQuery *q, ArrayType *sort, bool size_null, int32 page_size,
			 int32 page_number, MemoryContext cxt)
{
	if (!size_null && page_size < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_size must not be negative, not %d", page_size)));
	if (page_number < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_number must not be negative, not %d", page_number)));

	appendStringInfoString(&q->sql, " ORDER BY ");
	if (sort != NULL)
	{
		Datum	   *keys;
		bool	   *nulls;
		int			nkeys;

		deconstruct_array(sort, TEXTOID, -1, false, TYPALIGN_INT,
						  &keys, &nulls, &nkeys);
		if (nkeys > SEARCH_MAX_SORT_KEYS)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("too many sort keys: %d", nkeys),
					 errdetail("A search takes at most %d sort keys.", SEARCH_MAX_SORT_KEYS)));
		for (int i = 0; i < nkeys; i++)
		{
			if (nulls[i])
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sort key %d is NULL", i + 1)));
			sort_key_sql(q, &q->sql, TextDatumGetCString(keys[i]), cxt);
		}
	}
	appendStringInfoString(&q->sql, "e.created_at, e.id");
	if (!size_null)
		appendStringInfo(&q->sql, " LIMIT %s OFFSET %s",
						 cw_sq_param(q, INT8OID, Int64GetDatum((int64) page_size)),
						 cw_sq_param(q, INT8OID,
									 Int64GetDatum((int64) page_size * page_number)));
}

/*
 * Validate the arguments of search / search_sql (model, model_version,
 * condition, point_in_time, sort, page_size, page_number) and write the
 * query into q.  22023 for an invalid condition, sort key or page.
 */
static void
search_build(FunctionCallInfo fcinfo, SqlQuery *q, bool inline_params)
{
	Jsonb	   *cond = PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2);
	Datum		pit = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	MemoryContext tmp;
	CwCondition *c;

	memset(q, 0, sizeof(SqlQuery));
	initStringInfo(&q->sql);
	q->inline_params = inline_params;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("model must not be NULL")));

	c = search_compile(cond, &tmp);
	appendStringInfoString(&q->sql, "SELECT e.*");
	search_from(q, PG_GETARG_DATUM(0), PG_ARGISNULL(1), PG_GETARG_DATUM(1),
				PG_ARGISNULL(3) ? NULL : &pit, c);
	search_order(q, PG_ARGISNULL(4) ? NULL : PG_GETARG_ARRAYTYPE_P(4),
				 PG_ARGISNULL(5), PG_ARGISNULL(5) ? 0 : PG_GETARG_INT32(5),
				 PG_ARGISNULL(6) ? 0 : PG_GETARG_INT32(6), tmp);
	MemoryContextDelete(tmp);
}

/* Forget every saved plan (their memory too). */
static void
search_plans_reset(void)
{
	for (int i = 0; i < search_nplans; i++)
		SPI_freeplan(search_plans[i].plan);
	search_nplans = 0;
	if (search_plan_cxt != NULL)
		MemoryContextReset(search_plan_cxt);
}

/* Whether index indexid is a GIN index. */
static bool
index_is_gin(Oid indexid)
{
	HeapTuple	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(indexid));
	bool		gin;

	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", indexid);
	gin = ((Form_pg_class) GETSTRUCT(tup))->relam == GIN_AM_OID;
	ReleaseSysCache(tup);
	return gin;
}

/*
 * Walk a plan tree: count the scans through a GIN index (*gin) and the
 * sequential scans (*seq).
 */
static void
plan_scans(Plan *p, int *gin, int *seq)
{
	ListCell   *lc;
	List	   *kids = NIL;

	if (p == NULL)
		return;
	check_stack_depth();
	switch (nodeTag(p))
	{
		case T_SeqScan:
			(*seq)++;
			break;
		case T_IndexScan:
			*gin += index_is_gin(((IndexScan *) p)->indexid);
			break;
		case T_IndexOnlyScan:
			*gin += index_is_gin(((IndexOnlyScan *) p)->indexid);
			break;
		case T_BitmapIndexScan:
			*gin += index_is_gin(((BitmapIndexScan *) p)->indexid);
			break;
		case T_BitmapAnd:
			kids = ((BitmapAnd *) p)->bitmapplans;
			break;
		case T_BitmapOr:
			kids = ((BitmapOr *) p)->bitmapplans;
			break;
		case T_Append:
			kids = ((Append *) p)->appendplans;
			break;
		case T_MergeAppend:
			kids = ((MergeAppend *) p)->mergeplans;
			break;
		case T_SubqueryScan:
			plan_scans(((SubqueryScan *) p)->subplan, gin, seq);
			break;
		default:
			break;
	}
	foreach(lc, kids)
		plan_scans((Plan *) lfirst(lc), gin, seq);
	plan_scans(p->lefttree, gin, seq);
	plan_scans(p->righttree, gin, seq);
}

/*
 * Whether the generic plan of plan (values unknown) reads the entities
 * through the GIN data index and scans no table sequentially.  Then no
 * value can make a custom plan much better: the index is used for every
 * value, a custom plan would only trade it for a sequential scan on a very
 * common value.  A generic plan without the index (a range test, no
 * condition) is left to the plan cache, which plans such searches with
 * their values (their planning is small beside reading the rows).
 */
static bool
generic_plan_uses_index(SPIPlanPtr plan)
{
	CachedPlan *cplan = SPI_plan_get_cached_plan(plan);
	ListCell   *lc;
	int			gin = 0;
	int			seq = 0;

	if (cplan == NULL)
		return false;
	foreach(lc, cplan->stmt_list)
	{
		PlannedStmt *stmt = lfirst_node(PlannedStmt, lc);
		ListCell   *sc;

		plan_scans(stmt->planTree, &gin, &seq);
		foreach(sc, stmt->subplans)
			plan_scans((Plan *) lfirst(sc), &gin, &seq);
	}
	ReleaseCachedPlan(cplan, CurrentResourceOwner);
	return gin > 0 && seq == 0;
}

/*
 * The saved plan for q (inside SPI): from the cache, else prepared and
 * kept.  A new shape is prepared to run its generic plan when that plan
 * keeps the GIN index (generic_plan_uses_index): planned once per
 * session, the values bound at each run.  Otherwise it is prepared again
 * with the plan cache's usual choice (custom plans for each set of values
 * unless the generic plan costs no more).  plan_cache_mode, when not auto,
 * overrides both.  Parallel plans are allowed, as for a plain query.
 * The cache is emptied when model or workflow definitions change; DDL on
 * the tables invalidates the saved plans themselves (PostgreSQL replans).
 */
static SPIPlanPtr
search_plan(SqlQuery *q)
{
	SearchPlan *slot = NULL;
	SPIPlanPtr	plan;
	MemoryContext old;
	uint32		hash = hash_bytes((const unsigned char *) q->sql.data, q->sql.len);
	bool		generic;

	if (search_plans_gen != cw_definitions_generation())
	{
		search_plans_reset();
		search_plans_gen = cw_definitions_generation();
	}
	for (int i = 0; i < search_nplans; i++)
	{
		SearchPlan *sp = &search_plans[i];

		if (sp->hash == hash && sp->nargs == q->nparams &&
			strcmp(sp->sql, q->sql.data) == 0 &&
			memcmp(sp->types, q->types, q->nparams * sizeof(Oid)) == 0)
		{
			sp->last_used = ++search_clock;
			return sp->plan;
		}
	}

	plan = NULL;
	cw_kept_plan_opts(&plan, q->sql.data, q->nparams, q->types,
					  CURSOR_OPT_GENERIC_PLAN | CURSOR_OPT_PARALLEL_OK);
	generic = generic_plan_uses_index(plan);
	if (!generic)
	{
		SPI_freeplan(plan);
		plan = NULL;
		cw_kept_plan_opts(&plan, q->sql.data, q->nparams, q->types,
						  CURSOR_OPT_PARALLEL_OK);
	}

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
	slot->hash = hash;
	slot->nargs = q->nparams;
	slot->types = q->nparams ? palloc(q->nparams * sizeof(Oid)) : NULL;
	if (q->nparams)
		memcpy(slot->types, q->types, q->nparams * sizeof(Oid));
	MemoryContextSwitchTo(old);
	slot->plan = plan;
	slot->generic = generic;
	slot->last_used = ++search_clock;
	return plan;
}

/*
 * The rows of a search go straight from the executor into the function's
 * materialized result, the result's columns taken from the query's by name
 * (a column the query lacks is NULL).
 */
typedef struct SearchDest
{
	DestReceiver pub;
	Tuplestorestate *store;
	TupleDesc	rdesc;
	int		   *colmap;			/* result column -> query column (1-based), 0 */
	Datum	   *values;
	bool	   *nulls;
} SearchDest;

static void
search_dest_startup(DestReceiver *self, int operation, TupleDesc sdesc)
{
	SearchDest *d = (SearchDest *) self;

	for (int i = 0; i < d->rdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(d->rdesc, i);
		int			col;

		d->colmap[i] = 0;
		if (att->attisdropped)
			continue;
		col = SPI_fnumber(sdesc, NameStr(att->attname));
		if (col <= 0)
			continue;
		if (SPI_gettypeid(sdesc, col) != att->atttypid)
			elog(ERROR, "search: column \"%s\" has type %u, expected %u",
				 NameStr(att->attname), SPI_gettypeid(sdesc, col),
				 att->atttypid);
		d->colmap[i] = col;
	}
}

static bool
search_dest_receive(TupleTableSlot *slot, DestReceiver *self)
{
	SearchDest *d = (SearchDest *) self;

	slot_getallattrs(slot);
	for (int i = 0; i < d->rdesc->natts; i++)
	{
		int			col = d->colmap[i];

		d->values[i] = col ? slot->tts_values[col - 1] : (Datum) 0;
		d->nulls[i] = col ? slot->tts_isnull[col - 1] : true;
	}
	tuplestore_putvalues(d->store, d->rdesc, d->values, d->nulls);
	return true;
}

static void
search_dest_nothing(DestReceiver *self)
{
}

/*
 * Run the query q as the engine owner and put its rows into the
 * materialized result of fcinfo (set up by the caller).
 */
static void
search_run(FunctionCallInfo fcinfo, SqlQuery *q)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	CwSavedUser saved;
	SearchDest	dest;
	ParamListInfo params = makeParamList(q->nparams);

	for (int i = 0; i < q->nparams; i++)
	{
		params->params[i].value = q->values[i];
		params->params[i].isnull = false;
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].ptype = q->types[i];
	}
	memset(&dest, 0, sizeof(dest));
	dest.pub.receiveSlot = search_dest_receive;
	dest.pub.rStartup = search_dest_startup;
	dest.pub.rShutdown = search_dest_nothing;
	dest.pub.rDestroy = search_dest_nothing;
	dest.pub.mydest = DestNone;
	dest.store = rsinfo->setResult;
	dest.rdesc = rsinfo->setDesc;
	dest.colmap = palloc0(dest.rdesc->natts * sizeof(int));
	dest.values = palloc(dest.rdesc->natts * sizeof(Datum));
	dest.nulls = palloc(dest.rdesc->natts * sizeof(bool));

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		SPIExecuteOptions options;
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		memset(&options, 0, sizeof(options));
		options.params = params;
		options.read_only = true;
		options.dest = (DestReceiver *) &dest;
		rc = SPI_execute_plan_extended(search_plan(q), &options);
		if (rc < 0)				/* rows sent to dest: SPI_OK_UTILITY */
			elog(ERROR, "search query failed: %s", SPI_result_code_string(rc));
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
}

/*
 * cyoda_wf.search(model, model_version, condition, point_in_time, sort,
 * page_size, page_number) RETURNS SETOF cyoda_wf.entity: the entities of a
 * model version matching a Cyoda condition (all of them for NULL), now or
 * as of point_in_time, in the order of the sort keys then created_at, id,
 * one page of them when page_size is given.
 */
Datum
cyoda_wf_search_entities(PG_FUNCTION_ARGS)
{
	SqlQuery	q;

	cw_model_check_condition(PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0)),
							 PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1),
							 PG_ARGISNULL(2) ? NULL : PG_GETARG_JSONB_P(2));
	InitMaterializedSRF(fcinfo, 0);
	search_build(fcinfo, &q, false);
	search_run(fcinfo, &q);
	return (Datum) 0;
}

/*
 * cyoda_wf.stats_by(model, model_version, json_path, condition) RETURNS
 * TABLE(value jsonb, count bigint): the live entities of a model version
 * (those matching the condition, when given) counted by the value at a
 * data path ("$.color"; SQL NULL where absent), most frequent first, then
 * by value.  One query, like search's.
 */
Datum
cyoda_wf_stats_by(PG_FUNCTION_ARGS)
{
	SqlQuery	q;
	MemoryContext tmp;
	CwCondition *c;
	Path		path;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", PG_ARGISNULL(0) ? "model" : "json_path")));
	cw_model_check_condition(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							 PG_ARGISNULL(1) ? 0 : PG_GETARG_INT32(1),
							 PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3));
	memset(&q, 0, sizeof(SqlQuery));
	initStringInfo(&q.sql);
	c = search_compile(PG_ARGISNULL(3) ? NULL : PG_GETARG_JSONB_P(3), &tmp);
	path = search_data_path(TextDatumGetCString(PG_GETARG_DATUM(2)), "json_path", tmp);
	appendStringInfo(&q.sql, "SELECT s.v AS value, count(*) AS count FROM (SELECT %s AS v",
					 cw_sq_path_value(&q, "e.data", &path, 0, path.n));
	search_from(&q, PG_GETARG_DATUM(0), PG_ARGISNULL(1), PG_GETARG_DATUM(1), NULL, c);
	appendStringInfoString(&q.sql, ") s GROUP BY s.v ORDER BY count(*) DESC, s.v");
	MemoryContextDelete(tmp);
	search_run(fcinfo, &q);
	return (Datum) 0;
}

/*
 * cyoda_wf.search_sql(model, model_version, condition, point_in_time, sort,
 * page_size, page_number) RETURNS text: the query search() runs, its parameters written as quoted
 * literals, to read or EXPLAIN (a debugging aid).
 */
Datum
cyoda_wf_search_sql(PG_FUNCTION_ARGS)
{
	SqlQuery	q;

	search_build(fcinfo, &q, true);
	PG_RETURN_TEXT_P(cstring_to_text(q.sql.data));
}

/*
 * cyoda_wf.search_order(sort text[]) RETURNS text: the ORDER BY clause of a
 * search with these sort keys (then created_at, id) over rows named e, its
 * values written as literals; 22023 for keys search() refuses.  The cluster
 * router (cyoda_wf_router) orders the rows merged from its shards with it,
 * so that a search through the router orders exactly as one server.
 */
PG_FUNCTION_INFO_V1(cyoda_wf_search_order);

Datum
cyoda_wf_search_order(PG_FUNCTION_ARGS)
{
	SqlQuery	q;

	memset(&q, 0, sizeof(SqlQuery));
	initStringInfo(&q.sql);
	q.inline_params = true;
	search_order(&q, PG_ARGISNULL(0) ? NULL : PG_GETARG_ARRAYTYPE_P(0), true, 0, 0,
				 CurrentMemoryContext);
	PG_RETURN_TEXT_P(cstring_to_text(q.sql.data));
}

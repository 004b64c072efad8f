/*-------------------------------------------------------------------------
 * explain.c
 *		Why is an entity where it is: explain() and transitions().
 *
 * Both read the entity (as the engine owner, read-only) and evaluate, now,
 * the criterion of its workflow and of every transition leaving its state
 * against its current data and lifecycle facts (cw_engine_explain): function
 * criteria are called as the engine calls them, as the workflow's importer,
 * with the search_path restored afterwards.  transitions() keeps the rows
 * that fire would accept: not disabled, not scheduled, criterion matching.
 * Nothing is saved.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(cyoda_wf_explain);
PG_FUNCTION_INFO_V1(cyoda_wf_transitions);

/* columns of the entity query */
enum
{
	Q_MODEL, Q_MVERSION, Q_WORKFLOW, Q_STATE, Q_DATA, Q_LAST_TRANSITION,
	Q_CREATED_AT, Q_UPDATED_AT, Q_WF_CRITERION, Q_CRITERIA, Q_DUE, NQ
};

/* The entity, its criteria as defined, and when its armed timers are due. */
static const char *const explain_sql =
"SELECT e.model, e.model_version, e.workflow, e.state, e.data, e.last_transition, "
"e.created_at, e.updated_at, w.definition OPERATOR(pg_catalog.->) 'criterion', "
"(SELECT pg_catalog.jsonb_object_agg(t OPERATOR(pg_catalog.->>) 'name', "
"  COALESCE(t OPERATOR(pg_catalog.->) 'criterion', 'null'::pg_catalog.jsonb)) "
"  FROM pg_catalog.jsonb_array_elements(w.definition OPERATOR(pg_catalog.->) 'states' "
"  OPERATOR(pg_catalog.->) e.state OPERATOR(pg_catalog.->) 'transitions') t), "
"(SELECT pg_catalog.jsonb_object_agg(k.transition, k.due) FROM "
"  (SELECT q.transition, pg_catalog.min(q.run_at) AS due FROM cyoda_wf.task q "
"   WHERE q.entity_id OPERATOR(pg_catalog.=) e.id AND q.kind OPERATOR(pg_catalog.=) 'timer' "
"   AND q.state OPERATOR(pg_catalog.=) 'pending' AND q.from_state OPERATOR(pg_catalog.=) e.state "
"   GROUP BY q.transition) k) "
"FROM cyoda_wf.entity e LEFT JOIN cyoda_wf.workflow w "
"ON w.model OPERATOR(pg_catalog.=) e.model AND w.model_version OPERATOR(pg_catalog.=) e.model_version "
"AND w.name OPERATOR(pg_catalog.=) e.workflow "
"WHERE e.id OPERATOR(pg_catalog.=) $1";

static SPIPlanPtr explain_plan = NULL;

/*
 * Read entity `id` as the engine owner: values[] / nulls[] get the NQ
 * columns of explain_sql, copied into the caller's context.  P0002 when
 * there is no such entity.
 */
static void
cw_explain_read(Datum id, Datum *values, bool *isnull)
{
	MemoryContext cxt = CurrentMemoryContext;
	CwSavedUser saved;
	volatile bool found = false;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		Oid			types[1] = {UUIDOID};
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		rc = SPI_execute_plan(cw_kept_plan(&explain_plan, explain_sql, 1, types),
							  &id, NULL, true, 1);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		if (SPI_processed == 1)
		{
			TupleDesc	desc = SPI_tuptable->tupdesc;
			MemoryContext old = MemoryContextSwitchTo(cxt);

			found = true;
			for (int i = 0; i < NQ; i++)
			{
				Form_pg_attribute att = TupleDescAttr(desc, i);
				Datum		d = SPI_getbinval(SPI_tuptable->vals[0], desc, i + 1, &isnull[i]);

				values[i] = isnull[i] ? (Datum) 0 : datumCopy(d, att->attbyval, att->attlen);
			}
			MemoryContextSwitchTo(old);
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("entity %s not found", DatumGetCString(DirectFunctionCall1(uuid_out, id)))));
}

/* Member `key` of a jsonb object (SQL NULL obj or JSON null: NULL). */
static Jsonb *
cw_member(Datum obj, bool obj_null, const char *key)
{
	JsonbValue	v;

	if (obj_null || key == NULL ||
		cw_jb_key(&DatumGetJsonbP(obj)->root, key, &v) == NULL || v.type == jbvNull)
		return NULL;
	return JsonbValueToJsonb(&v);
}

/*
 * The entity's criteria evaluated now (cw_engine_explain): *nrows rows,
 * the workflow's criterion first.  values[] / isnull[] keep the entity
 * query's columns for the caller; *m gets the pinned model (unpin it).
 */
static CwExplainRow *
cw_explain_entity(Datum id, Datum *values, bool *isnull, CwModel **m, int *nrows)
{
	CwSave		s;
	CwExplainRow *volatile rows = NULL;

	cw_explain_read(id, values, isnull);
	memset(&s, 0, sizeof(s));
	s.model = cw_model_pin(TextDatumGetCString(values[Q_MODEL]), DatumGetInt32(values[Q_MVERSION]));
	strlcpy(s.id, DatumGetCString(DirectFunctionCall1(uuid_out, id)), sizeof(s.id));
	s.data = DatumGetJsonbP(values[Q_DATA]);
	s.role = GetUserNameFromId(GetUserId(), false);
	s.wf_name = isnull[Q_WORKFLOW] ? NULL : TextDatumGetCString(values[Q_WORKFLOW]);
	s.state_name = isnull[Q_STATE] ? NULL : TextDatumGetCString(values[Q_STATE]);
	s.prev_transition = isnull[Q_LAST_TRANSITION] ? NULL : TextDatumGetCString(values[Q_LAST_TRANSITION]);
	s.created_at = DatumGetTimestampTz(values[Q_CREATED_AT]);
	s.updated_at = DatumGetTimestampTz(values[Q_UPDATED_AT]);
	s.started_at = GetCurrentTimestamp();
	PG_TRY();
	{
		rows = cw_engine_explain(&s, nrows);
	}
	PG_CATCH();
	{
		cw_model_unpin(s.model);
		PG_RE_THROW();
	}
	PG_END_TRY();
	*m = s.model;
	return rows;
}

/* Whether fire would accept transition row r now. */
static inline bool
cw_fireable(const CwExplainRow *r)
{
	return r->t != NULL && !r->t->disabled && !r->t->has_schedule && r->matches;
}

#define EXPLAIN_COLS 14

/*
 * explain(id): one row for the workflow's criterion (transition NULL), then
 * one per transition leaving the entity's state, in the workflow's order:
 * workflow, state, transition, next_state, manual, disabled, scheduled,
 * due_at, async, criterion, matches, failing, found, fireable.
 */
Datum
cyoda_wf_explain(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		q[NQ];
	bool		qnull[NQ];
	CwModel    *m;
	CwExplainRow *rows;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	rows = cw_explain_entity(PG_GETARG_DATUM(0), q, qnull, &m, &n);
	for (int i = 0; i < n; i++)
	{
		CwExplainRow *r = &rows[i];
		CwTransition *t = r->t;
		Datum		values[EXPLAIN_COLS];
		bool		nulls[EXPLAIN_COLS];
		Jsonb	   *crit;
		Jsonb	   *due;

		memset(nulls, 0, sizeof(nulls));
		values[0] = q[Q_WORKFLOW];
		nulls[0] = qnull[Q_WORKFLOW];
		values[1] = q[Q_STATE];
		nulls[1] = qnull[Q_STATE];
		if (t == NULL)
		{
			for (int k = 2; k <= 8; k++)
				nulls[k] = true;
			nulls[13] = true;
			crit = qnull[Q_WF_CRITERION] ? NULL : DatumGetJsonbP(q[Q_WF_CRITERION]);
			if (crit != NULL && JB_ROOT_IS_SCALAR(crit))
				crit = NULL;	/* JSON null: none */
		}
		else
		{
			values[2] = CStringGetTextDatum(t->name);
			values[3] = CStringGetTextDatum(r->next_state);
			values[4] = BoolGetDatum(t->manual);
			values[5] = BoolGetDatum(t->disabled);
			values[6] = BoolGetDatum(t->has_schedule);
			due = t->has_schedule ? cw_member(q[Q_DUE], qnull[Q_DUE], t->name) : NULL;
			nulls[7] = due == NULL;
			if (due != NULL)
			{
				JsonbValue	dv;

				JsonbExtractScalar(&due->root, &dv);
				values[7] = DirectFunctionCall3(timestamptz_in,
												CStringGetDatum(cw_jb_text(&dv)),
												ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
			}
			values[8] = BoolGetDatum(t->is_async);
			values[13] = BoolGetDatum(cw_fireable(r));
			crit = cw_member(q[Q_CRITERIA], qnull[Q_CRITERIA], t->name);
		}
		values[9] = crit ? JsonbPGetDatum(crit) : (Datum) 0;
		nulls[9] = crit == NULL;
		values[10] = BoolGetDatum(r->matches);
		values[11] = r->failing ? JsonbPGetDatum(r->failing) : (Datum) 0;
		nulls[11] = r->failing == NULL;
		values[12] = r->found ? JsonbPGetDatum(r->found) : (Datum) 0;
		nulls[12] = r->found == NULL;
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	cw_model_unpin(m);
	return (Datum) 0;
}

/*
 * transitions(id): the transitions leaving the entity's state that fire
 * would accept now (manual or automatic; not disabled, not scheduled,
 * criterion matching), in the workflow's order: name, next_state, manual.
 */
Datum
cyoda_wf_transitions(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		q[NQ];
	bool		qnull[NQ];
	CwModel    *m;
	CwExplainRow *rows;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	if (PG_ARGISNULL(0))
		return (Datum) 0;
	rows = cw_explain_entity(PG_GETARG_DATUM(0), q, qnull, &m, &n);
	for (int i = 0; i < n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		if (!cw_fireable(&rows[i]))
			continue;
		values[0] = CStringGetTextDatum(rows[i].t->name);
		values[1] = CStringGetTextDatum(rows[i].next_state);
		values[2] = BoolGetDatum(rows[i].t->manual);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	cw_model_unpin(m);
	return (Datum) 0;
}

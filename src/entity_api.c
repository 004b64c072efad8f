/*-------------------------------------------------------------------------
 * entity_api.c
 *		The entity service: add_item, update_item, patch_item, fire,
 *		delete_item, delete_items, get_item, check_token; move_entity, the
 *		administrator's manual move (transitions and explain: explain.c).
 *
 * These functions are the permission boundary: EXECUTE on them is enough,
 * whatever the caller's rights on the tables, because they write as the
 * engine owner.  Each one is a single statement on cyoda_wf.entity, whose
 * trigger runs the engine; what plain SQL cannot say travels in a CwRequest.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/datum.h"
#include "utils/uuid.h"

#include "store.h"

PG_FUNCTION_INFO_V1(cyoda_wf_add_item);
PG_FUNCTION_INFO_V1(cyoda_wf_add_scheduled_item);
PG_FUNCTION_INFO_V1(cyoda_wf_update_item);
PG_FUNCTION_INFO_V1(cyoda_wf_patch_item);
PG_FUNCTION_INFO_V1(cyoda_wf_fire);
PG_FUNCTION_INFO_V1(cyoda_wf_move_entity);
PG_FUNCTION_INFO_V1(cyoda_wf_delete_item);
PG_FUNCTION_INFO_V1(cyoda_wf_delete_items);
PG_FUNCTION_INFO_V1(cyoda_wf_get_item);
PG_FUNCTION_INFO_V1(cyoda_wf_check_token);

enum
{
	PLAN_INSERT, PLAN_UPDATE, PLAN_DELETE, PLAN_GET, PLAN_GET_AT, PLAN_PRUNED,
	PLAN_LOCK, PLAN_GET_TX, NPLANS
};
static SPIPlanPtr plans[NPLANS];

static SPIPlanPtr
cw_plan(int which)
{
	static const char *const sql[NPLANS] = {
		"INSERT INTO cyoda_wf.entity (model, model_version, data) VALUES ($1, $2, $3) RETURNING id",
		NULL,					/* PLAN_UPDATE: cw_store_update_entity */
		"DELETE FROM cyoda_wf.entity WHERE id OPERATOR(pg_catalog.=) $1",
		"SELECT data FROM cyoda_wf.entity WHERE id OPERATOR(pg_catalog.=) $1",
		"SELECT data FROM cyoda_wf.entity_version WHERE entity_id OPERATOR(pg_catalog.=) $1 "
		"AND changed_at OPERATOR(pg_catalog.<=) $2 ORDER BY version DESC LIMIT 1",
		/* history kept from a later version than 1 on: the time asked was pruned */
		"SELECT pg_catalog.min(version) OPERATOR(pg_catalog.>) 1 FROM cyoda_wf.entity_version "
		"WHERE entity_id OPERATOR(pg_catalog.=) $1 AND changed_at OPERATOR(pg_catalog.>) $2",
		/* patch_item: the row locked as an UPDATE locks it, before the merge */
		"SELECT data FROM cyoda_wf.entity WHERE id OPERATOR(pg_catalog.=) $1 "
		"FOR NO KEY UPDATE",
		/* the last save of the entity by a transaction (up to a time); DELETE has no data */
		"SELECT data FROM cyoda_wf.entity_version WHERE entity_id OPERATOR(pg_catalog.=) $1 "
		"AND transaction_id OPERATOR(pg_catalog.=) $2 "
		"AND ($3 IS NULL OR changed_at OPERATOR(pg_catalog.<=) $3) ORDER BY version DESC LIMIT 1",
	};
	static const int nargs[NPLANS] = {3, 0, 1, 1, 2, 2, 1, 3};
	static Oid	types[NPLANS][3] = {
		{TEXTOID, INT4OID, JSONBOID}, {0}, {UUIDOID}, {UUIDOID},
		{UUIDOID, TIMESTAMPTZOID}, {UUIDOID, TIMESTAMPTZOID},
		{UUIDOID}, {UUIDOID, INT8OID, TIMESTAMPTZOID}
	};

	return cw_kept_plan(&plans[which], sql[which], nargs[which], types[which]);
}

/*
 * Run one saved plan (PLAN_UPDATE: the entity update of store_update.c) as
 * the engine owner, with `req` handed to the trigger.  Returns the rows done; *first (if given) gets column 1 of the first row,
 * copied into the caller's context.
 */
static uint64
cw_run(int which, Datum *args, const char *nulls, CwRequest *req, Datum *first,
	   bool *first_null, Oid first_type)
{
	CwSavedUser saved;
	volatile uint64 n = 0;

	if (req != NULL)
		req->role = GetUserNameFromId(GetUserId(), false);
	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		int			rc;
		bool		readonly = (req == NULL && which != PLAN_LOCK);
		char	   *state = NULL;

		if (which == PLAN_UPDATE)
		{
			n = cw_store_update_entity(args[0], nulls[1] == 'n', args[1], req, &state);
			if (first != NULL)
			{
				*first_null = (state == NULL);
				if (state != NULL)
					*first = CStringGetTextDatum(state);
			}
		}
		else
		{
			if (SPI_connect() != SPI_OK_CONNECT)
				elog(ERROR, "SPI_connect failed");
			cw_store_set_request(req);
			rc = SPI_execute_plan(cw_plan(which), args, nulls, readonly, readonly ? 1 : 0);
			cw_store_set_request(NULL);
			if (rc < 0)
				elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
			n = SPI_processed;
			if (first != NULL)
			{
				*first_null = true;
				if (n > 0)
				{
					int16		typlen;
					bool		typbyval;
					Datum		d = SPI_getbinval(SPI_tuptable->vals[0],
												  SPI_tuptable->tupdesc, 1, first_null);

					get_typlenbyval(first_type, &typlen, &typbyval);
					if (!*first_null)
						*first = SPI_datumTransfer(d, typbyval, typlen);
				}
			}
			SPI_finish();
		}
	}
	PG_FINALLY();
	{
		cw_store_set_request(NULL);
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	return n;
}

static void
cw_not_found(Datum id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("entity %s not found", DatumGetCString(DirectFunctionCall1(uuid_out, id)))));
}

static Datum cw_add(FunctionCallInfo fcinfo, int source);

/* add_item(model, model_version, data) -> id: create an entity, run its workflow. */
Datum
cyoda_wf_add_item(PG_FUNCTION_ARGS)
{
	return cw_add(fcinfo, 0);
}

/* add_scheduled_item(model, model_version, data) -> id: what a pg_cron tick runs. */
Datum
cyoda_wf_add_scheduled_item(PG_FUNCTION_ARGS)
{
	return cw_add(fcinfo, CW_SOURCE_SCHEDULED);
}

static Datum
cw_add(FunctionCallInfo fcinfo, int source)
{
	CwRequest	req;
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	Datum		id = (Datum) 0;
	bool		isnull;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("model must not be NULL")));
	memset(&req, 0, sizeof(req));
	req.kind = CW_REQ_INSERT;
	req.source = source;
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_ARGISNULL(1) ? Int32GetDatum(1) : PG_GETARG_DATUM(1);
	args[2] = PG_ARGISNULL(2) ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")) : PG_GETARG_DATUM(2);
	cw_run(PLAN_INSERT, args, nulls, &req, &id, &isnull, UUIDOID);
	PG_RETURN_DATUM(id);
}

/* An entity whose save is running (its own process) cannot be saved anew: 55000. */
static void
cw_check_not_saving(Datum id)
{
	char	   *idtext = DatumGetCString(DirectFunctionCall1(uuid_out, id));

	if (cw_engine_saving(idtext) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("entity %s is being saved and cannot be updated from its own process", idtext),
				 errhint("A process changes its own entity by returning the new data.")));
}

static Datum
cw_update(FunctionCallInfo fcinfo, Datum id, bool data_null, Datum data,
		  const char *transition, bool has_if_match, int64 if_match, bool patch)
{
	CwRequest	req;
	Datum		args[2];
	char		nulls[2] = {' ', ' '};
	Datum		state = (Datum) 0;
	bool		isnull;

	cw_check_not_saving(id);
	memset(&req, 0, sizeof(req));
	req.kind = CW_REQ_UPDATE;
	memcpy(&req.id, DatumGetUUIDP(id), sizeof(pg_uuid_t));
	req.transition = transition;
	req.has_if_match = has_if_match;
	req.if_match = if_match;
	req.patch = patch;
	args[0] = id;
	args[1] = data;
	nulls[1] = data_null ? 'n' : ' ';
	if (cw_run(PLAN_UPDATE, args, nulls, &req, &state, &isnull, TEXTOID) == 0)
		cw_not_found(id);
	return state;
}

/* update_item(id, data, transition, if_match) -> state reached. */
Datum
cyoda_wf_update_item(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("entity id must not be NULL")));
	PG_RETURN_DATUM(cw_update(fcinfo, PG_GETARG_DATUM(0),
							  PG_ARGISNULL(1), PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1),
							  PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
							  !PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3), false));
}

/*
 * patch_item(id, patch, transition, if_match) -> state reached: the stored
 * data merged with an RFC 7386 merge patch, saved as update_item saves.
 * The row is locked before it is read, so a concurrent save cannot slip in
 * between the read and the save (under READ COMMITTED the merge sees the
 * latest committed data).
 */
Datum
cyoda_wf_patch_item(PG_FUNCTION_ARGS)
{
	Datum		id;
	Jsonb	   *patch;
	Datum		stored = (Datum) 0;
	bool		isnull = true;
	Jsonb	   *merged;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("entity id and patch must not be NULL")));
	id = PG_GETARG_DATUM(0);
	patch = PG_GETARG_JSONB_P(1);
	if (!JB_ROOT_IS_OBJECT(patch))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a merge patch must be a JSON object, not %s", cw_jb_kind(patch)),
				 errdetail("Entity data is always an object, and so is what patches it."),
				 errhint("Pass an object such as {\"key\": \"new value\"}; null deletes a key.")));
	cw_check_not_saving(id);
	if (cw_run(PLAN_LOCK, &id, NULL, NULL, &stored, &isnull, JSONBOID) == 0)
		cw_not_found(id);
	merged = cw_jb_merge_patch(isnull ? NULL : DatumGetJsonbP(stored), patch);

	/* a registered model checks the merged data strictly (never extends) */
	PG_RETURN_DATUM(cw_update(fcinfo, id, false, JsonbPGetDatum(merged),
							  PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2)),
							  !PG_ARGISNULL(3), PG_ARGISNULL(3) ? 0 : PG_GETARG_INT64(3), true));
}

/* fire(id, transition) -> state reached. */
Datum
cyoda_wf_fire(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("entity id and transition must not be NULL")));
	PG_RETURN_DATUM(cw_update(fcinfo, PG_GETARG_DATUM(0), true, (Datum) 0,
							  text_to_cstring(PG_GETARG_TEXT_PP(1)), false, 0, false));
}

/*
 * move_entity(id, state, reason, workflow) -> state: put an entity in a
 * state of its workflow (or of `workflow`), running nothing; a save of its
 * own (version row, STATE_MOVED audit row), the row locked as fire locks it.
 */
Datum
cyoda_wf_move_entity(PG_FUNCTION_ARGS)
{
	CwRequest	req;
	Datum		args[2];
	char		nulls[2] = {' ', 'n'};
	Datum		state = (Datum) 0;
	bool		isnull;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("entity id, state and reason must not be NULL"),
				 errhint("Give the reason for the move: it is kept in the audit row.")));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = (Datum) 0;
	cw_check_not_saving(args[0]);
	memset(&req, 0, sizeof(req));
	req.kind = CW_REQ_MOVE;
	memcpy(&req.id, DatumGetUUIDP(args[0]), sizeof(pg_uuid_t));
	req.move_state = text_to_cstring(PG_GETARG_TEXT_PP(1));
	req.move_reason = text_to_cstring(PG_GETARG_TEXT_PP(2));
	req.move_workflow = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	if (cw_run(PLAN_UPDATE, args, nulls, &req, &state, &isnull, TEXTOID) == 0)
		cw_not_found(args[0]);
	PG_RETURN_DATUM(state);
}

/* delete_item(id) -> whether the entity existed. */
Datum
cyoda_wf_delete_item(PG_FUNCTION_ARGS)
{
	CwRequest	req;
	Datum		args[1];

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	memset(&req, 0, sizeof(req));
	req.kind = CW_REQ_DELETE;
	memcpy(&req.id, PG_GETARG_UUID_P(0), sizeof(pg_uuid_t));
	args[0] = PG_GETARG_DATUM(0);
	PG_RETURN_BOOL(cw_run(PLAN_DELETE, args, NULL, &req, NULL, NULL, InvalidOid) > 0);
}

/*
 * The ids cyoda_wf.search(model, model_version, condition, point_in_time)
 * finds (its condition translation, run as the engine owner), in the
 * caller's memory context; *n gets how many.
 */
static pg_uuid_t *
cw_search_ids(Datum *args, const char *nulls, uint64 *n)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[4] = {TEXTOID, INT4OID, JSONBOID, TIMESTAMPTZOID};
	MemoryContext cxt = CurrentMemoryContext;
	CwSavedUser saved;
	pg_uuid_t  *volatile ids = NULL;
	volatile uint64 count = 0;

	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		int			rc;

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cw_kept_plan(&plan, "SELECT id FROM cyoda_wf.search($1, $2, $3, $4)", 4, types);
		rc = SPI_execute_plan(plan, args, nulls, true, 0);
		if (rc != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		count = SPI_processed;
		ids = MemoryContextAlloc(cxt, sizeof(pg_uuid_t) * (count > 0 ? count : 1));
		for (uint64 i = 0; i < count; i++)
		{
			bool		isnull;
			Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

			memcpy(&ids[i], DatumGetUUIDP(d), sizeof(pg_uuid_t));
		}
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	*n = count;
	return ids;
}

/*
 * delete_items(model, model_version, condition, point_in_time) -> how many
 * were deleted: the live entities search finds (with point_in_time: those
 * that existed and matched then), each deleted as delete_item deletes it
 * (recorded as a DELETE, no workflow runs).  A NULL condition matches all.
 */
Datum
cyoda_wf_delete_items(PG_FUNCTION_ARGS)
{
	Datum		args[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	pg_uuid_t  *ids;
	uint64		n,
				deleted = 0;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("model must not be NULL")));
	args[0] = PG_GETARG_DATUM(0);
	args[1] = PG_ARGISNULL(1) ? Int32GetDatum(1) : PG_GETARG_DATUM(1);
	args[2] = PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2);
	nulls[2] = PG_ARGISNULL(2) ? 'n' : ' ';
	args[3] = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	nulls[3] = PG_ARGISNULL(3) ? 'n' : ' ';
	ids = cw_search_ids(args, nulls, &n);
	for (uint64 i = 0; i < n; i++)
	{
		CwRequest	req;
		Datum		id = UUIDPGetDatum(&ids[i]);

		CHECK_FOR_INTERRUPTS();
		memset(&req, 0, sizeof(req));
		req.kind = CW_REQ_DELETE;
		memcpy(&req.id, &ids[i], sizeof(pg_uuid_t));
		deleted += cw_run(PLAN_DELETE, &id, NULL, &req, NULL, NULL, InvalidOid);
	}
	PG_RETURN_INT64((int64) deleted);
}

/*
 * get_item(id, point_in_time, transaction_id) -> the entity's data: now, as
 * of point_in_time, or as transaction_id's last save of it (made up to
 * point_in_time when both are given) left it.
 */
static Datum
cw_get_item(FunctionCallInfo fcinfo)
{
	Datum		args[3];
	char		nulls[3] = {' ', ' ', ' '};
	Datum		data = (Datum) 0;
	bool		isnull = true;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("entity id must not be NULL")));
	args[0] = PG_GETARG_DATUM(0);
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
	{
		char	   *idtext = DatumGetCString(DirectFunctionCall1(uuid_out, args[0]));
		int64		xid = PG_GETARG_INT64(2);

		args[1] = PG_GETARG_DATUM(2);
		args[2] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
		nulls[2] = PG_ARGISNULL(1) ? 'n' : ' ';
		if (cw_run(PLAN_GET_TX, args, nulls, NULL, &data, &isnull, JSONBOID) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("entity %s was not saved by transaction " INT64_FORMAT "%s", idtext, xid,
							PG_ARGISNULL(1) ? "" : " by that time"),
					 errhint("cyoda_wf.changes() lists the transactions that saved an entity.")));
		if (isnull)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("entity %s was deleted by transaction " INT64_FORMAT, idtext, xid)));
	}
	else if (PG_ARGISNULL(1))
		cw_run(PLAN_GET, args, NULL, NULL, &data, &isnull, JSONBOID);
	else
	{
		args[1] = PG_GETARG_DATUM(1);
		cw_run(PLAN_GET_AT, args, NULL, NULL, &data, &isnull, JSONBOID);
		if (isnull)
		{
			Datum		pruned = (Datum) 0;
			bool		pruned_null = true;
			char	   *idtext = DatumGetCString(DirectFunctionCall1(uuid_out, args[0]));
			char	   *attext = DatumGetCString(DirectFunctionCall1(timestamptz_out, args[1]));

			cw_run(PLAN_PRUNED, args, NULL, NULL, &pruned, &pruned_null, BOOLOID);
			if (!pruned_null && DatumGetBool(pruned))
				ereport(ERROR,
						(errcode(ERRCODE_NO_DATA_FOUND),
						 errmsg("history of entity %s at %s has been pruned", idtext, attext),
						 errhint("cyoda_wf.set_retention() bounds how much history prune_history() keeps.")));
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("entity %s did not exist at %s", idtext, attext)));
		}
	}
	if (isnull)
		cw_not_found(args[0]);
	PG_RETURN_DATUM(data);
}

/* get_item(id, point_in_time, transaction_id) -> the entity's data. */
Datum
cyoda_wf_get_item(PG_FUNCTION_ARGS)
{
	return cw_get_item(fcinfo);
}

/* check_token(token) -> entity id of the running process that holds it. */
Datum
cyoda_wf_check_token(PG_FUNCTION_ARGS)
{
	char	   *token = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	CwSave	   *s = cw_engine_find_token(token);

	if (s == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("token \"%s\" does not belong to a running process", token),
				 errhint("Pass meta[\"token\"] of the process that is running now.")));
	PG_RETURN_DATUM(DirectFunctionCall1(uuid_in, CStringGetDatum(s->id)));
}

/*-------------------------------------------------------------------------
 * connections.c
 *		The entity writes of create_connection and drop_connection, and the
 *		entry point of ingest.
 *
 * The entities of the reserved model "connection" (reserved.c) mirror the
 * connections of data ingestion and are written only by the connection
 * functions: write_connection_entity() allows its one write
 * (cw_reserved_allow_write) and makes it through the entity API.
 * write_connection_entity() works only for the extension owner, i.e. inside
 * the SECURITY DEFINER create_connection / drop_connection; nothing grants
 * it to anyone.
 *
 * ingest is not SECURITY DEFINER: it notes the calling role, fetches as the
 * extension owner (who alone may read the connections' secrets) and adds
 * the raw data entity as the caller, so changed_by and the audit name the
 * role that called ingest.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "connections.h"
#include "reserved.h"

PG_FUNCTION_INFO_V1(cyoda_wf_write_connection_entity);
PG_FUNCTION_INFO_V1(cyoda_wf_ingest);

/* entity_api.c */
extern PGDLLEXPORT Datum cyoda_wf_add_item(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum cyoda_wf_update_item(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum cyoda_wf_delete_item(PG_FUNCTION_ARGS);

/*
 * write_connection_entity(op, id, data) -> entity id: the writes of
 * create_connection and drop_connection on their entity, through add_item
 * ('create'), update_item ('replace') and delete_item ('delete'; NULL when
 * there was no such entity).  Only for the extension owner (or a
 * superuser): the connection functions run as the owner.
 */
Datum
cyoda_wf_write_connection_entity(PG_FUNCTION_ARGS)
{
	char	   *op = PG_ARGISNULL(0) ? "" : text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			user = GetUserId();
	CwRequestKind kind;
	Datum		result = (Datum) 0;
	bool		isnull = false;

	if (user != cw_engine_owner() && !superuser_arg(user))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied to write connection entities"),
				 errdetail("Only cyoda_wf.create_connection and cyoda_wf.drop_connection write them, "
						   "as the extension owner."),
				 errhint("Call cyoda_wf.create_connection(name, definition) or cyoda_wf.drop_connection(name).")));
	if (strcmp(op, "create") == 0)
		kind = CW_REQ_INSERT;
	else if (strcmp(op, "replace") == 0)
		kind = CW_REQ_UPDATE;
	else if (strcmp(op, "delete") == 0)
		kind = CW_REQ_DELETE;
	else
		elog(ERROR, "write_connection_entity: unknown operation \"%s\"", op);
	if ((kind != CW_REQ_INSERT && PG_ARGISNULL(1)) || (kind != CW_REQ_DELETE && PG_ARGISNULL(2)))
		elog(ERROR, "write_connection_entity: \"%s\" needs %s", op,
			 kind == CW_REQ_INSERT ? "data" : kind == CW_REQ_DELETE ? "an id" : "an id and data");

	cw_reserved_allow_write(kind, kind != CW_REQ_INSERT ? PG_GETARG_UUID_P(1) : NULL);
	PG_TRY();
	{
		if (kind == CW_REQ_INSERT)
			result = DirectFunctionCall3(cyoda_wf_add_item, CStringGetTextDatum(CW_CONNECTION_MODEL),
										 Int32GetDatum(CW_CONNECTION_MODEL_VERSION),
										 PG_GETARG_DATUM(2));
		else if (kind == CW_REQ_UPDATE)
		{
			LOCAL_FCINFO(upd, 4);

			InitFunctionCallInfoData(*upd, NULL, 4, InvalidOid, NULL, NULL);
			upd->args[0].value = PG_GETARG_DATUM(1);
			upd->args[0].isnull = false;
			upd->args[1].value = PG_GETARG_DATUM(2);
			upd->args[1].isnull = false;
			upd->args[2].isnull = true;	/* no transition: a loopback save */
			upd->args[3].isnull = true;
			(void) cyoda_wf_update_item(upd);
			result = PG_GETARG_DATUM(1);
		}
		else
		{
			isnull = !DatumGetBool(DirectFunctionCall1(cyoda_wf_delete_item, PG_GETARG_DATUM(1)));
			result = PG_GETARG_DATUM(1);
		}
	}
	PG_FINALLY();
	{
		cw_reserved_end_write();
	}
	PG_END_TRY();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * ingest(connection, params, raw_model, meta) -> id of the raw data entity.
 * The fetch (cyoda_wf_internal.ingest_fetch: the connection's definition and secrets,
 * the request, the parsed and scrubbed document) runs as the extension
 * owner; the entity is added as the caller, who need not have EXECUTE on
 * add_item: EXECUTE on ingest is the permission.
 */
Datum
cyoda_wf_ingest(PG_FUNCTION_ARGS)
{
	static SPIPlanPtr plan = NULL;
	CwSavedUser saved;
	Datum		args[4];
	char		nulls[4];
	/* set inside PG_TRY, read after it */
	volatile Datum model = (Datum) 0;
	volatile Datum data = (Datum) 0;
	volatile bool model_null = true;
	volatile bool data_null = true;

	for (int i = 0; i < 4; i++)
	{
		args[i] = PG_ARGISNULL(i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = PG_ARGISNULL(i) ? 'n' : ' ';
	}
	cw_become_engine_owner(&saved);
	PG_TRY();
	{
		int			rc;
		bool		mnull;
		bool		dnull;
		Datum		m;
		Datum		d;
		Oid			types[4] = {TEXTOID, JSONBOID, TEXTOID, JSONBOID};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		cw_kept_plan(&plan,
					 "SELECT f.model, f.data FROM cyoda_wf_internal.ingest_fetch($1, $2, $3, $4) AS f",
					 4, types);
		rc = SPI_execute_plan(plan, args, nulls, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
		m = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &mnull);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &dnull);
		model = mnull ? (Datum) 0 : SPI_datumTransfer(m, false, -1);
		data = dnull ? (Datum) 0 : SPI_datumTransfer(d, false, -1);
		model_null = mnull;
		data_null = dnull;
		SPI_finish();
	}
	PG_FINALLY();
	{
		cw_restore_user(&saved);
	}
	PG_END_TRY();
	if (model_null || data_null)
		elog(ERROR, "cyoda_wf_internal.ingest_fetch returned no model or data");

	/*
	 * As the caller: changed_by and the audit role are the caller's (inside a
	 * process, the role the process runs as).  Raw data entities are model
	 * version 1 (RAW_MODEL_VERSION of data_ingestion/definitions.py).
	 */
	return DirectFunctionCall3(cyoda_wf_add_item, model, Int32GetDatum(1), data);
}

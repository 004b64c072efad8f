/*-------------------------------------------------------------------------
 * connections.c
 *		Reserved models, the entity writes of create_connection and
 *		drop_connection, and the entry point of ingest.
 *
 * A reserved model is one the extension keeps for itself: "connection",
 * whose entities mirror the connections of data ingestion.  No workflow is
 * imported for it, and its entities are written only by the connection
 * functions: the row trigger on cyoda_wf.entity asks
 * cw_reserved_check_write() about every save of a reserved model, and lets
 * through the one write that write_connection_entity() arms for itself (or
 * plain SQL a superuser runs as itself, such as a restore).
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

PG_FUNCTION_INFO_V1(cyoda_wf_write_connection_entity);
PG_FUNCTION_INFO_V1(cyoda_wf_ingest);

/* entity_api.c */
extern PGDLLEXPORT Datum cyoda_wf_add_item(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum cyoda_wf_update_item(PG_FUNCTION_ARGS);
extern PGDLLEXPORT Datum cyoda_wf_delete_item(PG_FUNCTION_ARGS);

/* The models the extension keeps for itself: the one list. */
typedef struct CwReservedModel
{
	const char *name;
	const char *detail;			/* what it holds, who writes it */
	const char *hint;			/* how to write it */
} CwReservedModel;

static const CwReservedModel reserved_models[] = {
	{CW_CONNECTION_MODEL,
		"Model \"" CW_CONNECTION_MODEL "\" holds the connections of data ingestion: only "
		"cyoda_wf.create_connection and cyoda_wf.drop_connection write its entities, "
		"and it always runs the default workflow.",
	"Create or replace a connection with cyoda_wf.create_connection(name, definition), "
	"remove it with cyoda_wf.drop_connection(name)."},
};

/* The reserved model named (len bytes), or NULL. */
static const CwReservedModel *
reserved_lookup(const char *name, int len)
{
	for (int i = 0; i < lengthof(reserved_models); i++)
		if (strlen(reserved_models[i].name) == len &&
			memcmp(reserved_models[i].name, name, len) == 0)
			return &reserved_models[i];
	return NULL;
}

/* Whether model is one the extension keeps for itself. */
bool
cw_reserved_model(const char *model)
{
	return reserved_lookup(model, strlen(model)) != NULL;
}

/* import_workflows / import_design: 42501 for a reserved model. */
void
cw_reserved_refuse_import(const char *model)
{
	const CwReservedModel *r = model ? reserved_lookup(model, strlen(model)) : NULL;

	if (r != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("model \"%s\" is reserved: no workflow can be imported for it", r->name),
				 errdetail("%s", r->detail),
				 errhint("Import the workflow under another model name.")));
}

/*
 * The one write write_connection_entity() lets through: its kind and, for
 * an update or delete, the entity.  Taken by the first save that matches.
 */
static struct
{
	bool		armed;
	CwRequestKind kind;
	pg_uuid_t	id;
} allowed;

/*
 * The entity trigger, for every row it saves: a row of a reserved model
 * passes only as the write armed by write_connection_entity(), or as plain
 * SQL (api false) a superuser runs as itself: not inside a SECURITY DEFINER
 * function, a process or the engine's own switch to the extension owner
 * (all of them a local user id change).  Anything else is 42501.
 */
void
cw_reserved_check_write(Datum model, CwRequestKind kind, Datum id, bool api)
{
	text	   *t = DatumGetTextPP(model);
	const CwReservedModel *r = reserved_lookup(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));

	if (r == NULL)
		return;
	if (api && allowed.armed && allowed.kind == kind &&
		(kind == CW_REQ_INSERT || memcmp(&allowed.id, DatumGetUUIDP(id), sizeof(pg_uuid_t)) == 0))
	{
		allowed.armed = false;
		return;
	}
	if (!api && superuser() && !InLocalUserIdChange())
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("cannot %s an entity of reserved model \"%s\"",
					kind == CW_REQ_INSERT ? "create" : kind == CW_REQ_DELETE ? "delete" : "update",
					r->name),
			 errdetail("%s", r->detail),
			 errhint("%s", r->hint)));
}

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

	allowed.armed = true;
	allowed.kind = kind;
	if (kind != CW_REQ_INSERT)
		memcpy(&allowed.id, PG_GETARG_UUID_P(1), sizeof(pg_uuid_t));
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
		allowed.armed = false;
	}
	PG_END_TRY();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

/*
 * ingest(connection, params, raw_model, meta) -> id of the raw data entity.
 * The fetch (cyoda_wf.ingest_fetch: the connection's definition and secrets,
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
					 "SELECT f.model, f.data FROM cyoda_wf.ingest_fetch($1, $2, $3, $4) AS f",
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
		elog(ERROR, "cyoda_wf.ingest_fetch returned no model or data");

	/*
	 * As the caller: changed_by and the audit role are the caller's (inside a
	 * process, the role the process runs as).  Raw data entities are model
	 * version 1 (RAW_MODEL_VERSION of data_ingestion/definitions.py).
	 */
	return DirectFunctionCall3(cyoda_wf_add_item, model, Int32GetDatum(1), data);
}

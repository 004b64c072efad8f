/*-------------------------------------------------------------------------
 * reserved.c
 *		Reserved models: the models the extension keeps for itself.
 *
 * Today one: "connection", whose entities mirror the connections of data
 * ingestion (connections.c).  No workflow is imported for a reserved model,
 * and its entities are written only by the functions that own it: the row
 * trigger on cyoda_wf.entity asks cw_reserved_check_write() about every
 * save of a reserved model, and lets through the one write the owning
 * function armed with cw_reserved_allow_write() (or plain SQL a superuser
 * runs as itself, such as a restore).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"

#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

#include "connections.h"
#include "reserved.h"

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
 * The one write cw_reserved_allow_write() lets through: its kind and, for
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
 * passes only as the write armed by cw_reserved_allow_write(), or as plain
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
 * Let the next save of a reserved model of this kind (and, for an update or
 * a delete, of entity id) through; write_connection_entity() arms it around
 * its one entity API call and ends it with cw_reserved_end_write().
 */
void
cw_reserved_allow_write(CwRequestKind kind, const pg_uuid_t *id)
{
	allowed.armed = true;
	allowed.kind = kind;
	if (id != NULL)
		memcpy(&allowed.id, id, sizeof(pg_uuid_t));
}

/* The armed write is over, made or not. */
void
cw_reserved_end_write(void)
{
	allowed.armed = false;
}

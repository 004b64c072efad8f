/*-------------------------------------------------------------------------
 * shard.c
 *		This database's shard number and the time-ordered entity ids that
 *		carry it.
 *
 * An entity id made by cyoda_wf.new_id() has the UUID version 7 layout:
 *
 *	 bytes 0-5	Unix time in milliseconds, big-endian (48 bits)
 *	 byte  6	high nibble 7 (the version), low nibble shard bits 11-8
 *	 byte  7	shard bits 7-0
 *	 byte  8	variant 10 in the two high bits, 6 random bits
 *	 bytes 9-15 random
 *
 * so ids sort by creation time on every server (the primary key's B-tree is
 * written at its right edge) and shard_of() reads the shard back without a
 * lookup.  Within one backend the millisecond never goes backwards, even if
 * the clock does.
 *
 * The shard number lives in the one-row table cyoda_wf.shard_config, which
 * pg_dump keeps (a restored shard mints its own ids again without a call).
 * It is read once per backend and forgotten when a relcache invalidation
 * names the table: set_shard() and a statement trigger on the table send
 * one, so a hand-made change is seen too.  A database that never called
 * set_shard() is shard 0 and accepts any explicit id; once set, an INSERT
 * whose id belongs to another shard (or is not such an id) is refused.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "shard.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "port/pg_bswap.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#define CW_SHARD_MAX 4095

/* The cached shard number; valid until the config table is invalidated. */
static bool shard_known = false;
static bool shard_set = false;	/* set_shard() was called in this database */
static int	shard_number = 0;
static Oid	shard_relid = InvalidOid;

/* Last millisecond handed out by this backend. */
static uint64 last_ms = 0;

/* Relcache callback: forget the shard when its table (or everything) changes. */
static void
cw_shard_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == shard_relid)
	{
		shard_known = false;
		shard_relid = InvalidOid;
	}
}

/* Register the relcache callback; called once from _PG_init. */
void
cw_shard_init(void)
{
	CacheRegisterRelcacheCallback(cw_shard_relcache_callback, (Datum) 0);
}

/* Read the config table (a database without it is an unset shard 0). */
static void
cw_shard_load(void)
{
	Oid			nsp;
	Oid			relid;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	bool		found = false;
	int			number = 0;

	nsp = get_namespace_oid(CW_SCHEMA, true);
	relid = OidIsValid(nsp) ? get_relname_relid("shard_config", nsp) : InvalidOid;
	if (OidIsValid(relid))
	{
		Snapshot	snap;

		rel = table_open(relid, AccessShareLock);
		snap = RegisterSnapshot(GetLatestSnapshot());
		scan = table_beginscan(rel, snap, 0, NULL);
		tup = heap_getnext(scan, ForwardScanDirection);
		if (tup != NULL)
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, 2, RelationGetDescr(rel), &isnull);

			if (!isnull)
			{
				number = DatumGetInt32(d);
				found = true;
			}
		}
		table_endscan(scan);
		UnregisterSnapshot(snap);
		table_close(rel, AccessShareLock);
	}
	shard_relid = relid;
	shard_set = found;
	shard_number = found ? number : 0;
	shard_known = true;
}

/* This database's shard number (0 when never set). */
int
cw_shard(void)
{
	if (!shard_known)
		cw_shard_load();
	return shard_number;
}

/* Whether the shard number was set in this database. */
bool
cw_shard_is_set(void)
{
	if (!shard_known)
		cw_shard_load();
	return shard_set;
}

/* Fill *id with a new time-ordered id of this database's shard. */
void
cw_shard_new_id(pg_uuid_t *id)
{
	TimestampTz now = GetCurrentTimestamp();
	uint64		ms;
	int			shard = cw_shard();

	/* Unix milliseconds; never behind the last id this backend made */
	ms = (uint64) ((now / 1000) +
				   ((int64) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * SECS_PER_DAY * 1000));
	if (ms < last_ms)
		ms = last_ms;
	last_ms = ms;

	if (!pg_strong_random(id->data + 8, UUID_LEN - 8))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate random values for an entity id")));
	id->data[0] = (unsigned char) (ms >> 40);
	id->data[1] = (unsigned char) (ms >> 32);
	id->data[2] = (unsigned char) (ms >> 24);
	id->data[3] = (unsigned char) (ms >> 16);
	id->data[4] = (unsigned char) (ms >> 8);
	id->data[5] = (unsigned char) ms;
	id->data[6] = (unsigned char) (0x70 | ((shard >> 8) & 0x0F));
	id->data[7] = (unsigned char) (shard & 0xFF);
	id->data[8] = (unsigned char) (0x80 | (id->data[8] & 0x3F));
}

/* The shard an id belongs to, or -1 when it is not a version 7 id. */
int
cw_shard_of(const pg_uuid_t *id)
{
	if ((id->data[6] & 0xF0) != 0x70 || (id->data[8] & 0xC0) != 0x80)
		return -1;
	return ((id->data[6] & 0x0F) << 8) | id->data[7];
}

/* Text form of an id for messages. */
static char *
cw_uuid_text(const pg_uuid_t *id)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((pg_uuid_t *) id)));
}

/* Refuse an entity id that does not belong here (sharded databases only). */
void
cw_shard_check_id(const pg_uuid_t *id)
{
	int			own;
	int			of;

	if (!cw_shard_is_set())
		return;
	own = cw_shard();
	of = cw_shard_of(id);
	if (of == own)
		return;
	if (of < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("entity id %s is not an id of shard %d", cw_uuid_text(id), own),
				 errdetail("This database is shard %d; its entity ids are made by cyoda_wf.new_id() and carry the shard number.",
						   own),
				 errhint("Leave the id to its default, or make it with cyoda_wf.new_id().")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("entity id %s belongs to shard %d, not to this database (shard %d)",
					cw_uuid_text(id), of, own),
			 errhint("Create the entity on shard %d, or leave the id to its default.", of)));
}

PG_FUNCTION_INFO_V1(cyoda_wf_new_id);

/* new_id() -> a time-ordered id of this database's shard. */
Datum
cyoda_wf_new_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = palloc(sizeof(pg_uuid_t));

	cw_shard_new_id(id);
	PG_RETURN_UUID_P(id);
}

PG_FUNCTION_INFO_V1(cyoda_wf_shard);

/* shard() -> this database's shard number (0 when never set). */
Datum
cyoda_wf_shard(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(cw_shard());
}

PG_FUNCTION_INFO_V1(cyoda_wf_shard_of);

/* shard_of(id) -> the shard the id belongs to; 22023 for other uuids. */
Datum
cyoda_wf_shard_of(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *id = PG_GETARG_UUID_P(0);
	int			of = cw_shard_of(id);

	if (of < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("uuid %s is not a cyoda_wf entity id", cw_uuid_text(id)),
				 errdetail("Entity ids made by cyoda_wf.new_id() have the UUID version 7 layout with a shard number."),
				 errhint("Entities created before 0.2.0 keep random ids, which belong to no shard.")));
	PG_RETURN_INT32(of);
}

PG_FUNCTION_INFO_V1(cyoda_wf_shard_for);

/*
 * shard_for(id) -> the shard a call on this entity goes to: shard_of(id),
 * or 0 for a uuid of another layout (ids made before 0.2.0 live on the
 * database upgraded from 0.1.0, shard 0).  The router's routing function.
 */
Datum
cyoda_wf_shard_for(PG_FUNCTION_ARGS)
{
	int			of = cw_shard_of(PG_GETARG_UUID_P(0));

	PG_RETURN_INT32(of < 0 ? 0 : of);
}

PG_FUNCTION_INFO_V1(cyoda_wf_set_shard);

/*
 * set_shard(shard) -> shard: record this database's shard number.  Refused
 * (55000) when entities exist and the number would change: their ids carry
 * the old one.
 */
Datum
cyoda_wf_set_shard(PG_FUNCTION_ARGS)
{
	int32		shard;
	int			ret;
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shard number must not be NULL")));
	shard = PG_GETARG_INT32(0);
	if (shard < 0 || shard > CW_SHARD_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("shard number %d is out of range", shard),
				 errdetail("A shard number is between 0 and %d.", CW_SHARD_MAX)));

	SPI_connect();
	/* lock out concurrent saves and set_shard calls while deciding */
	SPI_execute("LOCK TABLE cyoda_wf.shard_config, cyoda_wf.entity IN SHARE ROW EXCLUSIVE MODE",
				false, 0);
	ret = SPI_execute("SELECT shard FROM cyoda_wf.shard_config", true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "could not read cyoda_wf.shard_config");
	if (SPI_processed == 0 ||
		DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
									&(bool) {false})) != shard)
	{
		int64		entities;

		ret = SPI_execute("SELECT count(*) FROM cyoda_wf.entity", true, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "could not count entities");
		entities = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1,
											   &(bool) {false}));
		if (entities > 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot set the shard number of a database that holds entities"),
					 errdetail_plural("This database holds " INT64_FORMAT " entity; its id carries shard %d.",
									  "This database holds " INT64_FORMAT " entities; their ids carry shard %d.",
									  entities, entities, cw_shard()),
					 errhint("Set the shard number on an empty database, before its first entity.")));
		values[0] = Int32GetDatum(shard);
		ret = SPI_execute_with_args("INSERT INTO cyoda_wf.shard_config(only_row, shard) VALUES (true, $1) "
									"ON CONFLICT (only_row) DO UPDATE SET shard = EXCLUDED.shard",
									1, argtypes, values, NULL, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "could not write cyoda_wf.shard_config");
	}
	SPI_finish();
	PG_RETURN_INT32(shard);
}

PG_FUNCTION_INFO_V1(cyoda_wf_shard_config_changed);

/* Statement trigger on shard_config: every backend forgets the cached number. */
Datum
cyoda_wf_shard_config_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("%s must be called as a trigger", "cyoda_wf.shard_config_changed")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));
	return PointerGetDatum(NULL);
}

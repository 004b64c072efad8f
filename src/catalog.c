/*-------------------------------------------------------------------------
 * catalog.c
 *		Lookups in the extension's own catalog, shared by every module.
 *
 * The OIDs of our tables are looked up once per backend and forgotten when
 * a relcache invalidation names any of them (or all relations): all of them
 * together, so an error or an invalidation midway never leaves a mix.  A
 * change to the definition tables (model, workflow) also advances the
 * definitions generation, which the model cache compares with its own.
 *
 * The engine writes its tables as the role that owns them (the engine
 * owner): cw_become_engine_owner() switches to it keeping the caller's
 * security context flags, cw_restore_user() switches back (call it on
 * every path, typically in PG_FINALLY).
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/dependency.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"

/* OIDs of our tables, looked up once; reset when any of them changes. */
static Oid	rel_model = InvalidOid;
static Oid	rel_workflow = InvalidOid;
static Oid	rel_entity = InvalidOid;
static Oid	rel_version = InvalidOid;
static Oid	rel_audit = InvalidOid;
static Oid	seq_audit = InvalidOid;
static Oid	rel_task = InvalidOid;

/* Advanced by every change to the definition tables. */
static uint64 definitions_gen = 0;

/* Relcache callback: forget our OIDs; count definition changes. */
static void
cw_catalog_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == rel_workflow || relid == rel_model)
		definitions_gen++;
	if (relid == InvalidOid || relid == rel_model || relid == rel_workflow ||
		relid == rel_entity || relid == rel_version || relid == rel_audit ||
		relid == seq_audit || relid == rel_task)
	{
		rel_model = rel_workflow = rel_entity = InvalidOid;
		rel_version = rel_audit = seq_audit = rel_task = InvalidOid;
	}
}

/* Register the relcache callback; called once from _PG_init. */
void
cw_catalog_init(void)
{
	CacheRegisterRelcacheCallback(cw_catalog_relcache_callback, (Datum) 0);
}

/* A counter that changes whenever model or workflow definitions may have. */
uint64
cw_definitions_generation(void)
{
	return definitions_gen;
}

/* OID of table cyoda_wf.<relname>. */
Oid
cw_relid(const char *relname)
{
	Oid			nsp = get_namespace_oid(CW_SCHEMA, false);
	Oid			relid = get_relname_relid(relname, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation %s.%s does not exist", CW_SCHEMA, relname),
				 errhint("Is the cyoda_wf extension installed in this database?")));
	return relid;
}

/* Look up every table OID at once, unless they are known. */
static void
cw_lookup_rels(void)
{
	if (!OidIsValid(rel_entity))
	{
		/* all or nothing: an error or an invalidation midway leaves them unset */
		Oid			m = cw_relid("model");
		Oid			w = cw_relid("workflow");
		Oid			v = cw_relid("entity_version");
		Oid			a = cw_relid("audit_log");
		Oid			seq = getIdentitySequence(a, get_attnum(a, "id"), false);
		Oid			t = cw_relid("task");
		Oid			e = cw_relid("entity");

		rel_model = m;
		rel_task = t;
		rel_workflow = w;
		rel_version = v;
		rel_audit = a;
		seq_audit = seq;
		rel_entity = e;
	}
}

/* OIDs of cyoda_wf.entity, entity_version, audit_log and its id sequence. */
Oid
cw_entity_relid(void)
{
	cw_lookup_rels();
	return rel_entity;
}

/* OID of cyoda_wf.entity_version. */
Oid
cw_version_relid(void)
{
	cw_lookup_rels();
	return rel_version;
}

/*
 * Whether the table OIDs are known: looked up, and no invalidation of any
 * of those tables (a DROP EXTENSION drops them all) has arrived since.
 */
bool
cw_catalog_rels_known(void)
{
	return OidIsValid(rel_entity);
}

/*
 * The error of a row lock that met a concurrent update or delete (res) under
 * REPEATABLE READ or SERIALIZABLE, as the executor raises it (40001); under
 * READ COMMITTED it returns.
 */
void
cw_lock_conflict(TM_Result res)
{
	if (IsolationUsesXactSnapshot() && (res == TM_Updated || res == TM_Deleted))
		ereport(ERROR,
				(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
				 errmsg("could not serialize access due to concurrent %s",
						res == TM_Updated ? "update" : "delete")));
}

/* OID of cyoda_wf.task. */
Oid
cw_task_relid(void)
{
	cw_lookup_rels();
	return rel_task;
}

/* OID of cyoda_wf.workflow. */
Oid
cw_workflow_relid(void)
{
	cw_lookup_rels();
	return rel_workflow;
}

/* OID of cyoda_wf.audit_log (cyoda_wf.audit is a view over it). */
Oid
cw_audit_relid(void)
{
	cw_lookup_rels();
	return rel_audit;
}

/* OID of the sequence behind cyoda_wf.audit_log.id. */
Oid
cw_audit_seqid(void)
{
	cw_lookup_rels();
	return seq_audit;
}

/* The role that owns the extension's tables: the engine writes as it. */
Oid
cw_engine_owner(void)
{
	HeapTuple	tup;
	Oid			owner;

	cw_lookup_rels();
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(rel_entity));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "cache lookup failed for relation %u", rel_entity);
	owner = ((Form_pg_class) GETSTRUCT(tup))->relowner;
	ReleaseSysCache(tup);
	return owner;
}

/*
 * OID of function schema.name(jsonb, jsonb), or InvalidOid.  Looked up in
 * the catalog directly: no search_path, no privilege check on the schema.
 */
Oid
cw_function_lookup(const char *schema, const char *name)
{
	Oid			argtypes[2] = {JSONBOID, JSONBOID};
	Oid			nsp = get_namespace_oid(schema, true);

	if (!OidIsValid(nsp))
		return InvalidOid;
	return GetSysCacheOid3(PROCNAMEARGSNSP, Anum_pg_proc_oid,
						   CStringGetDatum(name),
						   PointerGetDatum(buildoidvector(argtypes, 2)),
						   ObjectIdGetDatum(nsp));
}

/*
 * Act as the engine owner, keeping the caller's security context flags
 * (a security-restricted operation stays one); *saved receives what
 * cw_restore_user() puts back.
 */
void
cw_become_engine_owner(CwSavedUser *saved)
{
	Oid			owner = cw_engine_owner();

	GetUserIdAndSecContext(&saved->userid, &saved->sec);
	SetUserIdAndSecContext(owner, saved->sec | SECURITY_LOCAL_USERID_CHANGE);
}

/* Undo cw_become_engine_owner(). */
void
cw_restore_user(const CwSavedUser *saved)
{
	SetUserIdAndSecContext(saved->userid, saved->sec);
}

/*
 * The plan of sql kept for the life of the backend in *slot, prepared at
 * the first call (inside an SPI connection).
 */
SPIPlanPtr
cw_kept_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	return cw_kept_plan_opts(slot, sql, nargs, argtypes, 0);
}

/*
 * cw_kept_plan() with SPI_prepare_cursor's cursor_options
 * (CURSOR_OPT_GENERIC_PLAN, CURSOR_OPT_PARALLEL_OK, ...).
 */
SPIPlanPtr
cw_kept_plan_opts(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes,
				  int cursor_options)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
				 SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*slot = plan;
	}
	return *slot;
}

/* Attribute numbers of the columns `names` of rel, by name. */
void
cw_map_columns(Relation rel, const char *const *names, int n, int *attnum)
{
	for (int i = 0; i < n; i++)
	{
		attnum[i] = SPI_fnumber(RelationGetDescr(rel), names[i]);
		if (attnum[i] <= 0)
			elog(ERROR, "column \"%s\" missing from %s.%s", names[i],
				 CW_SCHEMA, RelationGetRelationName(rel));
	}
}

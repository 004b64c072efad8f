/*-------------------------------------------------------------------------
 * cyoda_wf.c
 *		Module entry point: settings, caches, callbacks, workers.
 *-------------------------------------------------------------------------
 */
#include "cyoda_wf.h"
#include "catalog.h"
#include "shard.h"
#include "model.h"

#include <limits.h>

#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static const struct config_enum_entry notify_payload_options[] = {
	{"full", CW_NOTIFY_PAYLOAD_FULL, false},
	{"id", CW_NOTIFY_PAYLOAD_ID, false},
	{NULL, 0, false}
};

/* Called when the library is loaded (at server start when preloaded). */
void
_PG_init(void)
{
	/* server-start settings exist only when the library is preloaded */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("cyoda_wf.workers",
								"Background workers started per database when cyoda_wf is preloaded.",
								NULL, &cw_workers, 2, 0, 64,
								PGC_POSTMASTER, 0, NULL, NULL, NULL);
		DefineCustomStringVariable("cyoda_wf.database_name",
								   "Database(s), comma-separated, served by the static workers.",
								   NULL, &cw_database_name, "postgres",
								   PGC_POSTMASTER, 0, NULL, NULL, NULL);
	}
	DefineCustomIntVariable("cyoda_wf.worker_idle_ms",
							"Longest sleep of an idle worker; new work wakes workers at once.",
							NULL, &cw_worker_idle_ms, 5000, 10, 3600000,
							PGC_SIGHUP, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("cyoda_wf.retry_attempts",
							"Attempts of an async process with retryPolicy FIXED.",
							NULL, &cw_retry_attempts, 3, 1, 100,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("cyoda_wf.retry_delay_ms",
							"Delay between attempts of an async process with retryPolicy FIXED.",
							NULL, &cw_retry_delay_ms, 1000, 0, 86400000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("cyoda_wf.min_self_loop_delay",
							"Least delay of a scheduled transition that leads back to its own state.",
							"Applies to a timer whose transition returns to the state it leaves, directly or through automatic and scheduled transitions.",
							&cw_min_self_loop_delay, 1000, 0, 86400000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
	DefineCustomIntVariable("cyoda_wf.task_retention",
							"How long finished tasks (done, cancelled, expired) are kept; -1 keeps them.",
							"The workers delete older ones in small batches; prune_tasks() does it by hand.",
							&cw_task_retention, 7 * 86400, -1, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomBoolVariable("cyoda_wf.notify",
							 "Send a NOTIFY cyoda_wf for every committed save.",
							 "Notifying transactions commit one at a time; turn this off where nobody listens.",
							 &cw_notify, true,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("cyoda_wf.notify_payload",
							 "What the NOTIFY of a save tells: full (id, model, state, version, changeType, transition, modelVersion) or id (id and changeType).",
							 "Any role that can connect may LISTEN; a superuser chooses, e.g. per database with ALTER DATABASE ... SET.",
							 &cw_notify_payload, CW_NOTIFY_PAYLOAD_FULL,
							 notify_payload_options,
							 PGC_SUSET, 0, NULL, NULL, NULL);
	cw_model_init();
	MarkGUCPrefixReserved("cyoda_wf");

	cw_catalog_init();
	cw_shard_init();
	cw_cache_init();
	cw_dispatch_init();
	cw_store_init();
	cw_schedules_init();
	cw_workers_init();
}

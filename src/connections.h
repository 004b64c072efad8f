/*-------------------------------------------------------------------------
 * connections.h
 *		Reserved models and the connections of data ingestion (connections.c).
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_CONNECTIONS_H
#define CYODA_WF_CONNECTIONS_H

#include "store.h"

/* The model whose entities are the connections (create_connection). */
#define CW_CONNECTION_MODEL "connection"
#define CW_CONNECTION_MODEL_VERSION 1

extern void cw_reserved_refuse_import(const char *model);
extern bool cw_reserved_model(const char *model);
extern void cw_reserved_check_write(Datum model, CwRequestKind kind, Datum id, bool api);

#endif

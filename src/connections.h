/*-------------------------------------------------------------------------
 * connections.h
 *		The connections of data ingestion (connections.c).
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_CONNECTIONS_H
#define CYODA_WF_CONNECTIONS_H

#include "store.h"

/* The model whose entities are the connections (create_connection). */
#define CW_CONNECTION_MODEL "connection"
#define CW_CONNECTION_MODEL_VERSION 1

#endif

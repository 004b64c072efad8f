/*-------------------------------------------------------------------------
 * reserved.h
 *		Reserved models (reserved.c): checked by the entity trigger and the
 *		importers, written only by the functions that own them.
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_RESERVED_H
#define CYODA_WF_RESERVED_H

#include "store.h"
#include "utils/uuid.h"

extern bool cw_reserved_model(const char *model);
extern void cw_reserved_refuse_import(const char *model);
extern void cw_reserved_check_write(Datum model, CwRequestKind kind, Datum id, bool api);
extern void cw_reserved_allow_write(CwRequestKind kind, const pg_uuid_t *id);
extern void cw_reserved_end_write(void);

#endif

/*-------------------------------------------------------------------------
 * shard.h
 *		This database's shard number and the entity ids that carry it
 *		(shard.c).
 *-------------------------------------------------------------------------
 */
#ifndef CW_SHARD_H
#define CW_SHARD_H

#include "utils/uuid.h"

extern void cw_shard_init(void);
extern int	cw_shard(void);
extern bool cw_shard_is_set(void);
extern void cw_shard_new_id(pg_uuid_t *id);
extern int	cw_shard_of(const pg_uuid_t *id);
extern void cw_shard_check_id(const pg_uuid_t *id);

#endif							/* CW_SHARD_H */

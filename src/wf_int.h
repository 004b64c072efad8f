/*-------------------------------------------------------------------------
 * wf_int.h
 *		Private declarations shared by the wf_*.c files.
 *
 * wf_compile.c  one workflow definition validated, compiled, normalized
 * wf_import.c   bodies of definitions imported (validated, then stored as
 *               the extension owner) and exported
 *-------------------------------------------------------------------------
 */
#ifndef CYODA_WF_WF_INT_H
#define CYODA_WF_WF_INT_H

/* wf_compile.c */
extern const char *cw_find_duplicate(const char **names, int n);

#endif							/* CYODA_WF_WF_INT_H */

/* fts-sift-delete.h: a deleted mailbox's index goes with it
   (fts-sift-delete.c). */
#ifndef FTS_SIFT_DELETE_H
#define FTS_SIFT_DELETE_H

struct module;

void fts_sift_delete_hooks_add(struct module *module);
void fts_sift_delete_hooks_remove(void);

#endif

/* fts-sift-walk.h: a SEARCH visits only the messages the index left
   (fts-sift-walk.c). */
#ifndef FTS_SIFT_WALK_H
#define FTS_SIFT_WALK_H

#include "fts-api-private.h"
#include "sift-query.h"

struct module;

/* A lookup of box answered args (the level the fts plugin handed over,
   with flags): remember its candidates for the search being run with
   these args, if it is the search's top level (result NULL: the lookup
   failed, forget what an earlier one said).  last_uid: the index's
   last indexed UID at the lookup; every UID above it stays a
   candidate. */
void fts_sift_walk_lookup_done(struct mailbox *box,
			       const struct mail_search_arg *args,
			       enum fts_lookup_flags flags,
			       const struct fts_result *result,
			       uint32_t last_uid,
			       const ARRAY_TYPE(sift_leaf_certain) *certain);

/* Is args a level of a search of box whose walk sets the results of the
   leaves a lookup is certain of (certain of fts_sift_walk_lookup_done(),
   struct sift_leaf_certain)?  Not for virtual mailboxes (lookup_multi)
   and searches the walk doesn't know. */
bool fts_sift_walk_wants_certain(struct mailbox *box,
				 const struct mail_search_arg *args);

/* args is a level below the top of a search of box whose top level
   the index narrowed (fts_sift_walk_lookup_done()): the top level's
   candidates, outside which no message matches whatever args' level
   says.  NULL otherwise (a top level, an unknown or unnarrowed
   search). */
const ARRAY_TYPE(seq_range) *
fts_sift_walk_scope(struct mailbox *box, const struct mail_search_arg *args);

void fts_sift_walk_hooks_add(struct module *module);
void fts_sift_walk_hooks_remove(void);

#endif

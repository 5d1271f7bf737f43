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
   struct sift_leaf_certain)?  Not for searches the walk doesn't know;
   for virtual mailboxes see fts_sift_walk_wants_certain_multi(). */
bool fts_sift_walk_wants_certain(struct mailbox *box,
				 const struct mail_search_arg *args);

/* The same for lookup_multi, which is handed a virtual mailbox's
   backend mailboxes and a level of the virtual search's arguments but
   not the virtual mailbox: is args the top of, or a sub-list of, the
   arguments of exactly one running search of a virtual mailbox? */
bool fts_sift_walk_wants_certain_multi(const struct mail_search_arg *args);

/* lookup_multi looked up level args in backend_box, one of the virtual
   mailbox's backend mailboxes: certain holds the leaves it was certain
   of in UIDs of backend_box (NULL: none, e.g. no read right).  The walk
   of the virtual search that args belongs to (as above) maps them to
   its UIDs as the fts plugin maps the lookup's result
   (get_virtual_uids()) and sets them per message, together with the
   other backend mailboxes' of the level (the fts plugin looks each
   backend mailbox up once per level and search; one looked up again
   starts anew: the level's earlier answers are forgotten).
   backend_box NULL with certain NULL: the lookup failed, forget every
   mailbox's certain leaves of this level. */
void fts_sift_walk_lookup_multi_done(struct mailbox *backend_box,
				     const struct mail_search_arg *args,
				     const ARRAY_TYPE(sift_leaf_certain) *certain);

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

/* sift-query: answer one level of Dovecot's search arguments from the
   index (see sift-query.c). */
#ifndef SIFT_QUERY_H
#define SIFT_QUERY_H

#include "seq-range-array.h"

struct sift_fts_backend;
struct mailbox;
struct mail_search_arg;
struct fts_result;
enum fts_lookup_flags;

/* scope: NULL, or the only UIDs whose answer can matter for this level
   (fts_sift_walk_scope()): its date leaves read the dates of those only. */
int sift_query_lookup(struct sift_fts_backend *backend, struct mailbox *box,
		      struct mail_search_arg *args,
		      enum fts_lookup_flags flags,
		      const ARRAY_TYPE(seq_range) *scope,
		      struct fts_result *result);

/* Set match_always on exactly the leaves of this level that
   sift_query_lookup() answers, without opening any index: the level's
   result is then "false" for them.  Used for a mailbox whose index must
   not be read (no read right), and in lookup_multi, where every
   mailbox's lookup must mark the same leaves (Dovecot panics otherwise:
   "incompatible fts backends"). */
void sift_query_mark_answerable(struct sift_fts_backend *backend,
				struct mail_search_arg *args);

#endif

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

/* What a lookup knows of one leaf of a level for messages it left
   "maybe" as a whole: for the UIDs in uids, arg's result (its NOT
   applied) is certainly result.  Dovecot's fts plugin takes a lookup's
   answer per level, so for such a message it evaluates every leaf of the
   level itself, and a leaf it can't evaluate as the index does (text
   decoded from an attachment) came out wrong: BODY "<phrase of the
   text>" BODY <word only in its PDF> missed the message.  The search
   walk sets these leaves' results (fts-sift-walk.c). */
struct sift_leaf_certain {
	struct mail_search_arg *arg;
	bool result;
	ARRAY_TYPE(seq_range) uids;
};
ARRAY_DEFINE_TYPE(sift_leaf_certain, struct sift_leaf_certain);

/* scope: NULL, or the only UIDs whose answer can matter for this level
   (fts_sift_walk_scope()): its date leaves read the dates of those only.
   certain: NULL, or an array (of pool) that gets the level's certain
   leaves (struct sift_leaf_certain; nothing when the lookup failed). */
int sift_query_lookup(struct sift_fts_backend *backend, struct mailbox *box,
		      struct mail_search_arg *args,
		      enum fts_lookup_flags flags,
		      const ARRAY_TYPE(seq_range) *scope,
		      struct fts_result *result, pool_t pool,
		      ARRAY_TYPE(sift_leaf_certain) *certain);

/* Set match_always on exactly the leaves of this level that
   sift_query_lookup() answers, without opening any index: the level's
   result is then "false" for them.  Used for a mailbox whose index must
   not be read (no read right), and in lookup_multi, where every
   mailbox's lookup must mark the same leaves (Dovecot panics otherwise:
   "incompatible fts backends"). */
void sift_query_mark_answerable(struct sift_fts_backend *backend,
				struct mail_search_arg *args);

#endif

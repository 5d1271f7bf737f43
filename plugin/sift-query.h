/* sift-query: answer one level of Dovecot's search arguments from the
   index (see sift-query.c). */
#ifndef SIFT_QUERY_H
#define SIFT_QUERY_H

struct sift_fts_backend;
struct mailbox;
struct mail_search_arg;
struct fts_result;
enum fts_lookup_flags;

int sift_query_lookup(struct sift_fts_backend *backend, struct mailbox *box,
		      struct mail_search_arg *args,
		      enum fts_lookup_flags flags, struct fts_result *result);

#endif

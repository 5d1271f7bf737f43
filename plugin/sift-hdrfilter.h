/* sift-hdrfilter: which headers Dovecot's fts plugin hands to the backend,
   under the fts_header_includes and fts_header_excludes settings (Dovecot
   2.3.18+, applied by the fts core itself in fts-build-mail.c, to the
   headers of the message and of every MIME part).

   The index can only be exact about headers it was given, so fts-sift
   mirrors the core's decision: a search on a header the core leaves out
   is left to Dovecot, TEXT lets Dovecot check the messages that have such
   a header, and an index built under another selection is rebuilt (its
   id() is kept in the index's metadata).

   The decision is the core's, rule for rule (2.3.19 is_header_indexable()
   and load_header_filter()): each setting is split at spaces and
   lowercased; an entry may end in '*' (a prefix); an entry starting with
   '*' ends its list, and in the excludes means "every header"; a header
   is indexed if an include matches it, else if no exclude does.  The
   lists are sorted (strcmp) and searched with bsearch() and the core's
   comparison, which matters: a prefix entry next to entries it is a
   prefix of can be missed by the binary search, and then the core
   misses it too.

   Plain C (no Dovecot types), so it is unit-tested on its own. */
#ifndef SIFT_HDRFILTER_H
#define SIFT_HDRFILTER_H

#include <stdbool.h>

struct sift_hdrfilter;

/* includes/excludes: the settings' values (NULL or "" = unset).  Returns
   NULL only when out of memory. */
struct sift_hdrfilter *sift_hdrfilter_new(const char *includes,
					  const char *excludes);
void sift_hdrfilter_free(struct sift_hdrfilter **filter);

/* Does the fts core index this header (of the message or of a part)? */
bool sift_hdrfilter_wants(const struct sift_hdrfilter *filter,
			  const char *name);
/* Can any header name at all be left out? */
bool sift_hdrfilter_excludes_any(const struct sift_hdrfilter *filter);
/* The selection as a string that is equal for equal selections
   ("" when nothing is left out), for the index's metadata. */
const char *sift_hdrfilter_id(const struct sift_hdrfilter *filter);

#endif

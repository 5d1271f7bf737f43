/* sift-uids: UIDs in the forms the index keeps them: sorted arrays
   (struct sift_uids from the Xapian wrapper, and the side files' tables
   of per-message records sorted by UID) and the text form "1-5,7" of a
   UID range list (metadata sift.expunged, the expunge queue).  The one
   binary search over sorted UIDs is here; everything that looks a UID up
   in a sorted table calls it. */
#ifndef SIFT_UIDS_H
#define SIFT_UIDS_H

#include "seq-range-array.h"
#include "sift-xapian.h"

/* Find uid in count records of record_size bytes each, sorted by the
   uint32_t at uid_offset of each record, ascending and unique.  Returns
   TRUE and *idx_r (if not NULL) = its index, or FALSE. */
bool sift_uid_search(const void *records, size_t count, size_t record_size,
		     size_t uid_offset, uint32_t uid, size_t *idx_r);

/* Does the sorted set hold uid? */
static inline bool
sift_uids_contain(const struct sift_uids *set, uint32_t uid)
{
	return sift_uid_search(set->uids, set->count, sizeof(uint32_t), 0,
			       uid, NULL);
}

/* Parse "1-5,7" into ranges (added to what it holds; "" is the empty
   list).  Returns 0, or -1
   if text is not such a list (UIDs are never 0; a range never goes
   down); ranges may then hold the items before the bad one. */
int sift_uid_ranges_parse(const char *text, ARRAY_TYPE(seq_range) *ranges);
/* The text form of ranges ("" for none), on the data stack. */
const char *sift_uid_ranges_str(const ARRAY_TYPE(seq_range) *ranges);

#endif

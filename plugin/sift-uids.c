/* sift-uids.c: sorted UIDs and UID range lists (see sift-uids.h). */
#include "lib.h"
#include "array.h"
#include "str.h"
#include "strnum.h"
#include "sift-uids.h"

bool sift_uid_search(const void *records, size_t count, size_t record_size,
		     size_t uid_offset, uint32_t uid, size_t *idx_r)
{
	const unsigned char *base = records;
	size_t lo = 0, hi = count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint32_t mid_uid;

		/* (memcpy: any record layout; it compiles to one load) */
		memcpy(&mid_uid, base + mid * record_size + uid_offset,
		       sizeof(mid_uid));
		if (mid_uid < uid)
			lo = mid + 1;
		else if (mid_uid > uid)
			hi = mid;
		else {
			if (idx_r != NULL)
				*idx_r = mid;
			return TRUE;
		}
	}
	return FALSE;
}

int sift_uid_ranges_parse(const char *text, ARRAY_TYPE(seq_range) *ranges)
{
	const char *const *items = t_strsplit(text, ",");
	uint32_t uid1, uid2;

	for (; *items != NULL; items++) {
		const char *dash = strchr(*items, '-');

		if (dash == NULL) {
			if (str_to_uint32(*items, &uid1) < 0 || uid1 == 0)
				return -1;
			uid2 = uid1;
		} else if (str_to_uint32(t_strdup_until(*items, dash),
					 &uid1) < 0 ||
			   str_to_uint32(dash + 1, &uid2) < 0 ||
			   uid1 == 0 || uid2 < uid1) {
			return -1;
		}
		seq_range_array_add_range(ranges, uid1, uid2);
	}
	return 0;
}

const char *sift_uid_ranges_str(const ARRAY_TYPE(seq_range) *ranges)
{
	string_t *str = t_str_new(128);
	const struct seq_range *range;

	array_foreach(ranges, range) {
		if (str_len(str) > 0)
			str_append_c(str, ',');
		str_printfa(str, "%u", range->seq1);
		if (range->seq2 != range->seq1)
			str_printfa(str, "-%u", range->seq2);
	}
	return str_c(str);
}

/* sift-phrase-filter.c: per-message Bloom filters of the gaps between runs (see
   sift-phrase-filter.h for what they are for and why they are safe). */
#include "lib.h"
#include "array.h"
#include "write-full.h"
#include "sift-plan.h"
#include "sift-file.h"
#include "sift-phrase-filter.h"
#include "sift-record.h"
#include "sift-uids.h"

#include <fcntl.h>
#include <unistd.h>

/* filter bits per key and hash functions per key: about 9% false
   positives for one key, under 1% for the two keys of one gap, far fewer
   for a phrase with several gaps.  (8 bits per key, about 2.4% for one
   key, made the filters 26 of 111 MB of index on 30,000 list messages;
   5 bits make them 16 MB.  Readers take a filter's size from its record,
   so filters of either size coexist in one file.) */
#define GAPS_BITS_PER_KEY 5
#define GAPS_HASHES SIFT_GAPS_HASHES
/* a filter is at most this big; more keys just fill it up (more false
   positives, never a missed message) */
#define GAPS_MAX_FILTER_BYTES (1024 * 1024)

/* The uid index of a gaps file, kept by the process for its next searches
   (an imap session searches the same mailbox again and again): walking
   the records touches the whole file (26 MB at 30,000 messages), while a
   phrase whose words leave few candidates needs only their filters
   (sift-query.c).  Keyed by the file's device, inode and generation,
   whose committed bytes never change (a rewritten file has a new
   generation); records committed later are added by the next search
   that sees them.  8 bytes per message (struct sift_gaps_uidx), one file
   per process. */
struct gaps_index {
	dev_t dev;
	ino_t ino;
	uint64_t gen;
	/* offset after the last record walked */
	uint64_t covered;
	struct sift_gaps_uidx uidx;	/* sorted by uid, unique */
};
static struct gaps_index *gaps_index_cache;

struct sift_phrase_filter {
	struct sift_rfile file;
	/* gaps_index_cache's index or, for a reader whose committed
	   length is below what the cache walked (an older snapshot), its
	   own */
	struct sift_gaps_uidx *uidx;
	struct sift_gaps_uidx own_uidx;
	bool own_uidx_created;
};

struct sift_phrase_filter_writer {
	struct sift_wfile *file;
	mode_t mode;
};

/* ---- keys ---------------------------------------------------------------- */

static inline bool utf8_is_cont(unsigned char c)
{
	return (c & 0xc0) == 0x80;
}

/* Byte length of the last n characters of s[0..len).  A character is
   at most 4 bytes here, whatever the bytes are, so that the result
   always fits struct sift_gap_state (text and needles are normalized,
   valid UTF-8, so this never cuts a real character). */
static size_t utf8_tail(const char *s, size_t len, unsigned int n)
{
	size_t i = len;

	while (i > 0 && n > 0) {
		unsigned int bytes = 1;

		i--;
		while (i > 0 && bytes < 4 &&
		       utf8_is_cont((unsigned char)s[i])) {
			i--;
			bytes++;
		}
		n--;
	}
	return len - i;
}

/* Byte length of the first n characters of s[0..len) (at most 4 bytes
   each, as above). */
static size_t utf8_head(const char *s, size_t len, unsigned int n)
{
	size_t i = 0;

	while (i < len && n > 0) {
		unsigned int bytes = 1;

		i++;
		while (i < len && bytes < 4 &&
		       utf8_is_cont((unsigned char)s[i])) {
			i++;
			bytes++;
		}
		n--;
	}
	return i;
}

/* Number of characters of s[0..len), counting up to limit. */
static unsigned int utf8_count(const char *s, size_t len, unsigned int limit)
{
	unsigned int n = 0;

	for (size_t i = 0; i < len && n < limit; i++) {
		if (!utf8_is_cont((unsigned char)s[i]))
			n++;
	}
	return n;
}

static uint64_t fnv1a(uint64_t h, const void *data, size_t len)
{
	const unsigned char *p = data;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* The hash every key of a field starts from (computed once per text). */
static uint64_t prefix_hash(const char *prefix)
{
	return fnv1a(0xcbf29ce484222325ULL, prefix, strlen(prefix) + 1);
}

/* The key of a gap: a run ending with left, then whitespace, then a run
   starting with right.  With mid (not NULL), the key of two gaps around
   the whole run mid.  Runs hold no whitespace, so the spaces keep every
   combination of parts apart. */
static uint64_t gap_key(uint64_t h, const char *left, size_t left_len,
			const char *mid, size_t mid_len,
			const char *right, size_t right_len)
{
	h = fnv1a(h, left, left_len);
	h = fnv1a(h, " ", 1);
	if (mid != NULL) {
		h = fnv1a(h, mid, mid_len);
		h = fnv1a(h, " ", 1);
	}
	h = fnv1a(h, right, right_len);
	/* splitmix64 finalizer: spread the bits for the filter */
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ULL;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebULL;
	h ^= h >> 31;
	return h;
}

void sift_phrase_filter_text_keys(struct sift_gap_state *state, const char *prefix,
			 const char *text, size_t len,
			 ARRAY_TYPE(sift_gap_key) *keys)
{
	uint64_t ph = prefix_hash(prefix);
	size_t pos = 0, start, i, head, head_short, tail;
	unsigned int chars;
	uint64_t key;

	while (sift_next_run(text, len, &pos, &start, &i)) {
		chars = utf8_count(text + start, i - start, SIFT_GAP_CHARS);
		head = utf8_head(text + start, i - start, SIFT_GAP_CHARS);
		if (state->have_tail) {
			/* the last 3 characters before the gap with the
			   first 2 after it, and the last 2 with the first 3
			   (a run of 2 or fewer is whole in both) */
			head_short = utf8_head(text + start, i - start,
					       SIFT_GAP_SHORT_CHARS);
			key = gap_key(ph, state->tail, state->tail_len,
				      NULL, 0, text + start, head_short);
			array_push_back(keys, &key);
			tail = utf8_tail(state->tail, state->tail_len,
					 SIFT_GAP_SHORT_CHARS);
			if (tail < state->tail_len || head_short < head) {
				key = gap_key(ph, state->tail +
					      state->tail_len - tail, tail,
					      NULL, 0, text + start, head);
				array_push_back(keys, &key);
			}
			if (state->have_before &&
			    state->tail_chars <= SIFT_GAP_SHORT_CHARS) {
				/* the last run is short, and whole in tail */
				key = gap_key(ph, state->before,
					      state->before_len, state->tail,
					      state->tail_len, text + start,
					      head);
				array_push_back(keys, &key);
			}
			memcpy(state->before, state->tail, state->tail_len);
			state->before_len = state->tail_len;
			state->have_before = TRUE;
		}
		tail = utf8_tail(text + start, i - start, SIFT_GAP_CHARS);
		i_assert(tail <= sizeof(state->tail));
		memcpy(state->tail, text + i - tail, tail);
		state->tail_len = tail;
		state->tail_chars = chars;
		state->have_tail = TRUE;
	}
}

/* What a needle's run tells about the text run it lies in, on one side
   of a gap: the characters known to end (or start) that run, or none. */
struct needle_side {
	const char *str;
	size_t len;
	/* TRUE: SIFT_GAP_CHARS characters, or the whole run (the text run's
	   own key part is the same); FALSE: only the SIFT_GAP_SHORT_CHARS
	   characters at the gap are known */
	bool full;
	bool known;
};

static void needle_side(const char *run, size_t run_len, bool whole,
			bool left, struct needle_side *side_r)
{
	unsigned int chars = utf8_count(run, run_len, SIFT_GAP_CHARS);
	size_t n;

	i_zero(side_r);
	if (whole || chars == SIFT_GAP_CHARS) {
		n = left ? utf8_tail(run, run_len, SIFT_GAP_CHARS) :
			utf8_head(run, run_len, SIFT_GAP_CHARS);
		side_r->full = TRUE;
	} else if (chars == SIFT_GAP_SHORT_CHARS) {
		/* the text run may be longer on the far side: only its
		   short key part is known */
		n = run_len;
		side_r->full = FALSE;
	} else {
		return;
	}
	side_r->str = left ? run + run_len - n : run;
	side_r->len = n;
	side_r->known = TRUE;
}

void sift_phrase_filter_needle_keys(const char *prefix, const char *needle,
			   size_t len, ARRAY_TYPE(sift_gap_key) *keys)
{
	uint64_t ph = prefix_hash(prefix);
	/* runs of the needle: [starts[r], ends[r]) */
	ARRAY(size_t) starts, ends;
	const size_t *s, *e;
	unsigned int runs, r;
	size_t pos = 0, start, end;
	bool lead_sep, trail_sep;

	t_array_init(&starts, 8);
	t_array_init(&ends, 8);
	lead_sep = len > 0 && sift_is_chunk_separator(needle[0]);
	trail_sep = len > 0 && sift_is_chunk_separator(needle[len - 1]);
	while (sift_next_run(needle, len, &pos, &start, &end)) {
		array_push_back(&starts, &start);
		array_push_back(&ends, &end);
	}
	s = array_get(&starts, &runs);
	if (runs < 2)
		return;
	e = array_front(&ends);
	for (r = 0; r + 1 < runs; r++) {
		/* the run before the gap ends at the gap; its start is only
		   known if something comes before it in the needle, and
		   likewise the end of the run after it */
		struct needle_side left, right;
		uint64_t key;

		needle_side(needle + s[r], e[r] - s[r], r > 0 || lead_sep,
			    TRUE, &left);
		needle_side(needle + s[r + 1], e[r + 1] - s[r + 1],
			    r + 2 < runs || trail_sep, FALSE, &right);
		/* the text has the key parts (3, 2) and (2, 3) of every gap,
		   a whole run of fewer characters counting as either */
		if (left.known && right.known && left.full) {
			size_t n = right.full ? utf8_head(right.str, right.len,
						SIFT_GAP_SHORT_CHARS) :
				right.len;

			key = gap_key(ph, left.str, left.len, NULL, 0,
				      right.str, n);
			array_push_back(keys, &key);
		}
		if (left.known && right.known && right.full) {
			size_t n = left.full ? utf8_tail(left.str, left.len,
							 SIFT_GAP_SHORT_CHARS) :
				left.len;

			key = gap_key(ph, left.str + left.len - n, n, NULL,
				      0, right.str, right.len);
			array_push_back(keys, &key);
		}
		if (r + 2 < runs &&
		    utf8_count(needle + s[r + 1], e[r + 1] - s[r + 1],
			       SIFT_GAP_CHARS) <= SIFT_GAP_SHORT_CHARS) {
			/* a short run between two gaps (whole: the needle
			   goes on on both sides) */
			struct needle_side far;

			needle_side(needle + s[r + 2], e[r + 2] - s[r + 2],
				    r + 3 < runs || trail_sep, FALSE, &far);
			if (left.known && left.full && far.known && far.full) {
				key = gap_key(ph, left.str, left.len,
					      needle + s[r + 1],
					      e[r + 1] - s[r + 1],
					      far.str, far.len);
				array_push_back(keys, &key);
			}
		}
	}
}

/* ---- filters --------------------------------------------------------------- */

void sift_phrase_filter_key_positions(uint64_t key, uint32_t bits,
				      uint32_t pos_r[SIFT_GAPS_HASHES])
{
	uint32_t h1 = (uint32_t)key, h2 = (uint32_t)(key >> 32) | 1;
	uint32_t step = h2 % bits;

	/* Position i is (h1 + i * h2) % bits, the double hashing the
	   filters have always been written with; as (h1 % bits + i *
	   (h2 % bits)) % bits it takes two 32-bit divisions rather than
	   GAPS_HASHES 64-bit ones (a key's positions are computed for every
	   distinct gap of every message indexed, and for every filter a
	   phrase search probes).  The same positions for any bits, as
	   the sum is taken in 64 bits. */
	pos_r[0] = h1 % bits;
	for (unsigned int i = 1; i < GAPS_HASHES; i++) {
		uint64_t pos = (uint64_t)pos_r[i - 1] + step;

		pos_r[i] = (uint32_t)(pos >= bits ? pos - bits : pos);
	}
}

static bool filter_has(const unsigned char *filter, uint32_t size,
		       uint64_t key)
{
	uint32_t pos[GAPS_HASHES];

	sift_phrase_filter_key_positions(key, size * 8, pos);
	for (unsigned int i = 0; i < GAPS_HASHES; i++) {
		if ((filter[pos[i] / 8] & (1 << (pos[i] % 8))) == 0)
			return FALSE;
	}
	return TRUE;
}

/* ---- the uid index ---- */

void sift_gaps_uidx_init(struct sift_gaps_uidx *idx)
{
	i_array_init(&idx->entries, 1024);
	i_array_init(&idx->highs, 4);
}

void sift_gaps_uidx_free(struct sift_gaps_uidx *idx)
{
	array_free(&idx->entries);
	array_free(&idx->highs);
}

void sift_gaps_uidx_clear(struct sift_gaps_uidx *idx)
{
	array_clear(&idx->entries);
	array_clear(&idx->highs);
}

static uint32_t gaps_uidx_last_high(const struct sift_gaps_uidx *idx)
{
	const struct sift_gaps_uidx_high *h;
	unsigned int n = array_count(&idx->highs);

	if (n == 0)
		return 0;
	h = array_idx(&idx->highs, n - 1);
	return h->high;
}

void sift_gaps_uidx_append(struct sift_gaps_uidx *idx, uint32_t uid,
			   uint64_t offset)
{
	struct sift_gaps_uidx_entry *e;
	uint32_t high = (uint32_t)(offset >> 32);

	if (high != gaps_uidx_last_high(idx)) {
		struct sift_gaps_uidx_high *h = array_append_space(&idx->highs);

		h->first = array_count(&idx->entries);
		h->high = high;
	}
	e = array_append_space(&idx->entries);
	e->uid = uid;
	e->offset_lo = (uint32_t)offset;
}

unsigned int sift_gaps_uidx_count(const struct sift_gaps_uidx *idx)
{
	return array_count(&idx->entries);
}

uint32_t sift_gaps_uidx_uid(const struct sift_gaps_uidx *idx, unsigned int i)
{
	const struct sift_gaps_uidx_entry *e = array_idx(&idx->entries, i);

	return e->uid;
}

uint64_t sift_gaps_uidx_offset(const struct sift_gaps_uidx *idx,
			       unsigned int i)
{
	const struct sift_gaps_uidx_entry *e = array_idx(&idx->entries, i);
	const struct sift_gaps_uidx_high *h;
	unsigned int lo = 0, hi, count;
	uint32_t high = 0;

	/* the last run starting at or before i */
	h = array_get(&idx->highs, &count);
	hi = count;
	while (lo < hi) {
		unsigned int mid = lo + (hi - lo) / 2;

		if (h[mid].first <= i) {
			high = h[mid].high;
			lo = mid + 1;
		} else {
			hi = mid;
		}
	}
	return ((uint64_t)high << 32) | e->offset_lo;
}

struct gaps_uidx_full {
	uint64_t offset;
	uint32_t uid;
};

static int gaps_uidx_full_cmp(const struct gaps_uidx_full *e1,
			      const struct gaps_uidx_full *e2)
{
	if (e1->uid != e2->uid)
		return e1->uid < e2->uid ? -1 : 1;
	/* later records win */
	return e1->offset < e2->offset ? -1 : (e1->offset > e2->offset);
}

void sift_gaps_uidx_sort(struct sift_gaps_uidx *idx)
{
	ARRAY(struct gaps_uidx_full) full;
	const struct gaps_uidx_full *f;
	unsigned int i, n = array_count(&idx->entries);

	/* only after a lowered last_uid (records are appended in uid
	   order otherwise): 16 bytes a message for the sort's while */
	i_array_init(&full, n > 0 ? n : 1);
	for (i = 0; i < n; i++) {
		struct gaps_uidx_full *e = array_append_space(&full);

		e->uid = sift_gaps_uidx_uid(idx, i);
		e->offset = sift_gaps_uidx_offset(idx, i);
	}
	array_sort(&full, gaps_uidx_full_cmp);
	sift_gaps_uidx_clear(idx);
	f = array_get(&full, &n);
	for (i = 0; i < n; i++) {
		if (i + 1 < n && f[i + 1].uid == f[i].uid)
			continue;
		sift_gaps_uidx_append(idx, f[i].uid, f[i].offset);
	}
	array_free(&full);
}

bool sift_gaps_uidx_find(const struct sift_gaps_uidx *idx, uint32_t uid,
			 unsigned int *i_r)
{
	const struct sift_gaps_uidx_entry *e;
	unsigned int count;
	size_t i;

	e = array_get(&idx->entries, &count);
	if (!sift_uid_search(e, count, sizeof(*e),
			     offsetof(struct sift_gaps_uidx_entry, uid), uid,
			     &i))
		return FALSE;
	*i_r = i;
	return TRUE;
}

size_t sift_gaps_uidx_bytes(const struct sift_gaps_uidx *idx)
{
	return array_count(&idx->entries) *
		sizeof(struct sift_gaps_uidx_entry) +
		array_count(&idx->highs) * sizeof(struct sift_gaps_uidx_high);
}

const struct sift_gaps_uidx *
sift_phrase_filter_uidx(const struct sift_phrase_filter *gaps)
{
	return gaps->uidx;
}

/* ---- reader ---------------------------------------------------------------- */

/* The filter bits of the record of the index's entry i (after its
   header and uid) and their size, valid until the next read of the
   file; NULL if the read failed. */
static const unsigned char *
gaps_entry_bits(struct sift_phrase_filter *gaps, unsigned int i,
		uint32_t *size_r)
{
	const unsigned char *data;
	uint64_t pos = sift_gaps_uidx_offset(gaps->uidx, i), offset;
	uint32_t len;

	/* (the walk checked the record: its size is past the uid) */
	if (!sift_rfile_next(&gaps->file, &pos, &offset, &data, &len) ||
	    len <= sizeof(uint32_t))
		return NULL;
	*size_r = len - sizeof(uint32_t);
	return data + sizeof(uint32_t);
}

/* Add the records of [*pos, the committed length) to idx, keeping them
   sorted by uid and unique (the last record of a uid wins), verifying
   each record's checksum unless this process verified it before: one
   pass over the file, not a verifying pass and then this walk (the
   file is opened without verify_all; the first phrase search of a
   process reads the whole file, 138 MB at 300,000 messages).  Having
   walked the chain to exactly the committed length, the file counts as
   checked (sift_rfile_set_checked()).  FALSE if a record is invalid
   (error_r) or can't be read (sift_rfile_error()). */
static bool gaps_walk(struct sift_phrase_filter *gaps, const char *dir,
		      uint64_t *pos, struct sift_gaps_uidx *idx,
		      const char **error_r)
{
	const unsigned char *data;
	uint64_t offset, verify_from = sift_rfile_verified_upto(&gaps->file);
	uint32_t last_uid = 0, len;
	unsigned int count = sift_gaps_uidx_count(idx);
	bool sorted = TRUE;

	if (count > 0)
		last_uid = sift_gaps_uidx_uid(idx, count - 1);
	while (sift_rfile_next(&gaps->file, pos, &offset, &data, &len)) {
		uint32_t uid;

		if (len <= sizeof(uid) ||
		    len - sizeof(uid) > GAPS_MAX_FILTER_BYTES) {
			*error_r = t_strdup_printf("%s/"SIFT_GAPS_FILE" is "
				"damaged: invalid record at %llu", dir,
				(unsigned long long)offset);
			return FALSE;
		}
		memcpy(&uid, data, sizeof(uid));
		/* (the record is in the window: no second read) */
		if (offset >= verify_from &&
		    !sift_rfile_verify(&gaps->file, offset)) {
			if (sift_rfile_error(&gaps->file) != NULL)
				break;
			*error_r = t_strdup_printf("%s/"SIFT_GAPS_FILE" is "
				"damaged: checksum mismatch at %llu", dir,
				(unsigned long long)offset);
			return FALSE;
		}
		if (uid <= last_uid)
			sorted = FALSE;
		last_uid = uid;
		sift_gaps_uidx_append(idx, uid, offset);
	}
	if (sift_rfile_error(&gaps->file) != NULL) {
		*error_r = t_strdup(sift_rfile_error(&gaps->file));
		return FALSE;
	}
	if (gaps->file.gen != 0 && *pos != gaps->file.len) {
		/* the chain ends before the committed length: a torn
		   record or one whose length runs past it */
		*error_r = t_strdup_printf("%s/"SIFT_GAPS_FILE" is "
			"damaged: invalid record at %llu", dir,
			(unsigned long long)*pos);
		return FALSE;
	}
	sift_rfile_set_checked(&gaps->file);
	/* records are appended in uid order, so only after a lowered
	   last_uid is there anything to sort */
	if (!sorted)
		sift_gaps_uidx_sort(idx);
	return TRUE;
}

int sift_phrase_filter_open(const char *dir, const struct sift_file_state *st,
			    struct sift_phrase_filter **gaps_r,
			    const char **error_r)
{
	struct sift_phrase_filter *gaps = i_new(struct sift_phrase_filter, 1);
	struct gaps_index *idx = gaps_index_cache;
	uint64_t pos = 0;
	int ret;

	*gaps_r = NULL;
	/* Every record is verified by the walk below (once per change of
	   the file in this process, see sift-record.h). */
	ret = sift_rfile_open(t_strconcat(dir, "/"SIFT_GAPS_FILE, NULL),
			      SIFT_GAPS_FILE, st, FALSE, &gaps->file, error_r);
	if (ret <= 0) {
		i_free(gaps);
		return ret;
	}
	if (st->gen != 0 &&
	    (idx == NULL || idx->gen != st->gen ||
	     idx->dev != gaps->file.st.st_dev ||
	     idx->ino != gaps->file.st.st_ino ||
	     /* (the walk that built the entries verified their records;
	        the process no longer knows the file unchanged since) */
	     sift_rfile_verified_upto(&gaps->file) < idx->covered)) {
		/* another file: start its index */
		if (idx == NULL) {
			idx = gaps_index_cache = i_new(struct gaps_index, 1);
			sift_gaps_uidx_init(&idx->uidx);
		}
		sift_gaps_uidx_clear(&idx->uidx);
		idx->dev = gaps->file.st.st_dev;
		idx->ino = gaps->file.st.st_ino;
		idx->gen = st->gen;
		idx->covered = 0;
	}
	if (st->gen != 0 && idx->covered <= st->len) {
		/* the cached entries and the records committed since */
		pos = idx->covered;
		gaps->uidx = &idx->uidx;
		if (!gaps_walk(gaps, dir, &pos, gaps->uidx, error_r)) {
			/* (never keep a damaged file's entries; a read
			   error is not damage) */
			ret = sift_rfile_error(&gaps->file) != NULL ? -1 : 0;
			idx->gen = 0;
			sift_gaps_uidx_clear(&idx->uidx);
			sift_phrase_filter_close(&gaps);
			return ret;
		}
		idx->covered = pos;
	} else {
		/* nothing committed, or an older snapshot than the
		   cache's */
		sift_gaps_uidx_init(&gaps->own_uidx);
		gaps->own_uidx_created = TRUE;
		gaps->uidx = &gaps->own_uidx;
		if (!gaps_walk(gaps, dir, &pos, gaps->uidx, error_r)) {
			ret = sift_rfile_error(&gaps->file) != NULL ? -1 : 0;
			sift_phrase_filter_close(&gaps);
			return ret;
		}
	}
	*gaps_r = gaps;
	return 1;
}

void sift_phrase_filter_close(struct sift_phrase_filter **_gaps)
{
	struct sift_phrase_filter *gaps = *_gaps;

	if (gaps == NULL)
		return;
	*_gaps = NULL;
	sift_rfile_close(&gaps->file);
	if (gaps->own_uidx_created)
		sift_gaps_uidx_free(&gaps->own_uidx);
	i_free(gaps);
}

void sift_phrase_filter_apply(struct sift_phrase_filter *gaps, const uint64_t *keys,
		      unsigned int key_count, ARRAY_TYPE(seq_range) *uids)
{
	ARRAY_TYPE(seq_range) keep;
	struct seq_range_iter iter;
	unsigned int n = 0;
	uint32_t uid;

	if (key_count == 0 || sift_gaps_uidx_count(gaps->uidx) == 0)
		return;
	/* The messages kept are collected (appended in ascending order)
	   rather than the dropped ones removed from uids: removing one
	   UID at a time from a set of many separate UIDs moves the rest of
	   the array each time (quadratic: 0.6 s for a phrase with 146,752
	   candidates at 300,000 messages). */
	t_array_init(&keep, 64);
	seq_range_array_iter_init(&iter, uids);
	while (seq_range_array_iter_nth(&iter, n++, &uid)) {
		const unsigned char *bits;
		unsigned int i, k;
		uint32_t size;

		/* a message without a filter, or whose filter can't be
		   read (a system error), is kept; ascending UIDs read the
		   file forward (records are in UID order but after a
		   lowered last_uid) */
		if (!sift_gaps_uidx_find(gaps->uidx, uid, &i) ||
		    (bits = gaps_entry_bits(gaps, i, &size)) == NULL) {
			seq_range_array_add(&keep, uid);
			continue;
		}
		for (k = 0; k < key_count; k++) {
			if (!filter_has(bits, size, keys[k]))
				break;
		}
		if (k == key_count)
			seq_range_array_add(&keep, uid);
	}
	array_clear(uids);
	array_append_array(uids, &keep);
}

/* ---- writer ---------------------------------------------------------------- */

int sift_phrase_filter_writer_open(const char *dir, const struct sift_file_state *st,
			  mode_t mode, struct sift_phrase_filter_writer **writer_r,
			  const char **error_r)
{
	struct sift_phrase_filter_writer *writer = i_new(struct sift_phrase_filter_writer, 1);
	int ret;

	*writer_r = NULL;
	ret = sift_wfile_open(t_strconcat(dir, "/"SIFT_GAPS_FILE, NULL),
			      SIFT_GAPS_FILE, mode, st, &writer->file, error_r);
	if (ret <= 0) {
		i_free(writer);
		return ret;
	}
	writer->mode = mode;
	*writer_r = writer;
	return 1;
}

void sift_phrase_filter_writer_close(struct sift_phrase_filter_writer **_writer)
{
	struct sift_phrase_filter_writer *writer = *_writer;

	if (writer == NULL)
		return;
	*_writer = NULL;
	sift_wfile_close(&writer->file);
	i_free(writer);
}

void sift_phrase_filter_writer_state(const struct sift_phrase_filter_writer *writer,
			    struct sift_file_state *st_r)
{
	sift_wfile_state(writer->file, st_r);
}

int sift_phrase_filter_writer_add(struct sift_phrase_filter_writer *writer, uint32_t uid,
			 const uint64_t *keys, unsigned int key_count,
			 const char **error_r)
{
	unsigned char *record;
	uint64_t *set;
	size_t cap, distinct = 0;
	bool have_zero = FALSE;
	unsigned int i;
	int ret;
	size_t size;
	uint32_t pos[GAPS_HASHES];

	if (key_count == 0)
		return 0;
	/* a message repeats many of its gaps: size the filter for the
	   distinct ones (a hash set, linear time: sorting showed up as a
	   fifth of the indexing CPU) */
	for (cap = 16; cap < (size_t)key_count * 2; cap *= 2) ;
	set = i_new(uint64_t, cap);
	for (i = 0; i < key_count; i++) {
		uint64_t key = keys[i];
		size_t idx;

		if (key == 0) {
			have_zero = TRUE;
			continue;
		}
		for (idx = key & (cap - 1); set[idx] != 0 && set[idx] != key;
		     idx = (idx + 1) & (cap - 1)) ;
		if (set[idx] == 0) {
			set[idx] = key;
			distinct++;
		}
	}
	if (have_zero)
		distinct++;
	/* whole 64-bit words, at least one */
	size = ((size_t)distinct * GAPS_BITS_PER_KEY + 63) / 64 * 8;
	if (size > GAPS_MAX_FILTER_BYTES)
		size = GAPS_MAX_FILTER_BYTES;
	record = i_malloc(size);
	for (size_t k = 0; k <= cap; k++) {
		uint64_t key;

		if (k < cap) {
			if (set[k] == 0)
				continue;
			key = set[k];
		} else if (have_zero) {
			key = 0;
		} else {
			break;
		}
		sift_phrase_filter_key_positions(key, size * 8, pos);
		for (i = 0; i < GAPS_HASHES; i++)
			record[pos[i] / 8] |= 1 << (pos[i] % 8);
	}
	i_free(set);
	ret = sift_wfile_append(writer->file, &uid, sizeof(uid), record, size,
				error_r);
	i_free(record);
	return ret;
}

int sift_phrase_filter_writer_sync(struct sift_phrase_filter_writer *writer, bool do_fsync,
			  const char **error_r)
{
	return sift_wfile_sync(writer->file, do_fsync, error_r);
}

int sift_phrase_filter_write_copy(struct sift_phrase_filter_writer *writer,
			 const struct sift_uids *keep, const char *dest_dir,
			 struct sift_file_state *st_r, const char **error_r)
{
	const char *src = sift_wfile_path(writer->file);
	const char *path = t_strconcat(dest_dir, "/"SIFT_GAPS_FILE, NULL);
	struct sift_file_state st;
	struct sift_phrase_filter *gaps;
	struct sift_wfile *dest;
	unsigned int i, count;
	bool ok = TRUE;
	int ret;

	sift_wfile_state(writer->file, &st);
	ret = sift_phrase_filter_open(t_strdup_until(src, strrchr(src, '/')), &st,
			     &gaps, error_r);
	if (ret <= 0)
		return -1;
	if (sift_wfile_replace_begin(path, SIFT_GAPS_FILE,
				     writer->mode, &dest,
				     error_r) < 0) {
		sift_phrase_filter_close(&gaps);
		return -1;
	}
	count = sift_gaps_uidx_count(gaps->uidx);
	for (i = 0; i < count; i++) {
		uint32_t uid = sift_gaps_uidx_uid(gaps->uidx, i), size;
		const unsigned char *bits;

		if (!sift_uids_contain(keep, uid))
			continue;
		if ((bits = gaps_entry_bits(gaps, i, &size)) == NULL) {
			*error_r = t_strdup(sift_rfile_error(&gaps->file) != NULL ?
				sift_rfile_error(&gaps->file) :
				"gaps record past the committed length");
			ok = FALSE;
			break;
		}
		if (sift_wfile_append(dest, &uid, sizeof(uid),
				      bits, size, error_r) < 0) {
			ok = FALSE;
			break;
		}
	}
	sift_phrase_filter_close(&gaps);
	ret = sift_wfile_replace_end(dest, ok, error_r);
	if (ret == 0)
		sift_wfile_state(dest, st_r);
	sift_wfile_close(&dest);
	return ok && ret == 0 ? 0 : -1;
}

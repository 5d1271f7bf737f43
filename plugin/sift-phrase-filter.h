/* sift-phrase-filter: the "gaps" file next to a mailbox's index, which narrows
   phrase searches without storing word positions.

   A phrase ("supports gcc", "this only") is a string with whitespace, so
   it spans several runs of text (see SIFT_PLAN_CHUNK).  The index can
   tell which messages hold every run, but not whether they are adjacent;
   word positions would answer that at the price of roughly doubling the
   index.  Instead, each message gets a small Bloom filter of its gaps: for
   every place where whitespace separates two runs of a field, two keys:
   the last 3 characters before it with the first 2 after it, and the
   last 2 with the first 3 ("HIS ON" and "IS ONL" for "this only"; a run
   of 2 characters or fewer is taken whole), tagged with the field's term
   prefix.  A phrase's own keys must all be in a message's filter for the
   message to stay a candidate.  A phrase may begin or end inside a word
   ("le do" matches "while done"), so an outer run of the phrase only
   tells how the text's run ends or begins: with 3 or more characters
   there it gives both keys, with 2 one of them ("while do", "May 09",
   "is not"), with 1 none ("I agree").  And where a run of at most
   SIFT_GAP_SHORT_CHARS characters sits between two gaps, one more key
   holds it whole with 3 characters on each side ("USE IT IS" for
   "because it is"), since pairs like "it is" are in nearly every
   message.  On 30,000 list messages the filters take 2.2 times the
   space of one key per gap (16 of 99 MB of index at 5 bits per key).

   A Bloom filter has false positives but no false negatives, and a
   message without a filter stays a candidate, so this only ever removes
   messages that can't match; Dovecot still checks the rest.  Whitespace
   runs of any kind and length count as one gap, which again can only
   keep more candidates.

   The file: checksummed records (sift-record.h), one per message: its
   uid (native-endian uint32; the file is never moved between machines,
   like Xapian's own files) and the filter's bits.  Records are appended
   before the commit that adds their documents; a uid may repeat after a
   lowered last_uid, and the last record wins (they hold the same
   message).  It is rewritten without expunged messages when the index is
   rebuilt.  A reader verifies every record at open; a damaged file is
   never used. */
#ifndef SIFT_PHRASE_FILTER_H
#define SIFT_PHRASE_FILTER_H

#include "seq-range-array.h"
#include "sift-xapian.h"

#define SIFT_GAPS_FILE "gaps"
/* characters taken on each side of a gap */
#define SIFT_GAP_CHARS 3
/* the shorter key part (see above) */
#define SIFT_GAP_SHORT_CHARS 2

ARRAY_DEFINE_TYPE(sift_gap_key, uint64_t);

/* Gap keys of a field's text, which may come in several pieces (cut at
   whitespace); the state carries the last run of one piece to the next.
   Zero it (i_zero) at the start of each field. */
struct sift_gap_state {
	/* the last SIFT_GAP_CHARS characters of the last run, and how many
	   characters that is (fewer: the whole run) */
	char tail[SIFT_GAP_CHARS * 4];
	size_t tail_len;
	unsigned int tail_chars;
	/* the same of the run before it */
	char before[SIFT_GAP_CHARS * 4];
	size_t before_len;
	bool have_tail, have_before;
};
void sift_phrase_filter_text_keys(struct sift_gap_state *state, const char *prefix,
			 const char *text, size_t len,
			 ARRAY_TYPE(sift_gap_key) *keys);
/* The keys every message containing needle (normalized, with
   whitespace) has in field prefix: the gaps between runs of the needle
   whose key parts are known.  May add none (e.g. "a lot": "a" may end a
   longer run). */
void sift_phrase_filter_needle_keys(const char *prefix, const char *needle,
			   size_t len, ARRAY_TYPE(sift_gap_key) *keys);

/* Reader. */
struct sift_phrase_filter;
struct sift_file_state;
/* Map dir's gaps file and check it against its committed state st.
   Returns 1, 0 if it is damaged (error_r), or -1 with error_r. */
int sift_phrase_filter_open(const char *dir, const struct sift_file_state *st,
		   struct sift_phrase_filter **gaps_r, const char **error_r);
void sift_phrase_filter_close(struct sift_phrase_filter **gaps);
/* Remove from uids each message whose filter lacks one of keys.
   Messages without a filter are kept. */
void sift_phrase_filter_apply(struct sift_phrase_filter *gaps, const uint64_t *keys,
		      unsigned int key_count, ARRAY_TYPE(seq_range) *uids);

/* The bit positions of key in a filter of bits bits, as the writer sets
   them and searches test them (the file format: they never change for a
   given key and size; exposed for the unit test). */
#define SIFT_GAPS_HASHES 4
void sift_phrase_filter_key_positions(uint64_t key, uint32_t bits,
				      uint32_t pos_r[SIFT_GAPS_HASHES]);

/* The uid index of a gaps file (each uid's record offset, sorted by
   uid), in 8 bytes a message: the uid and the low 32 bits of the offset,
   plus one run entry wherever the high 32 bits change (none below 4 GB).
   A searching process keeps one (gaps_index in the .c), so it grows with
   the mailbox: 16 bytes a message before (uid, size and a 64-bit offset:
   4.8 MB at 300,000 messages), 8 now; the size is read from the record.
   Exposed for its unit test. */
struct sift_gaps_uidx_entry {
	uint32_t uid;
	uint32_t offset_lo;
};
struct sift_gaps_uidx_high {
	/* entries [first, next run's first) have offsets with this high
	   32 bits; entries before the first run have 0 */
	uint32_t first;
	uint32_t high;
};
struct sift_gaps_uidx {
	ARRAY(struct sift_gaps_uidx_entry) entries;
	ARRAY(struct sift_gaps_uidx_high) highs;
};
void sift_gaps_uidx_init(struct sift_gaps_uidx *idx);
void sift_gaps_uidx_free(struct sift_gaps_uidx *idx);
void sift_gaps_uidx_clear(struct sift_gaps_uidx *idx);
/* Append (uid, offset) as the last entry (sift_gaps_uidx_sort() puts
   them in uid order again if uid is not above the last one's). */
void sift_gaps_uidx_append(struct sift_gaps_uidx *idx, uint32_t uid,
			   uint64_t offset);
unsigned int sift_gaps_uidx_count(const struct sift_gaps_uidx *idx);
uint32_t sift_gaps_uidx_uid(const struct sift_gaps_uidx *idx, unsigned int i);
uint64_t sift_gaps_uidx_offset(const struct sift_gaps_uidx *idx,
			       unsigned int i);
/* Sort by uid, keeping of each uid the entry with the highest offset
   (the last record written wins). */
void sift_gaps_uidx_sort(struct sift_gaps_uidx *idx);
/* The index of uid's entry (sorted index), FALSE if it has none. */
bool sift_gaps_uidx_find(const struct sift_gaps_uidx *idx, uint32_t uid,
			 unsigned int *i_r);
/* Bytes its entries take (what it holds, not the arrays' capacity). */
size_t sift_gaps_uidx_bytes(const struct sift_gaps_uidx *idx);
/* The uid index of an open reader (for tests and measurements). */
const struct sift_gaps_uidx *
sift_phrase_filter_uidx(const struct sift_phrase_filter *gaps);

/* Writer; used only while holding the database's write lock.  Returns
   1, 0 if the committed file is damaged (error_r), or -1 with error_r. */
struct sift_phrase_filter_writer;
int sift_phrase_filter_writer_open(const char *dir, const struct sift_file_state *st,
			  mode_t mode, struct sift_phrase_filter_writer **writer_r,
			  const char **error_r);
void sift_phrase_filter_writer_close(struct sift_phrase_filter_writer **writer);
/* The state to commit. */
void sift_phrase_filter_writer_state(const struct sift_phrase_filter_writer *writer,
			    struct sift_file_state *st_r);
/* Append uid's filter, built from keys (none: nothing is written). */
int sift_phrase_filter_writer_add(struct sift_phrase_filter_writer *writer, uint32_t uid,
			 const uint64_t *keys, unsigned int key_count,
			 const char **error_r);
/* Before a commit: make the appended records durable (if do_fsync). */
int sift_phrase_filter_writer_sync(struct sift_phrase_filter_writer *writer, bool do_fsync,
			  const char **error_r);
/* Copy the writer's gaps file to dest_dir keeping only the records of
   uids in keep (sorted). */
int sift_phrase_filter_write_copy(struct sift_phrase_filter_writer *writer,
			 const struct sift_uids *keep, const char *dest_dir,
			 struct sift_file_state *st_r, const char **error_r);

#endif

/* sift-gaps: the "gaps" file next to a mailbox's index, which narrows
   phrase searches without storing word positions.

   A phrase ("supports gcc", "this only") is a string with whitespace, so
   it spans several runs of text (see SIFT_PLAN_CHUNK).  The index can
   tell which messages hold every run, but not whether they are adjacent;
   word positions would answer that at the price of roughly doubling the
   index.  Instead, each message gets a small Bloom filter of its gaps: for
   every place where whitespace separates two runs of a field, the last
   SIFT_GAP_CHARS characters before it and the first SIFT_GAP_CHARS after
   it ("HIS ONL" for "this only"), tagged with the field's term prefix.
   A phrase's own gaps must all be in a message's filter for the message
   to stay a candidate.  A Bloom filter has false positives but no false
   negatives, and a message without a filter stays a candidate, so this
   only ever removes messages that can't match; Dovecot still checks the
   rest.  Whitespace runs of any kind and length count as one gap, which
   again can only keep more candidates.

   The file: a header line, then one record per message: uid and length
   (native-endian uint32 each; the file is never moved between machines,
   like Xapian's own files) and the filter's bits.  Records are appended
   before the commit that adds their documents; a uid may repeat after a
   crash, and the last record wins (they hold the same message).  It is
   rewritten without expunged messages when the index is rebuilt. */
#ifndef SIFT_GAPS_H
#define SIFT_GAPS_H

#include "seq-range-array.h"
#include "sift-xapian.h"

#define SIFT_GAPS_FILE "gaps"
/* characters taken on each side of a gap */
#define SIFT_GAP_CHARS 3

ARRAY_DEFINE_TYPE(sift_gap_key, uint64_t);

/* Gap keys of a field's text, which may come in several pieces (cut at
   whitespace); the state carries the last run of one piece to the next.
   Zero it (i_zero) at the start of each field. */
struct sift_gap_state {
	char tail[SIFT_GAP_CHARS * 4];
	size_t tail_len;
	bool have_tail;
};
void sift_gaps_text_keys(struct sift_gap_state *state, const char *prefix,
			 const char *text, size_t len,
			 ARRAY_TYPE(sift_gap_key) *keys);
/* The keys every message containing needle (normalized, with
   whitespace) has in field prefix: the gaps between runs of the needle
   whose SIFT_GAP_CHARS characters on both sides are known.  May add
   none (e.g. "of the": "of" may end a longer run). */
void sift_gaps_needle_keys(const char *prefix, const char *needle,
			   size_t len, ARRAY_TYPE(sift_gap_key) *keys);

/* Reader. */
struct sift_gaps;
/* Map dir's gaps file (missing: no filters).  Returns 0, or -1 with
   error_r. */
int sift_gaps_open(const char *dir, struct sift_gaps **gaps_r,
		   const char **error_r);
void sift_gaps_close(struct sift_gaps **gaps);
/* Remove from uids each message whose filter lacks one of keys.
   Messages without a filter are kept. */
void sift_gaps_filter(struct sift_gaps *gaps, const uint64_t *keys,
		      unsigned int key_count, ARRAY_TYPE(seq_range) *uids);

/* Writer; used only while holding the database's write lock. */
struct sift_gaps_writer;
int sift_gaps_writer_open(const char *dir, mode_t mode,
			  struct sift_gaps_writer **writer_r,
			  const char **error_r);
void sift_gaps_writer_close(struct sift_gaps_writer **writer);
/* Append uid's filter, built from keys (none: nothing is written). */
int sift_gaps_writer_add(struct sift_gaps_writer *writer, uint32_t uid,
			 const uint64_t *keys, unsigned int key_count,
			 const char **error_r);
/* Before a commit: make the appended records durable (if do_fsync). */
int sift_gaps_writer_sync(struct sift_gaps_writer *writer, bool do_fsync,
			  const char **error_r);
/* Copy the writer's gaps file to dest_dir keeping only the records of
   uids in keep (sorted). */
int sift_gaps_write_copy(struct sift_gaps_writer *writer,
			 const struct sift_uids *keep, const char *dest_dir,
			 const char **error_r);

#endif

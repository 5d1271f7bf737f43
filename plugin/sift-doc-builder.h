/* sift-doc-builder: turns one message's fields, as Dovecot's fts plugin
   hands them over, into a Xapian document (terms, wdf, values, flag
   terms) and into what the side files keep of it (opaque tokens, gap
   keys).  It knows the term scheme (sift-terms.h) and the text pipeline
   (sift-text.h), nothing of storage: the index (sift-index.c) stores
   what it built.  It has no Dovecot mailbox, event or setting of its
   own, so a unit test drives it alone (tests/unit/test-sift-doc-builder.c).

   Within-document frequencies.  Matching never looks at them; they are
   there for relevance scores (SEARCH=FUZZY, sift-query.c), which Xapian's
   BM25 computes from a term's wdf and the document's length (the sum of
   its terms' wdf).  So only words carry a wdf, one per occurrence: the
   word tokens of B, M, Hsubject: and P, and address runs (an address
   header's only terms, and short).  Runs of several words, windows of
   over-long words, header names, body characters and flags have wdf 0:
   they repeat text already counted through its words, and counting them
   would make a document's length depend on its punctuation rather than
   on how many words it has.  A document's length is thus about its
   number of words (plus, with fts_sift_fold_accents, its accented words
   once more).  The cost: about one byte per posting at most, and a real
   doclen per document (see README).

   Opaque tokens.  Pooled headers of list mail carry signatures and
   tracking ids (DKIM-Signature, ARC-*, X-Google-*, ...): base64 and hex
   fragments that occur in one message only.  As terms they would be most
   of the index (each stored twice, in the posting and the term lists), yet
   Dovecot's TEXT search does find substrings of them.  So a long token
   with a digit in a pooled header is kept in the "opaque" file next to
   the index instead (sift-termfiles.h), where a TEXT or pooled-header
   search finds it with one scan.  The words of a pooled header's run
   that is opaque in the same way (a whitespace-free run of at least
   SIFT_OPAQUE_MIN_LEN bytes with a digit: "bh=Qx3Zk+AbCdEf/Gh",
   "<2019.GA12@kernel.org>") are kept there too from
   SIFT_OPAQUE_RUN_MIN_TOKEN bytes on: they are pieces of the same id or
   signature (at 30,000 list messages the pooled words fell from 202,000
   terms, 164,000 of them held by one message, to 59,000 and 36,000;
   doc/measurements.md, "Index size").  Not all of them are
   unique: relay addresses, DKIM selector dates, TLS cipher names, a
   Message-ID in its replies' References.  In the opaque file each
   occurrence costs the token's bytes again, while a posting costs one to
   three; so a token the indexing process has already met in
   SIFT_OPAQUE_PROMOTE_AT - 1 earlier messages is added as the pooled term
   P<token> instead (it stays in the opaque file for those earlier
   messages).  A search of the pool reads both the P terms and the opaque
   file and unites them, so which of the two holds a message's token never
   changes a result.  The counts are kept in a fixed table of fingerprints
   (a slot taken over by another token starts again from 1): memory stays
   bounded, and a token is promoted only while it is common.  A process
   that indexes a few new messages starts with an empty table: there a
   token that is already a P term of the index is that term again
   (sift_doc_builder_set_term_known()).

   Characters.  A search for one character ("f") would otherwise OR the
   postings of every term holding it, a third of the dictionary; so each
   document records its body's distinct characters.  The ASCII ones (about
   55 per message of list mail) are a 128-bit map in value slot
   SIFT_VALUE_BODY_ASCII, read with one pass over the slot's values; as
   terms they were a tenth of all postings and cost 5% of indexing time.
   Other characters are terms of their own (C<char>, one posting list
   each), as they are few per message outside CJK text.

   Decoded attachments.  With fts_decoder or fts_tika, Dovecot's fts
   plugin hands over the text it extracted from attachments (a part that
   is neither text nor message, which Dovecot's own search never reads).
   That text is body text here in every way (B terms, characters, phrase
   filters), so the index answers BODY and TEXT with it like with any
   text part; and because no search can leave such a part to Dovecot,
   its normalized text is also kept in value slot SIFT_VALUE_DECODED,
   where a search looks for what the terms can't settle (a phrase).

   Phrase filters.  The gap keys of a document's body and Subject
   (sift-phrase-filter.h) become its Bloom filter in the "gaps" file.

   Words are capped at Xapian's 245-byte term limit on a character
   boundary (overlapping windows, see doc_add_term()); the ZL flag then
   makes searches verify that message instead of trusting the cut term.

   Errors (a Xapian call failing, text that can't be normalized) are
   returned with error_r, valid until the next sift_doc_builder_begin()
   or free; the caller logs them (it has the event and the mailbox). */
#ifndef SIFT_DOC_BUILDER_H
#define SIFT_DOC_BUILDER_H

#include "sift-xapian.h"

struct sift_text;
struct sift_doc_builder;

/* at most this much decoded attachment text (SIFT_VALUE_DECODED) is kept
   per message (its words are all terms anyway) */
#define SIFT_DECODED_MAX_BYTES (16 * 1024 * 1024)
/* A message past fts_sift_max_doc_terms keeps its body's normalized text
   (SIFT_VALUE_BOUNDED_TEXT) if it is at most this long; a longer one
   keeps only the ZR flag.  While such a message is stored the writer
   holds up to three copies of it (the builder's until the value is set,
   Xapian's document and its buffered changes): measured +11 MB for 3.5
   MB texts (doc/measurements.md, "A bound on one message's terms"). */
#define SIFT_BOUNDED_TEXT_MAX_BYTES (4 * 1024 * 1024)
/* shortest token treated as opaque (see above) */
#define SIFT_OPAQUE_MIN_LEN 8
/* An opaque token seen in this many messages of one indexing process is
   made a pooled term (P<token>) from then on (see "Opaque tokens" above);
   SIFT_OPAQUE_SEEN_SLOTS (a power of 2) bounds the memory that counts
   them: 4 bytes a slot. */
#define SIFT_OPAQUE_PROMOTE_AT 3
/* A word of a pooled header's opaque run (a run as long as an opaque
   token, with a digit) is kept like an opaque token from this length on;
   shorter ones ("b", "bh", "id", "org") are common words. */
#define SIFT_OPAQUE_RUN_MIN_TOKEN 4
#define SIFT_OPAQUE_SEEN_SLOTS (1U << 16)
/* At most this much of one message's opaque tokens is kept (they go to
   the opaque file as one record, see SIFT_RECORD_MAX_SIZE); beyond it
   the message's header and TEXT searches are left to Dovecot. */
#define SIFT_OPAQUE_MAX_PER_DOC (4 * 1024 * 1024)
/* Body text is tokenized in pieces of about this size (cut at
   whitespace), so a 100 MB message never needs 100 MB of buffer. */
#define SIFT_FIELD_FLUSH_SIZE (256 * 1024)

enum sift_field_kind {
	SIFT_FIELD_KIND_BODY,		/* body of a text or message part */
	SIFT_FIELD_KIND_HTML_BODY,	/* body of a text/html part: its source */
	SIFT_FIELD_KIND_RAW_BODY,	/* body Dovecot reads differently */
	/* text of an attachment extracted by a decoder (fts_decoder,
	   fts_tika), which Dovecot's own search can't read: it counts as
	   body text (README, "Attachments") */
	SIFT_FIELD_KIND_DECODED,
	SIFT_FIELD_KIND_HEADER,		/* top-level header */
	SIFT_FIELD_KIND_MIME_HEADER,	/* header of a MIME part */
};

enum sift_untrusted {
	SIFT_UNTRUSTED_BODY = 0x01,
	SIFT_UNTRUSTED_HEADERS = 0x02,
	SIFT_UNTRUSTED_TEXT = 0x04,
};

/* text: the text pipeline (normalization, segmentation); fold_accents:
   fts_sift_fold_accents.  The builder keeps its buffers from one
   document to the next. */
struct sift_doc_builder *
sift_doc_builder_new(struct sift_text *text, bool fold_accents);
void sift_doc_builder_free(struct sift_doc_builder **b);

/* Start the document of uid (the previous one must be finished or
   discarded).  Returns 0, or -1 with error_r. */
int sift_doc_builder_begin(struct sift_doc_builder *b, uint32_t uid,
			   const char **error_r);
/* Is a document being built? */
bool sift_doc_builder_active(const struct sift_doc_builder *b);
uint32_t sift_doc_builder_uid(const struct sift_doc_builder *b);

/* One field: begin, data (any number of pieces), end.  hdr_name: the
   header's name for the header kinds.  A failure at begin is returned by
   the field's next data or end. */
void sift_doc_builder_field_begin(struct sift_doc_builder *b,
				  enum sift_field_kind kind,
				  const char *hdr_name);
int sift_doc_builder_field_data(struct sift_doc_builder *b,
				const unsigned char *data, size_t size,
				const char **error_r);
int sift_doc_builder_field_end(struct sift_doc_builder *b,
			       const char **error_r);
/* Part of the current document may not be what Dovecot's own search
   reads: searches of that part let Dovecot check the message. */
void sift_doc_builder_mark_untrusted(struct sift_doc_builder *b,
				     enum sift_untrusted what);

/* End the field still open, if any.  Returns 0, or -1 with error_r. */
int sift_doc_builder_end_field(struct sift_doc_builder *b,
			       const char **error_r);
/* Put the flag terms, the distinct terms with their wdf and the values
   into the document.  Returns 0, or -1 with error_r. */
int sift_doc_builder_finish(struct sift_doc_builder *b,
			    const char **error_r);
/* The document (owned by the builder until sift_doc_builder_discard()). */
struct sift_xdoc *sift_doc_builder_xdoc(struct sift_doc_builder *b);
/* Is the term (P and an opaque token) already in the index?  Asked for an
   opaque token the process has not met in SIFT_OPAQUE_PROMOTE_AT messages
   yet; TRUE makes it that term rather than opaque, as the process's own
   counts would have in a longer run.  Without it (the default), such a
   token is opaque. */
typedef bool sift_doc_builder_term_known_t(void *context, const char *term,
					   size_t len);
void sift_doc_builder_set_term_known(struct sift_doc_builder *b,
				     sift_doc_builder_term_known_t *known,
				     void *context);

/* fts_sift_max_doc_terms: a document stops taking terms once it holds
   this many distinct ones (0: no bound, the default).  The rest of the
   message's text is not indexed, and the fields it was in are flagged:
   body text and MIME part headers ZR (the index may miss some of the
   body: a match found in what was indexed is certain, otherwise Dovecot
   reads the message), top-level headers ZUH and ZUT (Dovecot checks
   every header and TEXT search of it).  Results stay exact; such a
   message costs a read per search its indexed part does not answer,
   unless the search's strings are not in its body at all: the body's
   normalized text is kept for that (SIFT_VALUE_BOUNDED_TEXT, flag ZD;
   up to SIFT_BOUNDED_TEXT_MAX_BYTES).
   Header names (N terms) and flag terms are kept past the bound. */
void sift_doc_builder_set_max_terms(struct sift_doc_builder *b,
				    unsigned int max_terms);
/* Did the current document reach the bound? */
bool sift_doc_builder_bounded(const struct sift_doc_builder *b);

/* The document's opaque tokens, one per line ("tok\n"). */
const char *sift_doc_builder_opaque(const struct sift_doc_builder *b,
				    size_t *len_r);
/* The document's gap keys (sift-phrase-filter.h), in no order. */
const uint64_t *sift_doc_builder_gap_keys(const struct sift_doc_builder *b,
					  unsigned int *count_r);
/* Bytes of field text handed over for this document (for the commit's
   fts_sift_commit_size). */
uoff_t sift_doc_builder_text_bytes(const struct sift_doc_builder *b);
/* The current document's terms so far, and their bytes together
   (before sift_doc_builder_finish() adds its few flag terms; a term of
   a large message may be counted more than once, see DOC_FLUSH_TERMS). */
void sift_doc_builder_term_stats(const struct sift_doc_builder *b,
				 unsigned int *count_r, size_t *bytes_r);
/* Free the document (finished or not). */
void sift_doc_builder_discard(struct sift_doc_builder *b);

#endif

/* sift-plan: how one search string is answered from the index.
   Plain C over sift-text; no Dovecot or Xapian types, so the translation
   rules are unit-tested on their own.

   Dovecot's own search (the oracle) finds a string as a substring of the
   normalized text of a field.  The index holds normalized words
   (sift-text tokens).  A plan says what the index can decide:

   - SIFT_PLAN_WORD: the normalized string is exactly one token of a
     script ICU segments by rule (not by dictionary).  Every occurrence of
     such a string in a text lies inside one token of that text (UAX #29
     never breaks between letters, digits and combining marks), so "some
     term of the field contains the string" is exact: definite matches,
     no false ones, none missed.
   - SIFT_PLAN_RUN: an address search (FROM/TO/CC/BCC) for a string with
     no space or address punctuation, answered exactly against the
     "runs" of the written address (see sift-doc-builder.c).
   - SIFT_PLAN_RUN_PAIR: an address search for a string whose only
     separator (SIFT_ADDRESS_RUN_SEPARATORS) is one space inside it
     ("Viresh Kumar"): it can only occur across two runs with exactly
     one space between them, and the index keeps each such pair as a
     term (format 11, doc_address_runs() in sift-doc-builder.c), so "some
     address term contains the string" is exact.
   - SIFT_PLAN_CHUNK: any other string without whitespace (dashes, dots,
     punctuation, several words of an unspaced script).  An occurrence
     lies inside one whitespace-free run of the text.  The index holds as
     terms of their own the runs of two or more words and the runs
     without any word, but not a single word with punctuation at its
     edges ("kselftest.", "(foo)": its word is a term already).  So "some
     term of the field contains the whole string" is exact for a string
     of two or more tokens (its runs are all kept), and for fewer it finds
     the certain matches, while the messages with a word holding its
     token (any message, for no token) are candidates.  Fields with runs:
     bodies, Subject, MIME headers.  needles[] holds its tokens, as for
     CANDIDATES, for that and for the fields that only have words.
   - SIFT_PLAN_CANDIDATES: anything else with tokens (phrases, dashes,
     dictionary scripts).  Each token (each character, for dictionary
     scripts) must occur in some term of the field, which narrows to a
     superset; Dovecot verifies those candidates.
   - SIFT_PLAN_CHAR: a BODY search for one character (after
     normalization) that is not whitespace.  The index records each
     distinct character of a body (sift-doc-builder.h), which is exact and far
     cheaper than every term holding it.
   - SIFT_PLAN_EXISTS: HEADER <name> "" tests that the header exists.
   - SIFT_PLAN_UNSUPPORTED: left entirely to Dovecot (no tokens at all,
     e.g. "-" or "", or a header name the index does not key). */
#ifndef SIFT_PLAN_H
#define SIFT_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sift_text;

enum sift_field {
	SIFT_FIELD_BODY,	/* BODY: bodies of text and message parts */
	SIFT_FIELD_TEXT,	/* TEXT: every header and body */
	SIFT_FIELD_HEADER,	/* HEADER <name> <value> */
	SIFT_FIELD_ADDRESS,	/* FROM, TO, CC, BCC */
	SIFT_FIELD_SUBJECT,	/* SUBJECT */
};

enum sift_plan_kind {
	SIFT_PLAN_UNSUPPORTED = 0,
	SIFT_PLAN_EXISTS,
	SIFT_PLAN_WORD,
	SIFT_PLAN_RUN,
	SIFT_PLAN_CHUNK,
	SIFT_PLAN_CANDIDATES,
	SIFT_PLAN_CHAR,
	SIFT_PLAN_RUN_PAIR,
};

/* Most needles a CANDIDATES plan keeps: more only narrows further, and a
   bound keeps hostile search strings cheap.  Keeping fewer needles is
   always safe (the candidate set only grows). */
#define SIFT_PLAN_MAX_NEEDLES 16

struct sift_plan_needle {
	const char *str;	/* points into plan->normalized */
	size_t len;
};

struct sift_plan {
	enum sift_plan_kind kind;
	/* normalized search string (malloc'd, NUL-terminated) */
	char *normalized;
	size_t normalized_len;
	/* WORD, RUN, RUN_PAIR: one needle; CANDIDATES: 1..SIFT_PLAN_MAX_NEEDLES;
	   CHUNK: 0..SIFT_PLAN_MAX_NEEDLES (the string itself is in
	   normalized) */
	struct sift_plan_needle needles[SIFT_PLAN_MAX_NEEDLES];
	unsigned int needle_count;
	/* number of tokens (words) in the normalized string */
	unsigned int token_count;
};

/* Characters that separate address "runs": a RUN needle never contains
   them, and the index splits written address headers at them. */
#define SIFT_ADDRESS_RUN_SEPARATORS " \t\r\n<>\",;:()[]\\"

/* Is c in SIFT_ADDRESS_RUN_SEPARATORS, or NUL?  The same answer as
   strchr(SIFT_ADDRESS_RUN_SEPARATORS, c) != NULL, which finds the
   terminator for NUL (callers have always treated NUL as a separator);
   without the library call, as every indexed address header and its
   check against Dovecot's search form (sift-hdrread.c) test each byte
   (test-sift-plan.c compares the two for all 256 bytes). */
static inline bool sift_is_address_run_separator(char c)
{
	switch (c) {
	case '\0': case ' ': case '\t': case '\r': case '\n':
	case '<': case '>': case '"': case ',': case ';': case ':':
	case '(': case ')': case '[': case ']': case '\\':
		return true;
	default:
		return false;
	}
}

/* Whitespace: the index stores every run of text without these (that is
   not a single word) as a term, so a string without them is found
   exactly (SIFT_PLAN_CHUNK). */
static inline bool sift_is_chunk_separator(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' ||
		c == '\f' || c == '\v';
}
/* The next run of text[*pos..len): *start_r..*end_r, and *pos moves past
   it.  FALSE when only whitespace is left. */
static inline bool sift_next_run(const char *text, size_t len, size_t *pos,
				 size_t *start_r, size_t *end_r)
{
	size_t i = *pos;

	while (i < len && sift_is_chunk_separator(text[i]))
		i++;
	if (i >= len) {
		*pos = i;
		return false;
	}
	*start_r = i;
	while (i < len && !sift_is_chunk_separator(text[i]))
		i++;
	*end_r = *pos = i;
	return true;
}

/* Longer words and runs are stored as overlapping windows: strings of up
   to this many bytes are still found exactly in them. */
#define SIFT_WINDOW_SAFE_NEEDLE 100

/* Build the plan for searching value in field.  Returns 0, or -1 with a
   message in error_r on an internal failure (ICU, memory).  The plan must be
   freed with sift_plan_free() in both cases. */
int sift_plan_build(struct sift_text *text, enum sift_field field,
		    const char *value, size_t value_len,
		    struct sift_plan *plan_r, const char **error_r);
void sift_plan_free(struct sift_plan *plan);

/* Is the plan's normalized string one character? */
bool sift_plan_is_one_char(const struct sift_plan *plan);
const char *sift_plan_kind_str(enum sift_plan_kind kind);

/* Is name usable as a per-header index key?  (ASCII printable without
   ':' or space, 1..64 bytes.)  Headers with other names are indexed only
   for TEXT, and HEADER searches for them are left to Dovecot. */
bool sift_header_name_is_keyable(const char *name, size_t len);

#ifdef __cplusplus
}
#endif
#endif

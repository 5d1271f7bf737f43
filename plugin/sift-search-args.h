/* sift-search-args: what the index does with Dovecot's search arguments,
   decided from the arguments and the backend's settings alone - never
   from a mailbox or an index.

   - sift_leaf_recipe_build(): for one leaf, whether the index answers it
     at all, and if so how (which terms, whether a matching term is a
     certain match or a candidate for Dovecot to check);
   - sift_search_args_mark_answerable(): match_always on exactly the
     leaves of a level the recipes answer;
   - sift_leaf_add_doubts(): which messages' answers become "maybe"
     because of how they were indexed (flag terms);
   - sift_level_*(): NOT, and the AND/OR of a level's answered leaves
     into the level's definite and maybe UIDs.

   sift-query.c only executes recipes against an index, so the leaves a
   lookup answers and the leaves marked answerable are the same by
   construction (if they diverged, Dovecot would panic in lookup_multi:
   "incompatible fts backends").  Everything here is unit-tested with
   constructed mail_search_arg trees (tests/unit/test-sift-search-args.c),
   without an index or a Dovecot. */
#ifndef SIFT_SEARCH_ARGS_H
#define SIFT_SEARCH_ARGS_H

#include "seq-range-array.h"
#include "sift-plan.h"
#include "sift-terms.h"

struct mail_search_arg;
struct sift_text;
struct sift_hdrfilter;

/* What the decisions depend on besides the argument: one backend's
   settings. */
struct sift_args_env {
	struct sift_text *text;
	/* the headers Dovecot's fts plugin hands over; NULL: every one */
	const struct sift_hdrfilter *hdrfilter;
	/* attachment text is indexed (fts_decoder, fts_tika) */
	bool decoded_attachments;
	/* fts_sift_fold_accents */
	bool fold_accents;
};

/* How the index answers one leaf.  "Definite": certainly true; "maybe":
   Dovecot checks the message; every other indexed message is certainly
   false. */
enum sift_leaf_step {
	/* nothing to look up with, but decoded attachments that Dovecot
	   can't read: every message is maybe (the attachments' text
	   settles some of them, sift_query_decoded()) */
	SIFT_STEP_ALL_MAYBE,
	/* HEADER <name> "": messages with the header name are definite */
	SIFT_STEP_EXISTS,
	/* a term of the families holds the needle: definite if exact,
	   else maybe */
	SIFT_STEP_MATCH,
	/* a term of the families holds the whole string: definite (the
	   families hold runs); if chunk_candidates, messages with a term
	   holding its tokens are maybe as well */
	SIFT_STEP_CHUNK,
	/* TEXT, a string without whitespace: as SIFT_STEP_CHUNK over the
	   fields with runs (without address runs if addr_punct), the
	   pooled headers (and address runs, if addr_punct) give maybe */
	SIFT_STEP_TEXT_CHUNK,
	/* messages with a term holding each needle: maybe */
	SIFT_STEP_CANDIDATES,
	/* as CANDIDATES, narrowed first by the field's gap filters */
	SIFT_STEP_PHRASE,
	/* BODY of one character: the body's characters, definite */
	SIFT_STEP_CHAR,
	/* TEXT, a phrase on one line: Dovecot's TEXT search restarts at
	   every MIME part and reads a part's headers and body as lines, so
	   a string without a line break lies in one header or in one body;
	   maybe: the bodies as SIFT_STEP_PHRASE (gap filters), and the
	   messages with each needle in the headers' terms
	   (SIFT_FAMILIES_TEXT_HEADERS) */
	SIFT_STEP_TEXT_PHRASE,
};

struct sift_leaf_recipe {
	enum sift_field field;
	/* the plan (accents folded when that leaves it exact) */
	struct sift_plan plan;
	/* the normalized string as written (accents kept): what decoded
	   attachment text is compared with; "" for an empty search */
	const char *searched;
	size_t searched_len;
	enum sift_leaf_step step;
	/* the term families the step reads */
	const struct sift_termfiles_prefix *prefixes;
	unsigned int prefix_count;
	struct sift_termfiles_prefix header_prefix;
	/* MATCH: a matching term is a certain match */
	bool exact;
	/* HEADER of a hashed header (SIFT_HEADER_HASHED): prefixes are its
	   key's, and the step's definite matches are certain only in
	   messages without another header name of the same key; the
	   instances pooled for their opaque tokens give maybe
	   (sift_query_hashed() in sift-query.c).  key_name: the normalized
	   name. */
	bool hashed;
	const char *key_name;
	size_t key_name_len;
	/* CHUNK, TEXT_CHUNK: the string may also lie in a single word with
	   punctuation at its edge, whose run is not kept (fewer than two
	   tokens): messages with a word holding its token are maybe */
	bool chunk_candidates;
	/* TEXT_CHUNK: the string has address punctuation */
	bool addr_punct;
	/* EXISTS: the normalized header name */
	const char *exists_name;
	size_t exists_name_len;
	/* the flag terms may make matches (or non-matches) uncertain
	   (sift_leaf_add_doubts()) */
	bool doubts;
	/* HTML bodies may hold the string across two runs: the caller
	   passes their candidates to sift_leaf_add_doubts() */
	bool html_split;
	/* decoded attachment text settles maybe messages
	   (sift_query_decoded()) */
	bool check_decoded;
};

/* Is the argument a text search the index may answer (BODY, TEXT,
   HEADER*) and not marked no_fts?  Everything else (dates, flags,
   sequence sets, sizes, sub-lists, ...) is Dovecot's. */
bool sift_search_arg_is_ours(const struct mail_search_arg *arg);
enum sift_field sift_search_arg_field(const struct mail_search_arg *arg);

/* Returns 1 and fills recipe_r when the index answers arg, 0 if it is
   left to Dovecot, -1 with error_r on an internal failure (ICU, memory).
   Depends on arg and env only.  After 1, free the recipe with
   sift_leaf_recipe_free(); it also uses the data stack. */
int sift_leaf_recipe_build(const struct sift_args_env *env,
			   const struct mail_search_arg *arg,
			   struct sift_leaf_recipe *recipe_r,
			   const char **error_r);
void sift_leaf_recipe_free(struct sift_leaf_recipe *recipe);

/* Set match_always on exactly the arguments of this level (the list, not
   the levels below it: Dovecot makes one lookup per level) for which
   sift_leaf_recipe_build() returns 1, and on the date leaves the index
   answers (sift_search_arg_is_date()). */
void sift_search_args_mark_answerable(const struct sift_args_env *env,
				      struct mail_search_arg *args);

/* After a lookup of this level: move the leaves it answered
   (match_always) ahead of the leaves Dovecot evaluates itself, keeping
   each group's order.  Dovecot checks a message's arguments in list
   order and stops at the first false one (mail_search_args_foreach()),
   so "SINCE d BODY x" made it read every message's date from its cache
   before looking at the index's answer; answered first, a message the
   index rules out costs nothing more.  AND and OR are commutative, so the
   result is the same.

   Only leaves are moved, and only among the types that never carry a
   match_always/nonmatch_always of Dovecot's own before the lookup (dates,
   sizes, text and header searches): the fts plugin serialized those
   flags by position before the lookup and restores them by position for
   every message (fts-search-serialize.c), so those positions must keep
   what they had.  Sub-lists stay where they are.  A node's contents are
   moved, not the node: the level's first node is Dovecot's list head.

   refs: NULL, or pointers to pointers at leaves of this level that are
   kept elsewhere (the certain leaves the search walk sets per message):
   each is changed to the node its leaf's contents moved to.  Without
   that, such a pointer named whatever leaf moved into its node: the
   walk set the result of "HEADER SUBJECT x" (false) on "BODY x", and
   OR HEADER TO x (OR HEADER SUBJECT x BODY x) lost the messages only
   BODY matched. */
ARRAY_DEFINE_TYPE(sift_arg_ref, struct mail_search_arg **);
void sift_search_args_answered_first(struct mail_search_arg *args,
				     const ARRAY_TYPE(sift_arg_ref) *refs);

/* One leaf's answer: definite and maybe UIDs (disjoint). */
struct sift_leaf {
	ARRAY_TYPE(seq_range) definite, maybe;
};

/* The messages whose flag terms make answers uncertain (sift-terms.h):
   each may be NULL for none. */
struct sift_doubts {
	/* ZL: a term was cut; strings longer than SIFT_WINDOW_SAFE_NEEDLE
	   may be missed */
	const ARRAY_TYPE(seq_range) *truncated;
	/* ZR: a body Dovecot reads in a form that is not indexed */
	const ARRAY_TYPE(seq_range) *raw;
	/* the recipe's html_split candidates */
	const ARRAY_TYPE(seq_range) *html_split;
	/* ZUB, ZUH, ZUT: not even a match is certain */
	const ARRAY_TYPE(seq_range) *untrusted_body;
	const ARRAY_TYPE(seq_range) *untrusted_headers;
	const ARRAY_TYPE(seq_range) *untrusted_text;
};
/* Move to maybe the messages the leaf's field may have missed (unless
   definite) and the definite ones it can't trust. */
void sift_leaf_add_doubts(struct sift_leaf *leaf,
			  const struct sift_leaf_recipe *recipe,
			  const struct sift_doubts *doubts);

/* A level of the argument tree: its answered leaves combined.  The
   universe is UIDs 1..last_uid (see sift-query.c). */
struct sift_level {
	uint32_t last_uid;
	bool and_args;
	unsigned int answered;
	ARRAY_TYPE(seq_range) definite, falses;
};
/* (arrays from the data stack) */
void sift_level_init(struct sift_level *level, bool and_args,
		     uint32_t last_uid);
/* Add an answered leaf; match_not: the leaf is negated (its maybe stay
   maybe, definite and false swap).  Changes leaf. */
void sift_level_add(struct sift_level *level, struct sift_leaf *leaf,
		    bool match_not);
/* Add the level's result to definite and maybe: a message certainly
   true for the level, or neither certainly true nor certainly false.
   Nothing when no leaf was answered. */
void sift_level_result(const struct sift_level *level,
		       ARRAY_TYPE(seq_range) *definite,
		       ARRAY_TYPE(seq_range) *maybe);

#endif

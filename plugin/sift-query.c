/* sift-query.c: answer one level of Dovecot's search arguments.

   Dovecot calls lookup() once per level of the argument tree (the
   top-level AND list, then each OR list and sub-list).  For a level,
   each leaf we can answer gets two UID sets: D, the messages for which
   the leaf is certainly true, and M, the ones Dovecot must check by
   reading the message; every other indexed message is certainly false.
   NOT is applied here (Dovecot takes the result as final).  Dovecot then
   marks all answered leaves of the level together: a message in the
   level's definite set makes them all true, one in neither set makes them
   all false.  So for an AND level the definite set is the intersection
   of the leaves' D, for an OR level the union, and anything that is
   neither certainly true nor certainly false is "maybe".

   The universe is UIDs 1..last_uid: Dovecot applies index results only
   below the first unindexed UID and evaluates newer mail itself; UIDs
   that no longer exist are ignored by Dovecot.

   Relevance scores (SEARCH=FUZZY, RFC 6203).  The answer to a FUZZY key
   is the exact one (always a valid fuzzy answer).  A level with a FUZZY
   key also gets a score for each UID it may match: Xapian's BM25 over
   the terms its FUZZY leaves matched in the dictionary, those inside
   longer words too (at most SIFT_SCORE_MAX_TERMS per leaf, the
   shortest, so a one-letter search stays cheap), 0 without any; a leaf's terms are weighed as one word
   (sift_xdb_score()).  Dovecot keeps the scores of the last search for
   SEARCH RETURN (RELEVANCY) and SORT (RELEVANCY), and merges the levels'
   scores itself: for an AND level it keeps only the UIDs the level
   itself scored (fts-search.c, and it swaps AND and OR for the levels
   below an OR).  So a level with a FUZZY key below it scores every
   document (0 where it has no FUZZY leaf of its own), else the deeper
   scores would be dropped.  Searches without FUZZY compute nothing of
   this. */
/* memmem() */
#define _GNU_SOURCE
#include "lib.h"
#include "array.h"
#include "str.h"
#include "str-sanitize.h"
#include "seq-range-array.h"
#include "time-util.h"
#include "mail-search.h"
#include "mail-storage-private.h"
#include "message-address.h"
#include "sift-text.h"
#include "sift-plan.h"
#include "sift-xapian.h"
#include "fts-backend-sift.h"
#include "sift-index.h"
#include "sift-termfiles.h"
#include "sift-phrase-filter.h"
#include "sift-record.h"
#include "sift-hdrfilter.h"
#include "sift-search-args.h"
#include "sift-dates.h"
#include "sift-doc-builder.h"
#include "sift-query.h"
#include "sift-events.h"

struct sift_query {
	struct sift_fts_backend *backend;
	struct mailbox *box;
	struct sift_index *index;
	struct sift_xdb *db;
	/* the terms and opaque files; NULL if they couldn't be read */
	struct sift_termfiles *dict;
	/* the gaps file, opened for the first phrase */
	struct sift_phrase_filter *gaps;
	bool gaps_failed;
	/* the index failed a read or a check: the first reason, and whether
	   it is damage (not e.g. a snapshot overtaken by a writer) */
	char *failure;
	bool damaged;
	/* a writer's commits overtook the snapshot being read */
	bool overtaken;
	uint32_t last_uid;
	/* NULL, or the UIDs outside which this level's answer can't matter
	   (sift_query_lookup()) */
	const ARRAY_TYPE(seq_range) *scope;
	/* 1 << enum sift_plan_kind of every search string planned (for the
	   lookup event) */
	unsigned int plan_kinds;
	/* messages whose flags make word answers uncertain, computed on
	   first use */
	ARRAY_TYPE(seq_range) raw_docs, truncated_docs, html_docs;
	/* of raw_docs, those whose body text is kept (ZD) */
	ARRAY_TYPE(seq_range) bounded_docs;
	ARRAY_TYPE(seq_range) untrusted_body, untrusted_headers, untrusted_text;
	bool flags_loaded;

	/* a one-word search (SIFT_PLAN_WORD) is being matched: the runs
	   holding it add nothing to its words (sift_query_drop_runs()) */
	bool words_only;
	/* while a FUZZY leaf is evaluated: every term its matches used
	   (sift_query_match()); NULL otherwise */
	ARRAY_TYPE(sift_termfiles_term) *collect;
	/* how many of them score it at most */
	unsigned int collect_max;
	/* the terms to score the level's UIDs with, and for each the
	   number of its leaf (a leaf's terms are weighed as one word) */
	ARRAY_TYPE(sift_termfiles_term) score_terms;
	ARRAY_TYPE(uint) score_groups;

	/* NULL, or where the level's certain leaves go (allocated from
	   certain_pool): sift_query_lookup() */
	ARRAY_TYPE(sift_leaf_certain) *certain;
	pool_t certain_pool;
};

/* A phrase with at most this many candidates left is handed to Dovecot
   without narrowing it further: checking a message costs it about 0.15 ms,
   another pass over the terms tens of ms. */
#define SIFT_PHRASE_FEW_CANDIDATES 200
/* A phrase's needle in at most this many terms is read before the gap
   filters (sift_query_phrase_seed()): its postings are then about as
   few as the messages holding it.  Beyond, probing every message's
   filter is cheaper than reading the postings of that many terms. */
#define SIFT_PHRASE_SEED_TERMS 512
/* ... and a needle in more terms too, while more than this many messages
   are left to probe: the filters let about 1% of the messages without
   the phrase through (5 bits a key, two keys a gap, and messages with a
   like gap), so past SIFT_PHRASE_FEW_CANDIDATES * 128 messages
   sift_query_needles() reads those postings after the filters anyway;
   read first, they spare probing the messages without the word (at
   300,000 messages, "Fix two": probing all 300,002 filters, about 0.2 s,
   then the postings of "fix" and "two"). */
#define SIFT_PHRASE_SEED_ALL (SIFT_PHRASE_FEW_CANDIDATES * 128)

/* Scoring terms per FUZZY leaf (the shortest) and per level.  A string
   inside words matches as many terms as there are distinct words and
   runs holding it, and a message whose matching words are left out gets
   no score.  On 10,000 kselftest messages "kunit" is in 2,403 terms (614
   of them words: kunit_run_test, kunit_test_suites, ...), "selft" in
   4,573 (92 words; runs weigh nothing and sift_xdb_score() drops them).
   The cap keeps a hostile search ("FUZZY TEXT e" matches most of the
   dictionary) to a bounded Xapian query. */
#define SIFT_SCORE_MAX_TERMS 4096
#define SIFT_SCORE_MAX_LEVEL_TERMS 16384
/* ... except for a one-character search ("FUZZY BODY e"), which every
   word holding the character matches: weighing thousands of them costs
   ten times the search itself and says no more than the shortest few. */
#define SIFT_SCORE_CHAR_TERMS 256

static void uids_to_seq_range(const struct sift_uids *uids,
			      ARRAY_TYPE(seq_range) *dest)
{
	size_t i = 0;

	while (i < uids->count) {
		size_t j = i;
		while (j + 1 < uids->count &&
		       uids->uids[j + 1] == uids->uids[j] + 1)
			j++;
		seq_range_array_add_range(dest, uids->uids[i], uids->uids[j]);
		i = j + 1;
	}
}

/* The index can't answer this lookup: Dovecot will (see
   sift_query_fallback()).  damaged: the index itself is at fault. */
static void sift_query_fail(struct sift_query *q, const char *reason,
			    bool damaged)
{
	if (q->failure == NULL)
		q->failure = i_strdup(reason);
	q->damaged = q->damaged || damaged;
}

static void sift_query_index_error(struct sift_query *q,
				   enum sift_xstatus status, const char *error)
{
	/* a reader whose snapshot a writer overtook, or no memory, is not
	   damage; any other failure to read the tables is.  (Overtaken
	   only if that is the failure reported.) */
	if (q->failure == NULL && status == SIFT_X_MODIFIED)
		q->overtaken = TRUE;
	sift_query_fail(q, error, status != SIFT_X_MODIFIED &&
			status != SIFT_X_NOMEM);
}

/* Did the side files scanned so far pass their checks?  (Their records
   are verified before their first scan; see sift_termfiles_damage().) */
static bool sift_query_dict_ok(struct sift_query *q)
{
	const char *damage = q->dict == NULL ? NULL :
		sift_termfiles_damage(q->dict);
	const char *read_error = q->dict == NULL ? NULL :
		sift_termfiles_read_error(q->dict);
	const char *warning = q->dict == NULL ? NULL :
		sift_termfiles_grams_warning(q->dict);

	if (warning != NULL)
		e_warning(q->backend->event, "%s", warning);
	if (read_error != NULL) {
		/* (not damage: Dovecot answers, the index stays) */
		sift_query_fail(q, read_error, FALSE);
		return FALSE;
	}
	if (damage == NULL)
		return TRUE;
	sift_query_fail(q, damage, TRUE);
	return FALSE;
}

/* End of a wrapper call that filled uids: on success add them to dest;
   either way free them.  Returns 0, or -1 with the error logged. */
static int sift_query_uids_result(struct sift_query *q,
				  enum sift_xstatus status, const char *error,
				  struct sift_uids *uids,
				  ARRAY_TYPE(seq_range) *dest)
{
	if (status == SIFT_X_OK)
		uids_to_seq_range(uids, dest);
	else
		sift_query_index_error(q, status, error);
	sift_uids_free(uids);
	return status == SIFT_X_OK ? 0 : -1;
}

/* Without a complete dictionary: add to q->collect the shortest
   SIFT_SCORE_MAX_TERMS terms of the prefix family that match needle. */
static enum sift_xstatus
sift_query_list_terms(struct sift_query *q,
		      const struct sift_termfiles_prefix *prefix,
		      const char *needle, size_t needle_len,
		      enum sift_match match, const char **error_r)
{
	struct sift_buf buf = { NULL, 0, 0 };
	struct sift_termfiles_term *term;
	enum sift_xstatus status;
	const char *p, *end, *nl;

	status = sift_xdb_list_terms(q->db, prefix->prefix, prefix->sep,
				     needle, needle_len, match,
				     SIFT_SCORE_MAX_TERMS, &buf, error_r);
	if (status == SIFT_X_OK && buf.len > 0) {
		for (p = buf.data, end = buf.data + buf.len; p < end;
		     p = nl + 1) {
			nl = memchr(p, '\n', end - p);
			if (nl == NULL)
				break;
			term = array_append_space(q->collect);
			term->len = nl - p;
			term->str = t_strndup(p, term->len);
		}
	}
	sift_buf_free(&buf);
	return status;
}

/* For a FUZZY leaf answered without the dictionary (SIFT_PLAN_CHAR): add
   to q->collect the terms holding needle, which score its matches.
   Returns 0 or -1 (logged). */
static int
sift_query_collect_terms(struct sift_query *q,
			 const struct sift_termfiles_prefix *prefixes,
			 unsigned int prefix_count, const char *needle,
			 size_t needle_len)
{
	const char *error;
	enum sift_xstatus status = SIFT_X_OK;

	if (q->dict != NULL && sift_termfiles_terms_complete(q->dict)) {
		sift_termfiles_match_terms(q->dict, prefixes, prefix_count,
				      needle, needle_len, q->collect);
		return sift_query_dict_ok(q) ? 0 : -1;
	}
	for (unsigned int i = 0; i < prefix_count && status == SIFT_X_OK; i++) {
		status = sift_query_list_terms(q, &prefixes[i], needle,
					       needle_len,
					       SIFT_MATCH_SUBSTRING, &error);
	}
	if (status != SIFT_X_OK) {
		sift_query_index_error(q, status, error);
		return -1;
	}
	return 0;
}

/* Drop the runs from terms, for a search string that is one token (a
   SIFT_PLAN_WORD needle).  Every occurrence of such a string lies inside
   one token of the text (sift-plan.h), and each token of a body or of
   Subject or of a keyed header instance is a term of its own (B<word>,
   Hsubject:<word>, K<key>:<word>) beside the runs
   holding it, so the runs' documents are all among those of the words
   they hold.  A term whose rest has a character that is never inside a
   token is a run.  On 30,000 list messages "selftests" is in 8,263 body
   terms, 123 of them words: reading the postings of the 8,140 runs was
   most of such a search.  Other families are kept whole: address runs
   are the only terms of their headers, header names are not tokens. */
static void sift_query_drop_runs(struct sift_query *q,
				 ARRAY_TYPE(sift_termfiles_term) *terms)
{
	struct sift_termfiles_term *t;
	size_t hlen = strlen(SIFT_PREFIX_HDR);
	unsigned int i, n, j = 0;

	t = array_get_modifiable(terms, &n);
	for (i = 0; i < n; i++) {
		const char *rest = NULL, *end = t[i].str + t[i].len, *p;

		if (t[i].len > 0 && t[i].str[0] == SIFT_PREFIX_BODY[0])
			rest = t[i].str + 1;
		else if (t[i].len > hlen &&
			 (memcmp(t[i].str, SIFT_PREFIX_HDR, hlen) == 0 ||
			  memcmp(t[i].str, SIFT_PREFIX_HDR_KEY, hlen) == 0)) {
			rest = memchr(t[i].str + hlen, ':', t[i].len - hlen);
			if (rest != NULL)
				rest++;
		}
		if (rest != NULL) {
			for (p = rest; p < end; p++) {
				if (sift_text_ascii_never_in_token(
					q->backend->text, (unsigned char)*p))
					break;
			}
			if (p < end)
				continue;
		}
		t[j++] = t[i];
	}
	array_delete(terms, j, n - j);
}

/* dest := documents with a term in any of prefixes whose rest matches
   needle.  Substring matches scan the terms file when it is complete (one
   pass over a flat file) and Xapian's term list otherwise.  Returns 0 or
   -1 (logged). */
static int
sift_query_match(struct sift_query *q, const struct sift_termfiles_prefix *prefixes,
		 unsigned int prefix_count, const char *needle,
		 size_t needle_len, enum sift_match match,
		 ARRAY_TYPE(seq_range) *dest)
{
	struct sift_uids uids = { NULL, 0, 0 };
	const char *error = NULL;
	enum sift_xstatus status = SIFT_X_OK;
	bool use_dict = match == SIFT_MATCH_SUBSTRING && q->dict != NULL &&
		sift_termfiles_terms_complete(q->dict);
	ARRAY_TYPE(sift_termfiles_term) terms;
	unsigned int i;

	if (use_dict) {
		t_array_init(&terms, 64);
		sift_termfiles_match_terms(q->dict, prefixes, prefix_count,
				      needle, needle_len, &terms);
		if (q->words_only)
			sift_query_drop_runs(q, &terms);
		/* (copies on the data stack, as long as terms) */
		if (q->collect != NULL)
			array_append_array(q->collect, &terms);
	}
	for (i = 0; i < prefix_count && status == SIFT_X_OK; i++) {
		if (!use_dict) {
			status = sift_xdb_match(q->db, prefixes[i].prefix,
						prefixes[i].sep, needle,
						needle_len, match, &uids,
						NULL, &error);
			if (status == SIFT_X_OK && q->collect != NULL)
				status = sift_query_list_terms(q, &prefixes[i],
					needle, needle_len, match, &error);
		}
		if (q->dict != NULL && match == SIFT_MATCH_SUBSTRING &&
		    strcmp(prefixes[i].prefix, SIFT_PREFIX_HDR_POOL) == 0) {
			/* the pooled headers' opaque tokens are only in the
			   opaque file (see sift-doc-builder.h) */
			sift_termfiles_match_opaque(q->dict, needle, needle_len,
					       dest);
		}
	}
	if (status == SIFT_X_OK && use_dict && array_count(&terms) > 0) {
		const struct sift_termfiles_term *t;
		const char **strs;
		size_t *lens;
		unsigned int n;

		t = array_get(&terms, &n);
		strs = t_new(const char *, n);
		lens = t_new(size_t, n);
		for (i = 0; i < n; i++) {
			strs[i] = t[i].str;
			lens[i] = t[i].len;
		}
		status = sift_xdb_terms_docs(q->db, strs, lens, n, &uids, &error);
	}
	if (sift_query_uids_result(q, status, error, &uids, dest) < 0 ||
	    !sift_query_dict_ok(q))
		return -1;
	return 0;
}

/* Add to dest the documents whose body holds ASCII character c. */
static int sift_query_body_ascii(struct sift_query *q, unsigned char c,
				 ARRAY_TYPE(seq_range) *dest)
{
	struct sift_uids uids = { NULL, 0, 0 };
	const char *error = NULL;
	enum sift_xstatus status;

	status = sift_xdb_value_bit(q->db, SIFT_VALUE_BODY_ASCII, c, &uids,
				    &error);
	return sift_query_uids_result(q, status, error, &uids, dest);
}

/* Add to dest the documents whose body holds the plan's string, one
   character (sift_plan_is_one_char()): from the ASCII map, or the C
   term of another character. */
static int sift_query_body_char(struct sift_query *q,
				const struct sift_plan *plan,
				ARRAY_TYPE(seq_range) *dest)
{
	const struct sift_termfiles_prefix *fam;
	unsigned int fam_count;
	unsigned char c = plan->normalized[0];

	if (plan->normalized_len == 1 && c < 0x80)
		return sift_query_body_ascii(q, c, dest);
	sift_families_get(SIFT_FAMILIES_BODY_CHARS, &fam, &fam_count);
	return sift_query_match(q, fam, fam_count, plan->normalized,
				plan->normalized_len, SIFT_MATCH_EXACT, dest);
}

static int sift_query_load_flags(struct sift_query *q)
{
	const struct sift_termfiles_prefix *none;
	unsigned int none_count;
	const struct {
		const char *term;
		ARRAY_TYPE(seq_range) *docs;
	} flags[] = {
		{ SIFT_FLAG_RAW_BODY, &q->raw_docs },
		{ SIFT_FLAG_BOUNDED_TEXT, &q->bounded_docs },
		{ SIFT_FLAG_TRUNCATED, &q->truncated_docs },
		{ SIFT_FLAG_HTML, &q->html_docs },
		{ SIFT_FLAG_UNTRUSTED_BODY, &q->untrusted_body },
		{ SIFT_FLAG_UNTRUSTED_HEADERS, &q->untrusted_headers },
		{ SIFT_FLAG_UNTRUSTED_TEXT, &q->untrusted_text },
	};

	if (q->flags_loaded)
		return 0;
	sift_families_get(SIFT_FAMILIES_FLAGS, &none, &none_count);
	for (unsigned int i = 0; i < N_ELEMENTS(flags); i++) {
		if (sift_query_match(q, none, none_count, flags[i].term,
				     strlen(flags[i].term), SIFT_MATCH_EXACT,
				     flags[i].docs) < 0)
			return -1;
	}
	q->flags_loaded = TRUE;
	return 0;
}

/* dest := dest and src, in one pass over both.  (Dovecot's
   seq_range_array_intersect() removes each gap of src from dest in turn,
   moving the rest of dest's array each time: quadratic for two sets of
   many separate UIDs, 0.5 s for the 146,752 messages holding "functions"
   and those holding "that" at 300,000 messages.) */
static void sift_seq_range_intersect(ARRAY_TYPE(seq_range) *dest,
				     const ARRAY_TYPE(seq_range) *src)
{
	ARRAY_TYPE(seq_range) out;
	const struct seq_range *a, *b;
	unsigned int na, nb, i = 0, j = 0;

	a = array_get(dest, &na);
	b = array_get(src, &nb);
	t_array_init(&out, I_MAX(I_MIN(na, nb), 1));
	while (i < na && j < nb) {
		uint32_t lo = I_MAX(a[i].seq1, b[j].seq1);
		uint32_t hi = I_MIN(a[i].seq2, b[j].seq2);

		if (lo <= hi) {
			struct seq_range *last = array_count(&out) == 0 ? NULL :
				array_back_modifiable(&out);

			/* (adjacent pieces make one range) */
			if (last != NULL && last->seq2 + 1 == lo)
				last->seq2 = hi;
			else {
				struct seq_range r = { .seq1 = lo, .seq2 = hi };

				array_push_back(&out, &r);
			}
		}
		if (a[i].seq2 < b[j].seq2)
			i++;
		else
			j++;
	}
	array_clear(dest);
	array_append_array(dest, &out);
}

/* What sift_query_phrase_seed() learned of a phrase's needles (bits in
   plan order): the dictionary's terms holding each needle it looked up
   (known), and the needles whose messages it intersected (applied). */
struct sift_phrase_terms {
	ARRAY_TYPE(sift_termfiles_term) terms[SIFT_PLAN_MAX_NEEDLES];
	uint32_t known, applied;
};

/* dest := the documents holding any of terms (from the dictionary). */
static int sift_query_terms_docs(struct sift_query *q,
				 const ARRAY_TYPE(sift_termfiles_term) *terms,
				 ARRAY_TYPE(seq_range) *dest)
{
	struct sift_uids uids = { NULL, 0, 0 };
	const struct sift_termfiles_term *t;
	const char *error = NULL, **strs;
	enum sift_xstatus status;
	unsigned int i, n;
	size_t *lens;

	t = array_get(terms, &n);
	strs = t_new(const char *, n + 1);
	lens = t_new(size_t, n + 1);
	for (i = 0; i < n; i++) {
		strs[i] = t[i].str;
		lens[i] = t[i].len;
	}
	status = sift_xdb_terms_docs(q->db, strs, lens, n, &uids, &error);
	return sift_query_uids_result(q, status, error, &uids, dest);
}

/* Narrow found with the plan's needles, longest first: each must occur
   in some term of the prefixes.  Unless filtered (found already holds the
   messages a phrase's gap filters let through), found starts as the
   first needle's messages.  Each needle costs a pass over the terms and
   the postings of every term holding it, tens of ms for a common or short
   one ("s", "do", "test"); where Dovecot checking a few more candidates
   is cheaper, the rest are skipped.  Skipping only keeps more
   candidates.  With pt (a phrase), the needles it applied already
   narrowed found, and those it knows the terms of are not looked up in
   the dictionary again (sift_query_phrase_seed()). */
static int sift_query_needles(struct sift_query *q,
			      const struct sift_plan *plan,
			      const struct sift_termfiles_prefix *prefixes,
			      unsigned int prefix_count, bool filtered,
			      const struct sift_phrase_terms *pt,
			      ARRAY_TYPE(seq_range) *found)
{
	ARRAY_TYPE(seq_range) one_needle;

	t_array_init(&one_needle, 64);
	for (unsigned int i = 0; i < plan->needle_count; i++) {
		size_t len = plan->needles[i].len, first = plan->needles[0].len;

		/* (a FUZZY phrase needs its words' terms for the scores,
		   however few candidates are left) */
		if (filtered && q->collect == NULL &&
		    seq_range_count(found) <= SIFT_PHRASE_FEW_CANDIDATES)
			break;
		if (i > 0 && (filtered ?
			      (len <= 1 || (len <= 2 && first >= 3)) :
			      (len <= 2 && first >= 4)))
			break;
		if (pt != NULL && (pt->applied & (1U << i)) != 0)
			continue;
		array_clear(&one_needle);
		if (pt != NULL && (pt->known & (1U << i)) != 0) {
			if (sift_query_terms_docs(q, &pt->terms[i],
						  &one_needle) < 0)
				return -1;
		} else if (sift_query_match(q, prefixes, prefix_count,
					    plan->needles[i].str, len,
					    SIFT_MATCH_SUBSTRING,
					    &one_needle) < 0)
			return -1;
		if (i == 0 && !filtered)
			seq_range_array_merge(found, &one_needle);
		else
			sift_seq_range_intersect(found, &one_needle);
		if (array_count(found) == 0)
			break;
	}
	return 0;
}

/* dest := documents where each of the plan's needles occurs in some term
   of the prefixes: a superset of the matches. */
static int sift_query_candidates(struct sift_query *q,
				 const struct sift_plan *plan,
				 const struct sift_termfiles_prefix *prefixes,
				 unsigned int prefix_count,
				 ARRAY_TYPE(seq_range) *dest)
{
	ARRAY_TYPE(seq_range) found;

	if (plan->needle_count == 0) {
		/* nothing to narrow with */
		if (q->last_uid > 0)
			seq_range_array_add_range(dest, 1, q->last_uid);
		return 0;
	}
	t_array_init(&found, 64);
	if (sift_query_needles(q, plan, prefixes, prefix_count, FALSE, NULL,
			       &found) < 0)
		return -1;
	seq_range_array_merge(dest, &found);
	return 0;
}

/* SIFT_STEP_CHUNK: the terms containing the whole string are certain
   matches; with chunk_candidates, messages with a word holding its token
   are candidates too (sift-search-args.h). */
static int sift_query_chunk(struct sift_query *q, const struct sift_plan *plan,
			    const struct sift_termfiles_prefix *prefixes,
			    unsigned int prefix_count, bool chunk_candidates,
			    struct sift_leaf *leaf)
{
	ARRAY_TYPE(seq_range) cands;

	if (sift_query_match(q, prefixes, prefix_count, plan->normalized,
			     plan->normalized_len, SIFT_MATCH_SUBSTRING,
			     &leaf->definite) < 0)
		return -1;
	if (!chunk_candidates)
		return 0;
	t_array_init(&cands, 64);
	if (sift_query_candidates(q, plan, prefixes, prefix_count,
				  &cands) < 0)
		return -1;
	seq_range_array_remove_seq_range(&cands, &leaf->definite);
	seq_range_array_merge(&leaf->maybe, &cands);
	return 0;
}

/* The recipe's html_split (sift-search-args.h): the documents flagged ZH
   whose bodies have the string's words are candidates (all of them, for
   a string without words). */
static int sift_query_html_split(struct sift_query *q,
				 const struct sift_plan *plan,
				 ARRAY_TYPE(seq_range) *dest)
{
	const struct sift_termfiles_prefix *body;
	unsigned int body_count;

	if (array_count(&q->html_docs) == 0)
		return 0;
	sift_families_get(SIFT_FAMILIES_BODY, &body, &body_count);
	if (sift_query_candidates(q, plan, body, body_count, dest) < 0)
		return -1;
	seq_range_array_intersect(dest, &q->html_docs);
	return 0;
}

/* dest += the messages where a string without whitespace (a CHUNK plan)
   may lie inside one run of a pooled header, or inside an opaque run of
   a hashed header's instance whose opaque part was pooled
   (doc_hashed_tokens() in sift-doc-builder.c; its other runs are the
   key's terms).  Each token of the string lies inside one word of that
   run.  In such a run every word of SIFT_OPAQUE_RUN_MIN_TOKEN bytes or
   more is in the opaque record or a P term (the pool), a shorter one is
   a P term in a pooled header and a key's term in a hashed one: so the
   string's long tokens are in the pool, and without such a token its
   tokens are in the pool or keys (the families extra, extra_count).
   Returns 0 or -1 (logged). */
static int sift_query_pool_chunk(struct sift_query *q,
				 const struct sift_plan *plan,
				 const struct sift_termfiles_prefix *extra,
				 unsigned int extra_count,
				 ARRAY_TYPE(seq_range) *dest)
{
	const struct sift_termfiles_prefix *pool;
	struct sift_termfiles_prefix *both;
	unsigned int pool_count;
	struct sift_plan long_plan;

	sift_families_get(SIFT_FAMILIES_POOL, &pool, &pool_count);
	long_plan = *plan;
	long_plan.needle_count = 0;
	for (unsigned int i = 0; i < plan->needle_count; i++) {
		if (plan->needles[i].len >= SIFT_OPAQUE_RUN_MIN_TOKEN)
			long_plan.needles[long_plan.needle_count++] =
				plan->needles[i];
	}
	if (long_plan.needle_count > 0)
		return sift_query_candidates(q, &long_plan, pool, pool_count,
					     dest);
	both = t_new(struct sift_termfiles_prefix, pool_count + extra_count);
	memcpy(both, pool, sizeof(*pool) * pool_count);
	memcpy(both + pool_count, extra, sizeof(*extra) * extra_count);
	return sift_query_candidates(q, plan, both, pool_count + extra_count,
				     dest);
}

/* SIFT_STEP_TEXT_CHUNK: the fields with runs answer exactly and the
   pooled headers and pooled parts give candidates
   (sift_query_pool_chunk()); so do address runs for a string with
   address punctuation (their runs are split at it). */
static int sift_query_text_chunk(struct sift_query *q,
				 const struct sift_leaf_recipe *r,
				 struct sift_leaf *leaf)
{
	const struct sift_termfiles_prefix *runs, *keys, *addr;
	unsigned int runs_count, keys_count, addr_count;

	sift_families_get(r->addr_punct ? SIFT_FAMILIES_TEXT_RUNS_NO_ADDR :
			  SIFT_FAMILIES_TEXT_RUNS, &runs, &runs_count);
	sift_families_get(SIFT_FAMILIES_HDR_KEYS, &keys, &keys_count);
	sift_families_get(SIFT_FAMILIES_ADDR_RUNS, &addr, &addr_count);
	if (sift_query_chunk(q, &r->plan, runs, runs_count,
			     r->chunk_candidates, leaf) < 0)
		return -1;
	/* a body keeps no run of one character alone (doc_run() in
	   sift-doc-builder.c): its characters answer */
	if (sift_plan_is_one_char(&r->plan) &&
	    sift_query_body_char(q, &r->plan, &leaf->definite) < 0)
		return -1;
	if (sift_query_pool_chunk(q, &r->plan, keys, keys_count,
				  &leaf->maybe) < 0)
		return -1;
	if (r->addr_punct &&
	    sift_query_candidates(q, &r->plan, addr, addr_count,
				  &leaf->maybe) < 0)
		return -1;
	seq_range_array_remove_seq_range(&leaf->maybe, &leaf->definite);
	return 0;
}

/* Drop from maybe the messages whose filter lacks one of the gap keys
   (sift-phrase-filter.h).  Only ever removes messages that don't match; on any
   problem it removes nothing. */
static void sift_query_gap_filter(struct sift_query *q,
				  const ARRAY_TYPE(sift_gap_key) *keys,
				  ARRAY_TYPE(seq_range) *maybe)
{
	const uint64_t *k;
	unsigned int n, before;
	const char *error;

	if (array_count(maybe) == 0 || q->gaps_failed)
		return;
	if (q->gaps == NULL) {
		int ret = sift_phrase_filter_open(sift_index_get_path(q->index),
				&sift_index_get_files(q->index)->gaps,
				&q->gaps, &error);
		if (ret <= 0) {
			/* not narrowing is slower, not wrong; but a
			   damaged file must be reported and rebuilt */
			if (ret == 0)
				sift_query_fail(q, error, TRUE);
			else
				e_warning(q->backend->event, "%s", error);
			q->gaps_failed = TRUE;
			return;
		}
	}
	k = array_get(keys, &n);
	before = seq_range_count(maybe);
	sift_phrase_filter_apply(q->gaps, k, n, maybe);
	e_debug(q->backend->event, "Phrase filter: %u -> %u candidates",
		before, seq_range_count(maybe));
}

/* found := the messages whose gap filters a phrase is to be checked in.
   Probing a message's filter reads its record of the gaps file (a few
   hundred bytes), so probing every message reads the whole file, which
   grows with the mailbox.  A needle of the phrase in few terms of the
   dictionary (cheap to find: sift-gramfilter.h) is in few enough
   messages that reading its postings is cheaper than probing the
   messages without it; only messages holding every needle can match.
   So the postings of each such needle are read and intersected (the
   fewest terms first), then those of the other needles while more than
   SIFT_PHRASE_SEED_ALL messages are left, and the filters checked in
   the messages left alone; with none, every message.  pt gets the terms of each needle
   looked up and which needles found is within (for sift_query_needles()).
   Only ever leaves out messages that can't match.  Returns 0 or -1
   (logged). */
/* The rest of a term of one of the families (after its prefix, and its
   sep if it has one), or NULL if it is in none. */
static const char *
sift_term_rest(const struct sift_termfiles_prefix *prefixes,
	       unsigned int prefix_count, const char *term, size_t len,
	       size_t *rest_len_r)
{
	for (unsigned int k = 0; k < prefix_count; k++) {
		size_t plen = strlen(prefixes[k].prefix);
		const char *rest;

		if (len < plen || memcmp(term, prefixes[k].prefix, plen) != 0)
			continue;
		rest = term + plen;
		if (prefixes[k].sep != '\0') {
			rest = memchr(rest, prefixes[k].sep, len - plen);
			if (rest == NULL)
				continue;
			rest++;
		}
		*rest_len_r = len - (rest - term);
		return rest;
	}
	return NULL;
}

/* A phrase's word that whitespace follows in the search string ends a
   word of any text holding the phrase, and one that whitespace precedes
   starts one.  For a needle of ASCII letters and digits only, whose
   occurrence lies inside one token of the text (UAX #29 never breaks
   between those) and so ends (starts) where that token does (whitespace
   always ends a token), only the terms whose rest ends (starts) with it
   can hold the occurrence: drop the others from terms.  A long word is
   kept as windows (doc_add_term()), the first starting it and the last
   ending it, each holding any needle up to SIFT_WINDOW_SAFE_NEEDLE
   bytes; a term in no family is kept.  The rest is a superset of the
   messages holding the phrase, as before, but far smaller for short
   words: for "fix two" the terms "fixes" and "network" are dropped,
   whose messages are most of a kernel list. */
static void sift_phrase_anchor_terms(const struct sift_plan *plan,
				     unsigned int i,
				     const struct sift_termfiles_prefix *prefixes,
				     unsigned int prefix_count,
				     ARRAY_TYPE(sift_termfiles_term) *terms)
{
	const struct sift_plan_needle *n = &plan->needles[i];
	size_t off = n->str - plan->normalized, rest_len;
	struct sift_termfiles_term *t;
	unsigned int j, count, kept = 0;
	const char *rest;
	bool starts, ends;

	if (n->len == 0 || n->len > SIFT_WINDOW_SAFE_NEEDLE ||
	    n->str < plan->normalized ||
	    off + n->len > plan->normalized_len)
		return;
	for (size_t k = 0; k < n->len; k++) {
		unsigned char c = n->str[k];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9')))
			return;
	}
	starts = off > 0 &&
		sift_is_chunk_separator(plan->normalized[off - 1]);
	ends = off + n->len < plan->normalized_len &&
		sift_is_chunk_separator(plan->normalized[off + n->len]);
	if (!starts && !ends)
		return;
	t = array_get_modifiable(terms, &count);
	for (j = 0; j < count; j++) {
		rest = sift_term_rest(prefixes, prefix_count, t[j].str,
				      t[j].len, &rest_len);
		if (rest != NULL &&
		    (rest_len < n->len ||
		     (starts && memcmp(rest, n->str, n->len) != 0) ||
		     (ends && memcmp(rest + rest_len - n->len, n->str,
				     n->len) != 0)))
			continue;
		t[kept++] = t[j];
	}
	array_delete(terms, kept, count - kept);
}

static int sift_query_phrase_seed(struct sift_query *q,
				  const struct sift_plan *plan,
				  const struct sift_termfiles_prefix *prefixes,
				  unsigned int prefix_count,
				  ARRAY_TYPE(seq_range) *found,
				  struct sift_phrase_terms *pt)
{
	ARRAY_TYPE(seq_range) one;
	unsigned int order[SIFT_PLAN_MAX_NEEDLES];
	unsigned int i, j, n, used = 0, count = 0, cheap = 0;

	i_zero(pt);
	if (q->dict == NULL || !sift_termfiles_terms_complete(q->dict) ||
	    q->collect != NULL) {
		seq_range_array_add_range(found, 1, q->last_uid);
		return 0;
	}
	for (i = 0; i < plan->needle_count; i++) {
		/* (needles of one or two bytes are in most terms) */
		if (plan->needles[i].len < 3)
			continue;
		t_array_init(&pt->terms[i], 64);
		sift_termfiles_match_terms(q->dict, prefixes, prefix_count,
					   plan->needles[i].str,
					   plan->needles[i].len, &pt->terms[i]);
		if (!sift_query_dict_ok(q))
			return -1;
		sift_phrase_anchor_terms(plan, i, prefixes, prefix_count,
					 &pt->terms[i]);
		pt->known |= 1U << i;
		n = array_count(&pt->terms[i]);
		if (n <= SIFT_PHRASE_SEED_TERMS)
			cheap++;
		/* insertion by term count: the fewest first */
		for (j = count; j > 0 &&
		     array_count(&pt->terms[order[j - 1]]) > n; j--)
			order[j] = order[j - 1];
		order[j] = i;
		count++;
		if (n == 0)
			break;
	}
	t_array_init(&one, 64);
	for (j = 0; j < count; j++) {
		i = order[j];
		if (j >= cheap &&
		    (used == 0 ? q->last_uid : seq_range_count(found)) <=
		    SIFT_PHRASE_SEED_ALL)
			break;
		array_clear(&one);
		if (sift_query_terms_docs(q, &pt->terms[i],
					  used == 0 ? found : &one) < 0)
			return -1;
		if (used++ > 0)
			sift_seq_range_intersect(found, &one);
		pt->applied |= 1U << i;
		if (array_count(found) == 0)
			break;
	}
	if (used == 0) {
		seq_range_array_add_range(found, 1, q->last_uid);
		return 0;
	}
	if (q->last_uid < (uint32_t)-1)
		seq_range_array_remove_range(found, q->last_uid + 1,
					     (uint32_t)-1);
	return 0;
}

/* A phrase in a field with gap filters (a body or a keyed header such as
   Subject).  The gap filters of all messages are checked first: a few
   probes per message, cheaper than the postings of even one common word
   ("test" is in thousands of terms); the needles then narrow what is
   left while many candidates remain.  Every step only removes messages
   that can't match. */
static int sift_query_phrase(struct sift_query *q, const struct sift_plan *plan,
			     const struct sift_termfiles_prefix *prefixes,
			     unsigned int prefix_count,
			     ARRAY_TYPE(seq_range) *dest)
{
	ARRAY_TYPE(sift_gap_key) keys;
	ARRAY_TYPE(seq_range) found;
	struct timeval t0, t1, t2, t3;
	unsigned int seeded, filtered;
	struct sift_phrase_terms pt;

	t_array_init(&keys, 8);
	sift_phrase_filter_needle_keys(prefixes[0].prefix, plan->normalized,
			      plan->normalized_len, &keys);
	if (array_count(&keys) == 0 || plan->needle_count == 0 ||
	    q->last_uid == 0)
		return sift_query_candidates(q, plan, prefixes, prefix_count,
					     dest);
	i_gettimeofday(&t0);
	t_array_init(&found, 64);
	if (sift_query_phrase_seed(q, plan, prefixes, prefix_count,
				   &found, &pt) < 0)
		return -1;
	seeded = seq_range_count(&found);
	i_gettimeofday(&t1);
	sift_query_gap_filter(q, &keys, &found);
	filtered = seq_range_count(&found);
	i_gettimeofday(&t2);
	if (sift_query_needles(q, plan, prefixes, prefix_count, TRUE,
			       &pt, &found) < 0)
		return -1;
	i_gettimeofday(&t3);
	/* (the counts after each step, for measurements) */
	e_debug(q->backend->event, "Phrase: %u seed, %u after gap filters, "
		"%u after words; %lld + %lld + %lld us", seeded, filtered,
		seq_range_count(&found), timeval_diff_usecs(&t1, &t0),
		timeval_diff_usecs(&t2, &t1), timeval_diff_usecs(&t3, &t2));
	seq_range_array_merge(dest, &found);
	return 0;
}

/* Decoded attachments (sift-doc-builder.h): Dovecot can't read them, so the
   candidates the terms left open are looked up in the attachments' text
   here; those holding the normalized search string match (as a text
   part holding it would).  The others stay candidates for Dovecot to
   check in what it reads.  Without any decoded text this is one
   lookup. */
static int sift_query_decoded(struct sift_query *q, const char *str,
			      size_t len, struct sift_leaf *leaf)
{
	ARRAY_TYPE(seq_range) found;
	struct sift_uids uids = { NULL, 0, 0 };
	const char *error = NULL;
	enum sift_xstatus status;
	struct seq_range_iter iter;
	uint32_t *cands, uid;
	unsigned int n, i = 0;

	n = seq_range_count(&leaf->maybe);
	/* (a normalized IMAP string has no NUL, which separates parts) */
	if (n == 0 || len == 0 || memchr(str, '\0', len) != NULL)
		return 0;
	cands = t_new(uint32_t, n);
	seq_range_array_iter_init(&iter, &leaf->maybe);
	while (seq_range_array_iter_nth(&iter, i, &uid))
		cands[i++] = uid;
	status = sift_xdb_value_find(q->db, SIFT_VALUE_DECODED, cands, n,
				     str, len, &uids, &error);
	t_array_init(&found, 16);
	if (sift_query_uids_result(q, status, error, &uids, &found) < 0)
		return -1;
	seq_range_array_remove_seq_range(&leaf->maybe, &found);
	seq_range_array_merge(&leaf->definite, &found);
	return 0;
}

/* Look the recipe's terms up: fill leaf.  Returns 0 or -1 (logged). */
static int sift_query_leaf_terms(struct sift_query *q,
				 const struct sift_leaf_recipe *r,
				 struct sift_leaf *leaf)
{
	const struct sift_plan *plan = &r->plan;
	const struct sift_termfiles_prefix *fam;
	unsigned int fam_count;

	switch (r->step) {
	case SIFT_STEP_ALL_MAYBE:
		if (q->last_uid > 0)
			seq_range_array_add_range(&leaf->maybe, 1, q->last_uid);
		return 0;
	case SIFT_STEP_EXISTS:
		sift_families_get(SIFT_FAMILIES_HDR_NAMES, &fam, &fam_count);
		return sift_query_match(q, fam, fam_count, r->exists_name,
					r->exists_name_len, SIFT_MATCH_EXACT,
					&leaf->definite);
	case SIFT_STEP_MATCH: {
		int ret;

		q->words_only = plan->kind == SIFT_PLAN_WORD;
		ret = sift_query_match(q, r->prefixes, r->prefix_count,
				       plan->needles[0].str,
				       plan->needles[0].len,
				       SIFT_MATCH_SUBSTRING,
				       r->exact ? &leaf->definite :
				       &leaf->maybe);
		q->words_only = FALSE;
		return ret;
	}
	case SIFT_STEP_CHUNK:
		return sift_query_chunk(q, plan, r->prefixes, r->prefix_count,
					r->chunk_candidates, leaf);
	case SIFT_STEP_TEXT_CHUNK:
		return sift_query_text_chunk(q, r, leaf);
	case SIFT_STEP_CANDIDATES:
		return sift_query_candidates(q, plan, r->prefixes,
					     r->prefix_count, &leaf->maybe);
	case SIFT_STEP_PHRASE:
		return sift_query_phrase(q, plan, r->prefixes,
					 r->prefix_count, &leaf->maybe);
	case SIFT_STEP_TEXT_PHRASE:
		sift_families_get(SIFT_FAMILIES_BODY, &fam, &fam_count);
		if (sift_query_phrase(q, plan, fam, fam_count,
				      &leaf->maybe) < 0)
			return -1;
		sift_families_get(SIFT_FAMILIES_TEXT_HEADERS, &fam,
				  &fam_count);
		return sift_query_candidates(q, plan, fam, fam_count,
					     &leaf->maybe);
	case SIFT_STEP_CHAR:
		/* the body's own characters (sift-terms.h) */
		if (sift_query_body_char(q, plan, &leaf->definite) < 0)
			return -1;
		if (q->collect == NULL)
			return 0;
		q->collect_max = SIFT_SCORE_CHAR_TERMS;
		return sift_query_collect_terms(q, r->prefixes,
						r->prefix_count,
						plan->normalized,
						plan->normalized_len);
	}
	i_unreached();
}

/* sift_query_bounded_text(): the strings a body must hold */
struct sift_bounded_check {
	const char *const *strs;
	const size_t *lens;
	unsigned int count;
	ARRAY_TYPE(seq_range) *ruled_out;
};

static void sift_query_bounded_value(void *context, uint32_t uid,
				     const void *data, size_t len)
{
	struct sift_bounded_check *ctx = context;

	for (unsigned int i = 0; i < ctx->count; i++) {
		if (memmem(data, len, ctx->strs[i], ctx->lens[i]) == NULL) {
			seq_range_array_add(ctx->ruled_out, uid);
			return;
		}
	}
}

/* The body doubts of a BODY or TEXT leaf (raw_r, from ZR) without the
   messages whose body can't hold the string: those flagged ZD, past
   fts_sift_max_doc_terms, whose kept body text (SIFT_VALUE_BOUNDED_TEXT)
   lacks one of the plan's needles, or its whole string for a plan whose
   string lies in one run (WORD, CHUNK, CHAR).  Every term of a body is
   a piece of that text, and a match of the string has each needle in
   some term of the body (sift-plan.h), so this rules out only messages
   that can't match; without it Dovecot reads each of them, megabytes
   for every search the indexed part does not answer.  Returns 0 or -1
   (logged). */
static int sift_query_bounded_text(struct sift_query *q,
				   const struct sift_leaf_recipe *r,
				   const struct sift_leaf *leaf,
				   ARRAY_TYPE(seq_range) *raw_r)
{
	const struct sift_plan *plan = &r->plan;
	ARRAY_TYPE(seq_range) cands, ruled_out;
	ARRAY(uint32_t) uids;
	struct sift_bounded_check ctx;
	struct seq_range_iter iter;
	const char **strs;
	size_t *lens;
	unsigned int i, n = 0;
	const char *error = NULL;
	enum sift_xstatus status;
	uint32_t uid;

	array_append_array(raw_r, &q->raw_docs);
	if ((r->field != SIFT_FIELD_BODY && r->field != SIFT_FIELD_TEXT) ||
	    array_count(&q->bounded_docs) == 0)
		return 0;
	strs = t_new(const char *, plan->needle_count + 1);
	lens = t_new(size_t, plan->needle_count + 1);
	switch (plan->kind) {
	case SIFT_PLAN_WORD:
	case SIFT_PLAN_CHUNK:
	case SIFT_PLAN_CHAR:
		if (plan->normalized_len > 0) {
			strs[n] = plan->normalized;
			lens[n++] = plan->normalized_len;
		}
		/* fall through */
	case SIFT_PLAN_CANDIDATES:
		for (i = 0; i < plan->needle_count; i++) {
			if (plan->needles[i].len == 0)
				continue;
			strs[n] = plan->needles[i].str;
			lens[n++] = plan->needles[i].len;
		}
		break;
	default:
		break;
	}
	if (n == 0)
		return 0;
	if (q->backend->set->fold_accents) {
		/* the kept text has no accents either (doc_body_text()) */
		for (i = 0; i < n; i++) {
			char *f = t_malloc_no0(lens[i] + 1);

			lens[i] = sift_text_fold_accents(strs[i], lens[i], f);
			f[lens[i]] = '\0';
			strs[i] = f;
			if (lens[i] == 0)
				return 0;
		}
	}
	t_array_init(&cands, 16);
	array_append_array(&cands, &q->bounded_docs);
	sift_seq_range_intersect(&cands, &q->raw_docs);
	/* (a candidate of the indexed part is left to Dovecot anyway) */
	seq_range_array_remove_seq_range(&cands, &leaf->definite);
	seq_range_array_remove_seq_range(&cands, &leaf->maybe);
	if (array_count(&cands) == 0)
		return 0;
	t_array_init(&uids, 16);
	seq_range_array_iter_init(&iter, &cands);
	for (i = 0; seq_range_array_iter_nth(&iter, i, &uid); i++)
		array_push_back(&uids, &uid);
	t_array_init(&ruled_out, 16);
	i_zero(&ctx);
	ctx.strs = strs;
	ctx.lens = lens;
	ctx.count = n;
	ctx.ruled_out = &ruled_out;
	status = sift_xdb_values(q->db, SIFT_VALUE_BOUNDED_TEXT,
				 array_front(&uids), array_count(&uids),
				 sift_query_bounded_value, &ctx, &error);
	if (status != SIFT_X_OK) {
		sift_query_index_error(q, status, error);
		return -1;
	}
	e_debug(q->backend->event, "Bounded bodies: %u read, %u ruled out",
		array_count(&uids), seq_range_count(&ruled_out));
	seq_range_array_remove_seq_range(raw_r, &ruled_out);
	return 0;
}

/* The flag terms' doubts (sift_leaf_add_doubts()).  Returns 0 or -1
   (logged). */
static int sift_query_leaf_doubts(struct sift_query *q,
				  const struct sift_leaf_recipe *r,
				  struct sift_leaf *leaf)
{
	ARRAY_TYPE(seq_range) html_split, raw;
	struct sift_doubts d;

	if (sift_query_load_flags(q) < 0)
		return -1;
	t_array_init(&html_split, 16);
	if (r->html_split && sift_query_html_split(q, &r->plan,
						   &html_split) < 0)
		return -1;
	t_array_init(&raw, 16);
	if (sift_query_bounded_text(q, r, leaf, &raw) < 0)
		return -1;
	i_zero(&d);
	d.truncated = &q->truncated_docs;
	d.raw = &raw;
	d.html_split = &html_split;
	d.untrusted_body = &q->untrusted_body;
	d.untrusted_headers = &q->untrusted_headers;
	d.untrusted_text = &q->untrusted_text;
	sift_leaf_add_doubts(leaf, r, &d);
	return 0;
}

static void sift_query_args_env(struct sift_fts_backend *backend,
				struct sift_args_env *env_r)
{
	i_zero(env_r);
	env_r->text = backend->text;
	env_r->hdrfilter = backend->hdrfilter;
	env_r->decoded_attachments = backend->set->decoded_attachments;
	env_r->fold_accents = backend->set->fold_accents;
}

/* A pooled header's words (HEADER X-Mailer "git") are found in the pool
   of all such headers, so every message with the word in any of them is
   a candidate: only those that have the header at all can match (a
   non-empty string is never in an absent header), and the header's name
   is a certain term of its own (SIFT_STEP_EXISTS).  This narrows the
   candidates before the doubts add the untrusted messages back.
   Returns 0 or -1 (logged). */
static int sift_query_pooled_has_header(struct sift_query *q,
					const struct mail_search_arg *arg,
					struct sift_leaf *leaf)
{
	const struct sift_termfiles_prefix *fam;
	unsigned int fam_count;
	ARRAY_TYPE(seq_range) has;
	const char *name = arg->hdr_field_name, *norm, *error;
	size_t norm_len;

	if (name == NULL || arg->value.str[0] == '\0' ||
	    (array_count(&leaf->definite) == 0 &&
	     array_count(&leaf->maybe) == 0))
		return 0;
	if (sift_text_normalize(q->backend->text, name, strlen(name),
				&norm, &norm_len, &error) < 0) {
		e_error(q->backend->event, "Normalizing '%s' failed: %s",
			str_sanitize(name, 80), error);
		return -1;
	}
	/* (the text's buffer is reused by its next call) */
	norm = t_strndup(norm, norm_len);
	t_array_init(&has, 64);
	sift_families_get(SIFT_FAMILIES_HDR_NAMES, &fam, &fam_count);
	if (sift_query_match(q, fam, fam_count, norm, norm_len,
			     SIFT_MATCH_EXACT, &has) < 0)
		return -1;
	seq_range_array_intersect(&leaf->definite, &has);
	seq_range_array_intersect(&leaf->maybe, &has);
	return 0;
}

/* The messages with a pooled part left after the key's terms are either
   narrowed (sift_query_hashed_pooled(): a pass over the pool's terms or
   the opaque file, and the postings of every pooled word holding the
   string; its cost grows with the mailbox: for a word about 30 ms at
   100,000 messages and 120 at 300,000, for a chunk or a phrase up to 6
   times that) or all handed to Dovecot, whose cost grows with their
   number: about 5 microseconds a message when dovecot.index.cache holds
   the header, about 40 when Dovecot must read it from the message file
   (the first search for the header; Dovecot caches it from then on only
   for the messages it read).  So they are handed over when they are at
   most 1/SIFT_HASHED_FEW_POOLED of the mailbox; for a word, also when
   Dovecot's cache lacks the header and they are at most 1/48 of it
   (SIFT_HASHED_UNCACHED_COST, weighed on SIFT_HASHED_CACHE_PROBES of
   them: sift_query_hashed_narrow()).  A chunk or phrase is narrowed
   only past 1/6: where its narrowing removed little it cost more than
   Dovecot's reads, cold too.

   imap CPU ms at 100,000 messages (tests/bench/replay.py --cold: cold =
   a fresh imap process on index files whose cache holds no header,
   warm = the same search again; median of 3), left = the messages left
   to Dovecot handed over / narrowed:

     HEADER ...                          left         hand over  narrow
                                                      cold warm  cold warm
     X-Mailer "git-send-email" (chunk)   1,992/307      89   25    83   56
     X-Mailer "2.17"                     4,714/277     162   20    54   28
     ArrivalTime "nov"                   4,762/264     214   16    75   45
     ArrivalTime "11:29" (chunk)         5,217/5,215   224   13   439  188
     X-Spam-Checker-Version "SpamAssassin 3.4" (phrase)
                                         6,668/6,661   254   31   332   82
     X-IronPort-AV "Sophos"              7,851/7,814   270   22   307   39
     X-Originating-IP "119.31"           9,293/1,058   337   20    82   20

   (ArrivalTime: X-MS-Exchange-CrossTenant-OriginalArrivalTime.)  Over
   20 X- searches the rule took the cold p50/p95 from 190/348 ms (1/6
   alone) to 90/324, warm 16/37 to 26/55 (a search that narrowed leaves
   the others uncached, so it narrows again), and with the header
   cached it hands over as before (24/61 -> 21/81, noise).  300,000
   messages: doc/measurements.md, "X- header hand-over, cold and warm".
   Reproduce:

     SIFT_BENCH_ROOT=/tmp/x tests/bench/bench.py \
         /var/cache/fts-sift/corpora/scale-100k.mbox.zst --engines sift --keep
     REPLAY_SO=<build>.so tests/bench/replay.py /tmp/x/sift \
         /var/cache/fts-sift/corpora/scale-100k.mbox.zst out.json --cold \
         [--cached] --reps 3 --only "X- header|extra" \
         --extra tests/bench/xhdr-extra.jsonl */
#define SIFT_HASHED_FEW_POOLED 6
#define SIFT_HASHED_UNCACHED_COST 8
#define SIFT_HASHED_CACHE_PROBES 8

/* Of up to SIFT_HASHED_CACHE_PROBES messages spread over uids, the number
   whose header name Dovecot's cache holds (as found or as missing);
   *probed_r: how many were looked at (none if the mailbox isn't open:
   doveadm fts lookup).  Only the cache is read
   (MAIL_LOOKUP_ABORT_NOT_IN_CACHE: no message file is opened, and no
   caching decision changes). */
static unsigned int
sift_query_header_cached(struct sift_query *q, const char *name,
			 const ARRAY_TYPE(seq_range) *uids,
			 unsigned int *probed_r)
{
	struct mailbox_transaction_context *t;
	struct mail *mail;
	struct seq_range_iter iter;
	const char *const *values;
	unsigned int i, n, probes, probed = 0, cached = 0;
	uint32_t uid;

	*probed_r = 0;
	if (!q->box->opened)
		return 0;
	n = seq_range_count(uids);
	probes = I_MIN(n, SIFT_HASHED_CACHE_PROBES);
	t = mailbox_transaction_begin(q->box, 0, "fts-sift cache probe");
	mail = mail_alloc(t, 0, NULL);
	mail->lookup_abort = MAIL_LOOKUP_ABORT_NOT_IN_CACHE;
	seq_range_array_iter_init(&iter, uids);
	for (i = 0; i < probes; i++) {
		/* the middles of probes equal parts */
		if (!seq_range_array_iter_nth(&iter,
				(unsigned int)(((uint64_t)i * 2 + 1) * n /
					       (probes * 2)), &uid) ||
		    !mail_set_uid(mail, uid))
			continue;
		probed++;
		/* 1 found, 0 not in the message; -1 not cached */
		if (mail_get_headers(mail, name, &values) >= 0)
			cached++;
	}
	mail->lookup_abort = MAIL_LOOKUP_ABORT_NEVER;
	mail_free(&mail);
	mailbox_transaction_rollback(&t);
	*probed_r = probed;
	return cached;
}

/* Whether to narrow pooled (sift_query_hashed_pooled()) rather than hand
   them all to Dovecot: see SIFT_HASHED_FEW_POOLED.  The cache is probed
   only where the answer depends on it. */
static bool sift_query_hashed_narrow(struct sift_query *q,
				     const struct sift_leaf_recipe *r,
				     const char *name,
				     const ARRAY_TYPE(seq_range) *pooled)
{
	uint64_t n = seq_range_count(pooled);
	uint64_t few = q->last_uid / SIFT_HASHED_FEW_POOLED;
	unsigned int probed, cached;
	bool narrow;

	if (n > few)
		return TRUE;
	/* (a chunk or phrase: the narrowing's cost is too uncertain) */
	if (n * SIFT_HASHED_UNCACHED_COST <= few || name == NULL ||
	    (r->plan.kind != SIFT_PLAN_WORD && r->plan.kind != SIFT_PLAN_RUN))
		return FALSE;
	cached = sift_query_header_cached(q, name, pooled, &probed);
	/* the hand-over's cost in cached messages, against the narrowing's
	   (nothing probed: as if uncached) */
	narrow = probed == 0 ||
		n * (cached + (uint64_t)(probed - cached) *
		     SIFT_HASHED_UNCACHED_COST) > few * probed;
	e_debug(q->backend->event, "%s: %u pooled messages, %u of %u "
		"probed in Dovecot's cache: %s", str_sanitize(name, 80),
		(unsigned int)n, cached, probed,
		narrow ? "narrowed" : "handed over");
	return narrow;
}

/* Narrow pooled, messages with an instance of a hashed header whose
   opaque part was pooled (flag ZK<key>, doc_hashed_tokens() in
   sift-doc-builder.c), to those where the string may lie in that part.
   Such an instance keeps its other words and runs under its key, so an
   occurrence there is found by the key's terms already; what is left
   lies in the opaque part:
   - a word lies inside one word of the value, which is in the pool
     (opaque record or P term) if not a key's term;
   - a string without whitespace lies inside one opaque run
     (sift_query_pool_chunk());
   - a phrase may span the opaque part and the rest: its tokens are in
     the pool or the key's terms.
   An index of format 10 pooled such an instance's words whole (P), which
   the pool holds too.  Returns 0 or -1 (logged). */
static int sift_query_hashed_pooled(struct sift_query *q,
				    const struct sift_leaf_recipe *r,
				    ARRAY_TYPE(seq_range) *pooled)
{
	const struct sift_plan *plan = &r->plan;
	const struct sift_termfiles_prefix *pool;
	struct sift_termfiles_prefix *both;
	unsigned int pool_count;
	ARRAY_TYPE(seq_range) found;
	int ret;

	t_array_init(&found, 64);
	sift_families_get(SIFT_FAMILIES_POOL, &pool, &pool_count);
	if (plan->kind == SIFT_PLAN_WORD || plan->kind == SIFT_PLAN_RUN) {
		ret = sift_query_match(q, pool, pool_count,
				       plan->needles[0].str,
				       plan->needles[0].len,
				       SIFT_MATCH_SUBSTRING, &found);
	} else if (plan->kind == SIFT_PLAN_CHUNK) {
		ret = sift_query_pool_chunk(q, plan, &r->header_prefix, 1,
					    &found);
	} else {
		both = t_new(struct sift_termfiles_prefix, pool_count + 1);
		memcpy(both, pool, sizeof(*pool) * pool_count);
		both[pool_count] = r->header_prefix;
		ret = sift_query_candidates(q, plan, both, pool_count + 1,
					    &found);
	}
	if (ret < 0)
		return -1;
	seq_range_array_intersect(pooled, &found);
	return 0;
}

/* HEADER of a hashed header, after its key's terms filled leaf (the
   step as for Subject, definite where exact): the key is a hash of the
   name, so a message that also holds another header name of the same key
   may have the string in that one only: its definite match becomes
   maybe.  Those names are the N terms whose key is the same.  And the
   messages with an instance of the key's headers whose opaque part was
   pooled (flag ZK<key>, sift-terms.h) are maybe where the string may lie
   in that part (sift_query_hashed_pooled()).  Returns 0 or -1
   (logged). */
static int sift_query_hashed(struct sift_query *q,
			     const struct sift_leaf_recipe *r,
			     const char *hdr_name, struct sift_leaf *leaf)
{
	const struct sift_termfiles_prefix *flags;
	unsigned int flag_count;
	const char *key = r->header_prefix.prefix, *flag, *error = NULL;
	ARRAY_TYPE(seq_range) pooled;
	struct sift_buf names = { NULL, 0, 0 };
	enum sift_xstatus status;
	int ret = 0;

	/* the messages with a pooled part in an instance of this key's
	   headers, and no certain match */
	t_array_init(&pooled, 32);
	flag = t_strconcat(SIFT_FLAG_POOLED_KEY, key + 1, NULL);
	sift_families_get(SIFT_FAMILIES_FLAGS, &flags, &flag_count);
	if (sift_query_match(q, flags, flag_count, flag,
			     strlen(flag) - 1 /* without ':' */,
			     SIFT_MATCH_EXACT, &pooled) < 0)
		return -1;
	seq_range_array_remove_seq_range(&pooled, &leaf->definite);
	seq_range_array_remove_seq_range(&pooled, &leaf->maybe);
	if (array_count(&pooled) > 0 &&
	    sift_query_hashed_narrow(q, r, hdr_name, &pooled) &&
	    sift_query_hashed_pooled(q, r, &pooled) < 0)
		return -1;
	seq_range_array_merge(&leaf->maybe, &pooled);

	if (array_count(&leaf->definite) == 0)
		return 0;
	status = sift_xdb_list_terms(q->db, SIFT_PREFIX_HDR_NAME, '\0', "", 0,
				     SIFT_MATCH_PREFIX, UINT_MAX, &names,
				     &error);
	if (status != SIFT_X_OK) {
		sift_query_index_error(q, status, error);
		sift_buf_free(&names);
		return -1;
	}
	/* (no data stack frame of its own: leaf's arrays grow here) */
	{
		ARRAY(const char *) strs;
		ARRAY(size_t) lens;
		size_t plen = strlen(SIFT_PREFIX_HDR_NAME), pos = 0;
		unsigned int n;

		t_array_init(&strs, 8);
		t_array_init(&lens, 8);
		while (pos < names.len) {
			const char *line = names.data + pos, *nl;
			size_t len;

			nl = memchr(line, '\n', names.len - pos);
			len = nl == NULL ? names.len - pos : (size_t)(nl - line);
			pos += len + 1;
			if (len < plen)
				continue;
			if ((len - plen == r->key_name_len &&
			     memcmp(line + plen, r->key_name,
				    r->key_name_len) == 0) ||
			    strcmp(sift_header_key_prefix(line + plen,
							  len - plen), key) != 0)
				continue;
			/* (an id or trace header has no key terms) */
			if (sift_header_is_trace(t_strndup(line + plen,
							   len - plen)))
				continue;
			/* another name with the same key */
			array_push_back(&strs, &line);
			array_push_back(&lens, &len);
		}
		n = array_count(&strs);
		if (n > 0) {
			struct sift_uids uids = { NULL, 0, 0 };
			ARRAY_TYPE(seq_range) shared;

			t_array_init(&shared, 16);
			status = sift_xdb_terms_docs(q->db,
						     array_front(&strs),
						     array_front(&lens), n,
						     &uids, &error);
			if (sift_query_uids_result(q, status, error, &uids,
						   &shared) < 0)
				ret = -1;
			else {
				seq_range_array_intersect(&shared,
							  &leaf->definite);
				seq_range_array_remove_seq_range(
					&leaf->definite, &shared);
				seq_range_array_merge(&leaf->maybe, &shared);
			}
		}
	}
	sift_buf_free(&names);
	if (ret == 0)
		seq_range_array_remove_seq_range(&leaf->maybe,
						 &leaf->definite);
	return ret;
}

/* Evaluate one leaf.  Returns 1 if answered (leaf filled), 0 if it is left
   to Dovecot, -1 on error (logged).  Whether a leaf is answered is the
   recipe's decision alone (sift-search-args.h), which
   sift_query_mark_answerable() makes too. */
static int sift_query_leaf(struct sift_query *q, struct mail_search_arg *arg,
			   struct sift_leaf *leaf)
{
	struct sift_args_env env;
	struct sift_leaf_recipe r;
	const char *error;
	int ret;

	sift_query_args_env(q->backend, &env);
	ret = sift_leaf_recipe_build(&env, arg, &r, &error);
	if (ret < 0) {
		e_error(q->backend->event, "Translating search '%s' failed: %s",
			str_sanitize(arg->value.str, 80), error);
		return -1;
	}
	if (ret == 0)
		return 0;
	q->plan_kinds |= 1U << r.plan.kind;
	ret = sift_query_leaf_terms(q, &r, leaf);
	/* the flag terms below are not the leaf's words */
	q->collect = NULL;
	if (ret == 0 && r.hashed && r.step != SIFT_STEP_EXISTS)
		ret = sift_query_hashed(q, &r, arg->hdr_field_name, leaf);
	if (ret == 0 && (r.hashed || !r.exact) &&
	    r.field == SIFT_FIELD_HEADER)
		ret = sift_query_pooled_has_header(q, arg, leaf);
	if (ret == 0 && r.doubts)
		ret = sift_query_leaf_doubts(q, &r, leaf);
	if (ret == 0 && r.check_decoded)
		ret = sift_query_decoded(q, r.searched, r.searched_len, leaf);
	e_debug(q->backend->event, "%s%s '%s': %s plan, %u definite, "
		"%u maybe", arg->match_not ? "NOT " : "",
		r.field == SIFT_FIELD_BODY ? "BODY" :
		r.field == SIFT_FIELD_TEXT ? "TEXT" :
		t_str_ucase(arg->hdr_field_name),
		str_sanitize(arg->value.str, 60),
		sift_plan_kind_str(r.plan.kind),
		seq_range_count(&leaf->definite),
		seq_range_count(&leaf->maybe));
	sift_leaf_recipe_free(&r);
	return ret < 0 ? -1 : 1;
}

/* Append to dest (up to SIFT_SCORE_MAX_LEVEL_TERMS in all) the shortest
   leaf_max of cands: shorter terms are the closest to what
   was searched (the word itself first), and longer ones are mostly runs,
   which have no weight anyway (wdf 0).  One pass to count lengths, one
   to copy: no sorting of what may be most of the dictionary. */
static void sift_score_select(struct sift_query *q,
			      const ARRAY_TYPE(sift_termfiles_term) *cands,
			      unsigned int group, unsigned int leaf_max)
{
	ARRAY_TYPE(sift_termfiles_term) *dest = &q->score_terms;
	unsigned int hist[SIFT_XAPIAN_MAX_TERM + 2];
	const struct sift_termfiles_term *t;
	unsigned int i, n, max, cut, below = 0, room;

	t = array_get(cands, &n);
	i = array_count(dest);
	if (i >= SIFT_SCORE_MAX_LEVEL_TERMS)
		return;
	max = I_MIN(leaf_max, SIFT_SCORE_MAX_LEVEL_TERMS - i);
	if (n <= max) {
		array_append(dest, t, n);
		for (i = 0; i < n; i++)
			array_push_back(&q->score_groups, &group);
		return;
	}
	memset(hist, 0, sizeof(hist));
	for (i = 0; i < n; i++)
		hist[I_MIN(t[i].len, SIFT_XAPIAN_MAX_TERM + 1)]++;
	/* cut: the length where the max'th shortest term lies */
	for (cut = 0; cut < N_ELEMENTS(hist) - 1; cut++) {
		if (below + hist[cut] >= max)
			break;
		below += hist[cut];
	}
	room = max - below;
	for (i = 0; i < n; i++) {
		size_t len = I_MIN(t[i].len, SIFT_XAPIAN_MAX_TERM + 1);

		if (len < cut || (len == cut && room > 0)) {
			array_push_back(dest, &t[i]);
			array_push_back(&q->score_groups, &group);
			if (len == cut)
				room--;
		}
	}
}

/* Does any argument of the list, or below it, have FUZZY? */
static bool sift_args_have_fuzzy(const struct mail_search_arg *args)
{
	for (; args != NULL; args = args->next) {
		if (args->fuzzy)
			return TRUE;
		if ((args->type == SEARCH_OR || args->type == SEARCH_SUB ||
		     args->type == SEARCH_INTHREAD) &&
		    sift_args_have_fuzzy(args->value.subargs))
			return TRUE;
	}
	return FALSE;
}

/* Does a level below this one (Dovecot makes one of each OR and
   sub-list) have a FUZZY key? */
static bool sift_sublevels_have_fuzzy(const struct mail_search_arg *args)
{
	for (; args != NULL; args = args->next) {
		if ((args->type == SEARCH_OR || args->type == SEARCH_SUB) &&
		    (args->fuzzy || sift_args_have_fuzzy(args->value.subargs)))
			return TRUE;
	}
	return FALSE;
}

/* Fill result->scores for the level (see the top of this file): the UIDs
   it may match, or every document if a level below has a FUZZY key.  A
   failure costs only the scores: it is logged and the exact result
   stands. */
static void sift_query_scores(struct sift_query *q,
			      struct mail_search_arg *args,
			      unsigned int answered,
			      struct fts_result *result)
{
	ARRAY_TYPE(seq_range) range;
	const struct seq_range *r;
	const struct sift_termfiles_term *t;
	struct sift_uids all = { NULL, 0, 0 };
	const char *error;
	struct fts_score_map *score;
	const char **strs;
	size_t *lens;
	uint32_t *uids, uid;
	float *scores;
	unsigned int i, n, range_count, term_count;
	struct timeval start, end;

	i_gettimeofday(&start);
	t_array_init(&range, 64);
	if (sift_sublevels_have_fuzzy(args)) {
		if (sift_xdb_all_uids(q->db, &all, &error) != SIFT_X_OK) {
			e_error(q->backend->event, "Scoring in the index of "
				"mailbox %s failed: %s",
				mailbox_get_vname(q->box), error);
			return;
		}
		uids_to_seq_range(&all, &range);
		sift_uids_free(&all);
		if (q->last_uid < (uint32_t)-1)
			seq_range_array_remove_range(&range, q->last_uid + 1,
						     (uint32_t)-1);
		seq_range_array_remove_seq_range(&range,
					sift_index_get_expunged(q->index));
	} else if (answered > 0) {
		seq_range_array_merge(&range, &result->definite_uids);
		seq_range_array_merge(&range, &result->maybe_uids);
	}
	n = seq_range_count(&range);
	if (n == 0)
		return;

	uids = t_new(uint32_t, n);
	scores = t_new(float, n);
	r = array_get(&range, &range_count);
	for (i = 0, n = 0; i < range_count; i++) {
		for (uid = r[i].seq1;; uid++) {
			uids[n++] = uid;
			if (uid == r[i].seq2)
				break;
		}
	}
	t = array_get(&q->score_terms, &term_count);
	strs = t_new(const char *, term_count + 1);
	lens = t_new(size_t, term_count + 1);
	for (i = 0; i < term_count; i++) {
		strs[i] = t[i].str;
		lens[i] = t[i].len;
	}
	if (sift_xdb_score(q->db, strs, lens,
			   term_count == 0 ? NULL :
			   array_front(&q->score_groups), term_count, uids,
			   n, scores, &error) != SIFT_X_OK) {
		e_error(q->backend->event, "Scoring in the index of mailbox "
			"%s failed: %s", mailbox_get_vname(q->box), error);
		return;
	}
	for (i = 0; i < n; i++) {
		score = array_append_space(&result->scores);
		score->uid = uids[i];
		score->score = scores[i];
	}
	/* ascending UIDs, as Dovecot's merges and lookups need */
	result->scores_sorted = TRUE;
	i_gettimeofday(&end);
	e_debug(q->backend->event, "Scored %u uids of %s with %u terms in "
		"%lld us", n, mailbox_get_vname(q->box), term_count,
		timeval_diff_usecs(&end, &start));
}

struct sift_date_ctx {
	const struct mail_search_arg *arg;
	struct sift_leaf *leaf;
	/* messages with a certain false answer */
	ARRAY_TYPE(seq_range) falses;
};

static void sift_query_date_value(void *context, uint32_t uid,
				  const void *data, size_t len)
{
	struct sift_date_ctx *dctx = context;
	struct sift_dates dates;
	int ret;

	ret = !sift_dates_decode(data, len, &dates) ? -1 :
		sift_dates_match(dctx->arg, &dates);
	if (ret > 0)
		seq_range_array_add(&dctx->leaf->definite, uid);
	else if (ret == 0)
		seq_range_array_add(&dctx->falses, uid);
}

/* Answer a date leaf (sift-dates.h) for the messages whose answer can
   still change the level: for an AND level those not yet certainly false,
   for an OR level those not yet certainly true (every message if no leaf
   was answered yet).  What the leaf says of the others can't change the
   level's answer (AND: false stays false; OR: true stays true), so they
   are left out of both sets, whatever NOT makes of them; so are, in a
   sub-list, the messages the search's top level already ruled out
   (q->scope).  Messages
   without a kept date, or with an uncertain one, are maybe.  So the
   values read are, for "SINCE d BODY x", those of the messages with x.
   Returns 0 or -1 (logged). */
static int sift_query_date_leaf(struct sift_query *q,
				const struct mail_search_arg *arg,
				const struct sift_level *level,
				struct sift_leaf *leaf)
{
	struct sift_date_ctx dctx;
	ARRAY_TYPE(seq_range) open;
	ARRAY(uint32_t) uids;
	struct seq_range_iter iter;
	unsigned int n = 0;
	const char *error;
	enum sift_xstatus status;
	uint32_t uid;

	if (q->last_uid == 0)
		return 0;
	t_array_init(&open, 64);
	seq_range_array_add_range(&open, 1, q->last_uid);
	if (level->answered > 0) {
		seq_range_array_remove_seq_range(&open, level->and_args ?
						 &level->falses :
						 &level->definite);
	}
	seq_range_array_remove_seq_range(&open,
					 sift_index_get_expunged(q->index));
	if (q->scope != NULL)
		seq_range_array_intersect(&open, q->scope);
	t_array_init(&uids, seq_range_count(&open) + 1);
	seq_range_array_iter_init(&iter, &open);
	while (seq_range_array_iter_nth(&iter, n++, &uid))
		array_push_back(&uids, &uid);

	i_zero(&dctx);
	dctx.arg = arg;
	dctx.leaf = leaf;
	t_array_init(&dctx.falses, 64);
	status = array_count(&uids) == 0 ? SIFT_X_OK :
		sift_xdb_values(q->db, SIFT_VALUE_DATES, array_front(&uids),
				array_count(&uids), sift_query_date_value,
				&dctx, &error);
	if (status != SIFT_X_OK) {
		sift_query_index_error(q, status, error);
		return -1;
	}
	/* maybe: the open messages not answered either way */
	seq_range_array_remove_seq_range(&open, &leaf->definite);
	seq_range_array_remove_seq_range(&open, &dctx.falses);
	array_append_array(&leaf->maybe, &open);
	e_debug(q->backend->event, "%s%s%s: %u read, %u definite, %u maybe",
		arg->match_not ? "NOT " : "",
		arg->value.date_type == MAIL_SEARCH_DATE_TYPE_SENT ?
		"SENT" : "",
		arg->type == SEARCH_BEFORE ? "BEFORE" :
		arg->type == SEARCH_ON ? "ON" : "SINCE",
		array_count(&uids), seq_range_count(&leaf->definite),
		seq_range_count(&leaf->maybe));
	return 0;
}

/* A text leaf of a level, as its lookup answered it (NOT not applied). */
struct sift_level_leaf {
	struct mail_search_arg *arg;
	ARRAY_TYPE(seq_range) definite, maybe;
};
ARRAY_DEFINE_TYPE(sift_level_leaf, struct sift_level_leaf);

static void sift_level_leaf_keep(ARRAY_TYPE(sift_level_leaf) *leaves,
				 struct mail_search_arg *arg,
				 const struct sift_leaf *leaf)
{
	struct sift_level_leaf *kept = array_append_space(leaves);

	kept->arg = arg;
	t_array_init(&kept->definite, array_count(&leaf->definite) + 1);
	array_append_array(&kept->definite, &leaf->definite);
	t_array_init(&kept->maybe, array_count(&leaf->maybe) + 1);
	array_append_array(&kept->maybe, &leaf->maybe);
}

static void sift_level_certain_add(struct sift_query *q,
				   struct mail_search_arg *arg, bool result,
				   ARRAY_TYPE(seq_range) *uids)
{
	struct sift_leaf_certain *c;

	if (array_count(uids) == 0)
		return;
	c = array_append_space(q->certain);
	c->arg = arg;
	c->result = result;
	p_array_init(&c->uids, q->certain_pool, array_count(uids));
	array_append_array(&c->uids, uids);
}

/* For the level's maybe UIDs, each text leaf's certain answers: true where
   the leaf's lookup found it definite, false where it found it neither
   definite nor maybe - the same certainty the level's own answer rests on
   (sift_level_add()).  Date leaves are left out: they read only the
   messages the text leaves left open (sift_query_date_leaf()), so their
   "false" is not theirs alone, and Dovecot checks a date from its index
   anyway. */
static void sift_level_certain(struct sift_query *q,
			       const ARRAY_TYPE(sift_level_leaf) *leaves,
			       const ARRAY_TYPE(seq_range) *level_maybe)
{
	const struct sift_level_leaf *leaf;
	ARRAY_TYPE(seq_range) trues, falses;

	if (array_count(level_maybe) == 0)
		return;
	t_array_init(&trues, 16);
	t_array_init(&falses, 16);
	array_foreach(leaves, leaf) {
		array_clear(&trues);
		array_append_array(&trues, level_maybe);
		seq_range_array_intersect(&trues, &leaf->definite);
		array_clear(&falses);
		array_append_array(&falses, level_maybe);
		seq_range_array_remove_seq_range(&falses, &leaf->definite);
		seq_range_array_remove_seq_range(&falses, &leaf->maybe);
		/* the result Dovecot sets is the NOT's */
		sift_level_certain_add(q, leaf->arg, !leaf->arg->match_not,
				       &trues);
		sift_level_certain_add(q, leaf->arg, leaf->arg->match_not,
				       &falses);
	}
}

/* Answer the leaves of one level (sift_level_*(): NOT, AND/OR) and add
   the level's definite and maybe UIDs to result. */
static int sift_query_level(struct sift_query *q, struct mail_search_arg *args,
			    bool and_args, struct fts_result *result,
			    unsigned int *answered_r)
{
	ARRAY_TYPE(sift_termfiles_term) leaf_terms;
	ARRAY_TYPE(sift_level_leaf) leaves;
	struct mail_search_arg *arg;
	struct sift_level level;
	struct sift_leaf leaf;
	bool score_leaf, keep_leaves = FALSE;
	unsigned int leaf_count = 0;
	int ret;

	*answered_r = 0;
	t_array_init(&leaves, 8);
	/* a level of one leaf has nothing to settle per leaf */
	if (q->certain != NULL) {
		for (arg = args; arg != NULL; arg = arg->next) {
			if (sift_search_arg_is_ours(arg) ||
			    sift_search_arg_is_date(arg))
				leaf_count++;
		}
		keep_leaves = leaf_count > 1;
	}
	sift_level_init(&level, and_args, q->last_uid);
	t_array_init(&leaf.definite, 64);
	t_array_init(&leaf.maybe, 64);
	if (array_is_created(&q->score_terms))
		t_array_init(&leaf_terms, 64);

	for (arg = args; arg != NULL; arg = arg->next) {
		if (!sift_search_arg_is_ours(arg))
			continue;
		array_clear(&leaf.definite);
		array_clear(&leaf.maybe);
		/* the words of a FUZZY leaf score the level's UIDs (a NOT
		   leaf's matches are the messages without them) */
		score_leaf = array_is_created(&q->score_terms) &&
			arg->fuzzy && !arg->match_not;
		if (score_leaf) {
			array_clear(&leaf_terms);
			q->collect = &leaf_terms;
			q->collect_max = SIFT_SCORE_MAX_TERMS;
		}
		ret = sift_query_leaf(q, arg, &leaf);
		q->collect = NULL;
		if (ret < 0)
			return -1;
		if (ret == 0)
			continue;
		if (score_leaf)
			sift_score_select(q, &leaf_terms, level.answered,
					  q->collect_max);
		if (keep_leaves)
			sift_level_leaf_keep(&leaves, arg, &leaf);
		sift_level_add(&level, &leaf, arg->match_not);
		arg->match_always = TRUE;
	}
	/* the date leaves last: they read only the messages the text
	   leaves left open (sift_query_date_leaf()) */
	for (arg = args; arg != NULL; arg = arg->next) {
		if (!sift_search_arg_is_date(arg))
			continue;
		array_clear(&leaf.definite);
		array_clear(&leaf.maybe);
		if (sift_query_date_leaf(q, arg, &level, &leaf) < 0)
			return -1;
		sift_level_add(&level, &leaf, arg->match_not);
		arg->match_always = TRUE;
	}
	*answered_r = level.answered;
	sift_level_result(&level, &result->definite_uids,
			  &result->maybe_uids);
	/* (a message one leaf leaves maybe is maybe for a level of one) */
	if (keep_leaves && level.answered > 1)
		sift_level_certain(q, &leaves, &result->maybe_uids);
	return 0;
}

/* Open what a lookup reads: the database and the checked side files.
   A side file that fails its checks is read again once with a fresh
   snapshot of the database (a writer may have replaced it between the two
   opens).  Returns 1, 0 if there is no index (or it was found damaged:
   reported), -1 on error (logged). */
static int sift_query_open(struct sift_query *q)
{
	const char *error;
	int ret;

	for (unsigned int attempt = 0;; attempt++) {
		ret = sift_index_open_reader(q->backend, q->box, &q->index);
		if (ret <= 0)
			return ret;
		q->db = sift_index_db(q->index);
		(void)sift_index_get_last_uid(q->index, &q->last_uid);
		ret = sift_termfiles_open(sift_index_get_path(q->index),
				     sift_index_get_files(q->index), &q->dict,
				     &error);
		if (ret > 0)
			return 1;
		if (ret < 0) {
			/* a system error: leave this search to Dovecot */
			e_error(q->backend->event, "%s", error);
			sift_index_close(&q->index);
			return 0;
		}
		if (attempt > 0) {
			sift_index_report_damage(q->index, error);
			sift_index_close(&q->index);
			return 0;
		}
		sift_index_close(&q->index);
	}
}

/* The index failed during the lookup: answer it with Dovecot's own search
   instead - every message is a candidate it checks - and never fail the
   search for it. */
static void sift_query_fallback(struct sift_query *q,
				struct mail_search_arg *args,
				struct fts_result *result)
{
	if (q->damaged)
		sift_index_report_damage(q->index, q->failure);
	else if (q->overtaken) {
		/* normal while writers commit often (Xapian keeps only the
		   two newest revisions): not a problem worth a warning */
		e_debug(q->backend->event, "Searching the index of mailbox "
			"%s was overtaken by a writer (%s): Dovecot searches "
			"the mail itself", mailbox_get_vname(q->box),
			q->failure);
	} else {
		e_warning(q->backend->event, "Searching the index of mailbox "
			  "%s failed (%s): Dovecot searches the mail itself",
			  mailbox_get_vname(q->box), q->failure);
	}
	array_clear(&result->definite_uids);
	array_clear(&result->maybe_uids);
	if (array_is_created(&result->scores))
		array_clear(&result->scores);
	sift_query_mark_answerable(q->backend, args);
	if (q->last_uid > 0) {
		seq_range_array_add_range(&result->maybe_uids, 1,
					  q->last_uid);
	}
}

/* Name event SIFT_EVENT_LOOKUP and add its fields (sift-events.h). */
static void sift_query_event(struct sift_query *q, struct event *event,
			     const struct fts_result *result)
{
	struct mailbox_status status;
	unsigned int definite = seq_range_count(&result->definite_uids);
	unsigned int maybe = seq_range_count(&result->maybe_uids);
	uint32_t unindexed = 0;
	string_t *plans = t_str_new(64);
	unsigned int kind;

	/* Dovecot reads the messages above last_uid itself */
	if (mailbox_get_status(q->box, STATUS_UIDNEXT, &status) == 0 &&
	    status.uidnext > q->last_uid + 1)
		unindexed = status.uidnext - 1 - q->last_uid;
	for (kind = 0; kind < 32; kind++) {
		if ((q->plan_kinds & (1U << kind)) == 0)
			continue;
		if (str_len(plans) > 0)
			str_append_c(plans, ',');
		str_append(plans, sift_plan_kind_str(kind));
	}
	event_set_name(event, SIFT_EVENT_LOOKUP);
	event_add_int(event, "definite", definite);
	event_add_int(event, "maybe", maybe);
	event_add_int(event, "unindexed", unindexed);
	event_add_int(event, "left_to_dovecot", maybe + unindexed);
	event_add_int(event, "last_uid", q->last_uid);
	event_add_str(event, "plans", str_c(plans));
}

int sift_query_lookup(struct sift_fts_backend *backend, struct mailbox *box,
		      struct mail_search_arg *args,
		      enum fts_lookup_flags flags,
		      const ARRAY_TYPE(seq_range) *scope,
		      struct fts_result *result, pool_t pool,
		      ARRAY_TYPE(sift_leaf_certain) *certain)
{
	struct sift_query q;
	struct timeval start, end;
	struct event *event;
	unsigned int answered;
	int ret;

	i_zero(&q);
	q.backend = backend;
	q.box = box;
	q.scope = scope;
	q.certain = certain;
	q.certain_pool = pool;
	i_gettimeofday(&start);
	/* created first: the lookup event's duration starts here */
	event = event_create(backend->event);
	event_add_str(event, "mailbox", mailbox_get_vname(box));
	backend->lookup_last_uid = 0;
	ret = sift_query_open(&q);
	if (ret <= 0) {
		/* no index yet: leave every argument to Dovecot */
		event_unref(&event);
		return ret;
	}
	T_BEGIN {
		t_array_init(&q.raw_docs, 16);
		t_array_init(&q.bounded_docs, 16);
		t_array_init(&q.truncated_docs, 16);
		t_array_init(&q.html_docs, 16);
		t_array_init(&q.untrusted_body, 16);
		t_array_init(&q.untrusted_headers, 16);
		t_array_init(&q.untrusted_text, 16);
		/* scores only for a search with FUZZY: Dovecot doesn't
		   tell a lookup whether RELEVANCY will be asked for (it
		   reads the scores afterwards, per message), and RFC 6203
		   scores are for fuzzy keys */
		if (sift_args_have_fuzzy(args)) {
			t_array_init(&q.score_terms, 16);
			t_array_init(&q.score_groups, 16);
		}
		ret = sift_query_level(&q, args,
				       (flags & FTS_LOOKUP_FLAG_AND_ARGS) != 0,
				       result, &answered);
		if (q.failure != NULL) {
			sift_query_fallback(&q, args, result);
			if (certain != NULL)
				array_clear(certain);
			ret = 0;
		}
		/* documents of expunged messages stay in the database until
		   it is rebuilt: never report them */
		seq_range_array_remove_seq_range(&result->definite_uids,
					sift_index_get_expunged(q.index));
		seq_range_array_remove_seq_range(&result->maybe_uids,
					sift_index_get_expunged(q.index));
		if (ret == 0 && q.failure == NULL &&
		    array_is_created(&q.score_terms))
			sift_query_scores(&q, args, answered, result);
	} T_END;
	backend->lookup_last_uid = q.last_uid;
	sift_phrase_filter_close(&q.gaps);
	sift_termfiles_close(&q.dict);
	sift_index_close(&q.index);
	i_free(q.failure);
	i_gettimeofday(&end);
	sift_query_event(&q, event, result);
	e_debug(event, "Lookup in %s: %u definite, %u maybe uids, "
		"last_uid=%u, %lld us", mailbox_get_vname(box),
		seq_range_count(&result->definite_uids),
		seq_range_count(&result->maybe_uids), q.last_uid,
		timeval_diff_usecs(&end, &start));
	event_unref(&event);
	return ret;
}

void sift_query_mark_answerable(struct sift_fts_backend *backend,
				struct mail_search_arg *args)
{
	struct sift_args_env env;

	sift_query_args_env(backend, &env);
	sift_search_args_mark_answerable(&env, args);
}

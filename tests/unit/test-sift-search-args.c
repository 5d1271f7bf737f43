/* Unit tests for plugin/sift-search-args.c: what the index does with
   Dovecot's search arguments, on constructed mail_search_arg trees (as
   Dovecot's own test-fts-search-args.c builds them), without an index:

   - the answered/answerable contract for every argument type Dovecot
     has: sift_search_args_mark_answerable() marks exactly the leaves
     sift_leaf_recipe_build() answers, and only text searches;
   - the recipe of each kind of leaf: answered or not, which terms,
     definite or maybe (a table of cases, each with why);
   - the flag terms' doubts per field;
   - NOT, AND and OR of a level against a three-valued-logic oracle. */

#include "lib.h"
#include "array.h"
#include "seq-range-array.h"
#include "mail-search.h"
#include "test-common.h"
#include "sift-test-util.h"

#include "sift-text.h"
#include "sift-hdrfilter.h"
#include "sift-search-args.h"
#include "sift-uids.h"
#include "sift-dates.h"
#include "utc-offset.h"

#include <stdio.h>

static struct sift_text *text;
static struct sift_hdrfilter *exclude_mailer;
static pool_t pool;

static struct mail_search_arg *
arg_new(enum mail_search_arg_type type, const char *hdr, const char *value)
{
	struct mail_search_arg *arg = p_new(pool, struct mail_search_arg, 1);

	arg->type = type;
	arg->hdr_field_name = hdr == NULL ? NULL : p_strdup(pool, hdr);
	arg->value.str = value == NULL ? NULL : p_strdup(pool, value);
	if (type == SEARCH_BEFORE || type == SEARCH_ON ||
	    type == SEARCH_SINCE)
		arg->value.date_type = MAIL_SEARCH_DATE_TYPE_RECEIVED;
	if (type == SEARCH_SEQSET || type == SEARCH_UIDSET) {
		p_array_init(&arg->value.seqset, pool, 1);
		seq_range_array_add_range(&arg->value.seqset, 1, 10);
	}
	arg->result = -1;
	return arg;
}

static struct mail_search_arg *
arg_list(struct mail_search_arg *first, ...)
{
	struct mail_search_arg *arg = first, *next;
	va_list va;

	va_start(va, first);
	while ((next = va_arg(va, struct mail_search_arg *)) != NULL) {
		arg->next = next;
		arg = next;
	}
	va_end(va);
	return first;
}

static struct mail_search_arg *
arg_sub(enum mail_search_arg_type type, struct mail_search_arg *subargs)
{
	struct mail_search_arg *arg = arg_new(type, NULL, NULL);

	arg->value.subargs = subargs;
	return arg;
}

static void env_init(struct sift_args_env *env, bool decoded, bool fold,
		     bool filter)
{
	i_zero(env);
	env->text = text;
	env->decoded_attachments = decoded;
	env->fold_accents = fold;
	env->hdrfilter = filter ? exclude_mailer : NULL;
}

/* ---- the answered/answerable contract, every argument type ---------- */

static const enum mail_search_arg_type all_types[] = {
	SEARCH_OR, SEARCH_SUB, SEARCH_ALL, SEARCH_SEQSET, SEARCH_UIDSET,
	SEARCH_FLAGS, SEARCH_KEYWORDS, SEARCH_BEFORE, SEARCH_ON, SEARCH_SINCE,
	SEARCH_SMALLER, SEARCH_LARGER, SEARCH_HEADER, SEARCH_HEADER_ADDRESS,
	SEARCH_HEADER_COMPRESS_LWSP, SEARCH_BODY, SEARCH_TEXT, SEARCH_MODSEQ,
	SEARCH_SAVEDATESUPPORTED, SEARCH_INTHREAD, SEARCH_GUID,
	SEARCH_MAILBOX, SEARCH_MAILBOX_GUID, SEARCH_MAILBOX_GLOB,
	SEARCH_REAL_UID, SEARCH_MIMEPART,
};

static bool type_is_text(enum mail_search_arg_type type)
{
	return type == SEARCH_BODY || type == SEARCH_TEXT ||
		type == SEARCH_HEADER || type == SEARCH_HEADER_ADDRESS ||
		type == SEARCH_HEADER_COMPRESS_LWSP;
}

static const char *const contract_values[] = {
	"kselftest", "selft", "KSELFTEST", "foo-bar", "foo.", "v5.10",
	"a<b", "x:y", "two words", "carol@example.org", "x", "\xc3\xa9",
	"Caf\xc3\xa9", "caf\xc3\xa9 au lait", "\xe6\x9d\xb1\xe4\xba\xac",
	"-", "- -", "", " ", "\t",
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
};
static const char *const contract_headers[] = {
	NULL, "Subject", "SUBJECT", "From", "To", "Cc", "Bcc", "Reply-To",
	"Sender", "X-Mailer", "Message-ID", "Received", "Bad Name", "X:Y",
	"",
};

/* The contract Dovecot relies on (lookup_multi panics without it): the
   leaves a lookup answers - those whose recipe is built, and only those
   (sift_query_leaf()) - are exactly the ones marked answerable.  Over
   every argument type, value, header, setting, with and without NOT,
   FUZZY and no_fts, each argument alone and all in one list. */
static void test_search_args_contract(void)
{
	struct sift_leaf_recipe recipe;
	struct sift_args_env env;
	struct mail_search_arg *arg, *list, **tail;
	unsigned int t, v, h, e, m, checked = 0, answered = 0, idx;
	const char *error;
	int ret;

	test_begin("answered = answerable, for every argument type");
	for (e = 0; e < 8; e++) {
		env_init(&env, (e & 1) != 0, (e & 2) != 0, (e & 4) != 0);
		list = NULL;
		tail = &list;
		for (t = 0; t < N_ELEMENTS(all_types); t++)
		for (v = 0; v < N_ELEMENTS(contract_values); v++)
		for (h = 0; h < N_ELEMENTS(contract_headers); h++)
		for (m = 0; m < 4; m++) {
			idx = ((e * 100 + t) * 100 + v) * 100 + h;
			arg = arg_new(all_types[t], contract_headers[h],
				      contract_values[v]);
			arg->match_not = (m & 1) != 0;
			arg->fuzzy = (m & 2) != 0;
			arg->no_fts = m == 3 && h == 0;
			T_BEGIN {
				ret = sift_leaf_recipe_build(&env, arg,
							     &recipe, &error);
				if (ret > 0)
					sift_leaf_recipe_free(&recipe);
			} T_END;
			test_assert_idx(ret >= 0, idx);
			sift_search_args_mark_answerable(&env, arg);
			/* date leaves are answered without a recipe
			   (sift-dates.h) */
			if (sift_search_arg_is_date(arg)) {
				test_assert_idx(ret == 0, idx);
				ret = 1;
			}
			test_assert_idx(arg->match_always == (ret > 0), idx);
			/* only text searches and dates, never a no_fts
			   one */
			if ((!type_is_text(all_types[t]) &&
			     !sift_search_arg_is_date(arg)) || arg->no_fts)
				test_assert_idx(ret == 0, idx);
			/* BODY and TEXT of a word are always answered */
			if ((all_types[t] == SEARCH_BODY ||
			     all_types[t] == SEARCH_TEXT) && v == 0 &&
			    !arg->no_fts)
				test_assert_idx(ret > 0, idx);
			checked++;
			answered += ret > 0 ? 1 : 0;
			/* the same argument again, in one long list */
			arg = arg_new(all_types[t], contract_headers[h],
				      contract_values[v]);
			arg->match_not = (m & 1) != 0;
			arg->no_fts = m == 3 && h == 0;
			arg->value.flags = ret > 0 ? 1 : 0;
			*tail = arg;
			tail = &arg->next;
		}
		sift_search_args_mark_answerable(&env, list);
		for (arg = list, idx = 0; arg != NULL; arg = arg->next, idx++)
			test_assert_idx(arg->match_always ==
					(arg->value.flags != 0), idx);
		p_clear(pool);
	}
	test_assert(answered > 0 && answered < checked);
	test_end();
}

/* mark_answerable works on one level: the leaves inside OR and sub-lists
   are marked when Dovecot looks their level up, not before. */
static void test_search_args_levels(void)
{
	struct sift_args_env env;
	struct mail_search_arg *body, *from, *since, *text_arg, *hdr, *seen,
		*or, *sub, *top, *excluded, *addr_hdr;

	test_begin("mark_answerable: one level, not below");
	env_init(&env, FALSE, FALSE, TRUE);
	body = arg_new(SEARCH_BODY, NULL, "kselftest");
	from = arg_new(SEARCH_HEADER_ADDRESS, "From", "carol");
	since = arg_new(SEARCH_SINCE, NULL, NULL);
	text_arg = arg_new(SEARCH_TEXT, NULL, "two words");
	hdr = arg_new(SEARCH_HEADER, "X-Foo", "bar");
	hdr->match_not = TRUE;
	seen = arg_new(SEARCH_FLAGS, NULL, NULL);
	excluded = arg_new(SEARCH_HEADER, "X-Mailer", "mutt");
	addr_hdr = arg_new(SEARCH_HEADER, "To", "bob");
	or = arg_sub(SEARCH_OR, arg_list(from, since, NULL));
	sub = arg_sub(SEARCH_SUB, arg_list(text_arg, hdr, NULL));
	top = arg_list(body, or, sub, seen, excluded, addr_hdr, NULL);

	sift_search_args_mark_answerable(&env, top);
	test_assert(body->match_always);
	test_assert(!or->match_always && !sub->match_always);
	test_assert(!seen->match_always);
	/* fts_header_excludes: Dovecot's; HEADER of an address header:
	   Dovecot's (it matches the raw value) */
	test_assert(!excluded->match_always);
	test_assert(!addr_hdr->match_always);
	test_assert(!from->match_always && !since->match_always);
	test_assert(!text_arg->match_always && !hdr->match_always);

	sift_search_args_mark_answerable(&env, or->value.subargs);
	/* (a date leaf is answered too, sift-dates.h) */
	test_assert(from->match_always && since->match_always);
	sift_search_args_mark_answerable(&env, sub->value.subargs);
	test_assert(text_arg->match_always && hdr->match_always);
	p_clear(pool);
	test_end();
}

/* ---- answered leaves first ------------------------------------------ */

static bool type_is_movable(enum mail_search_arg_type type)
{
	return type_is_text(type) || type == SEARCH_BEFORE ||
		type == SEARCH_ON || type == SEARCH_SINCE ||
		type == SEARCH_SMALLER || type == SEARCH_LARGER;
}

/* Random levels of every argument type, with the leaves the recipes
   answer marked (and, for the rule itself, random marks too): after
   sift_search_args_answered_first() the nodes and their links are the
   same, every argument's contents are still there once, arguments of
   other types (sub-lists, ALL, flags, sets, ...: Dovecot may have put
   flags of its own on them by position) are untouched, and among the
   movable ones the answered come first, each group in its order. */
static void test_search_args_answered_first(void)
{
	struct sift_args_env env;
	struct mail_search_arg *nodes[12], *held[12], *list, *arg, **ref;
	struct mail_search_arg before[12];
	ARRAY_TYPE(sift_arg_ref) refs;
	unsigned int round, n, i, j, ids[12], expect[12], k, moved = 0;

	test_begin("answered leaves first, only among the movable");
	env_init(&env, FALSE, FALSE, FALSE);
	for (round = 0; round < 20000; round++) {
		n = 1 + i_rand_limit(N_ELEMENTS(nodes));
		for (i = 0; i < n; i++) {
			enum mail_search_arg_type type =
				all_types[i_rand_limit(N_ELEMENTS(all_types))];

			nodes[i] = arg_new(type, contract_headers[
				i_rand_limit(N_ELEMENTS(contract_headers))],
					   contract_values[i_rand_limit(
				N_ELEMENTS(contract_values))]);
			if (type == SEARCH_OR || type == SEARCH_SUB) {
				nodes[i]->value.subargs =
					arg_new(SEARCH_BODY, NULL, "x");
			}
			/* the node's identity travels with its contents */
			nodes[i]->value.size = i + 1;
			if (i > 0)
				nodes[i - 1]->next = nodes[i];
		}
		list = nodes[0];
		if (round % 2 == 0)
			sift_search_args_mark_answerable(&env, list);
		else {
			for (i = 0; i < n; i++)
				nodes[i]->match_always = i_rand_limit(2) == 1;
		}
		for (i = 0; i < n; i++)
			before[i] = *nodes[i];
		/* what the order must be: the movable positions get the
		   answered contents, then the others */
		k = 0;
		for (unsigned int pass = 0; pass < 2; pass++) {
			for (i = 0; i < n; i++) {
				if (type_is_movable(before[i].type) &&
				    before[i].match_always == (pass == 0))
					ids[k++] = i;
			}
		}
		for (i = 0, j = 0; i < n; i++) {
			expect[i] = type_is_movable(before[i].type) ?
				ids[j++] : i;
		}
		/* pointers kept elsewhere at every leaf (the walk's certain
		   leaves) follow their leaves' contents */
		p_array_init(&refs, pool, 12);
		for (i = 0; i < n; i++) {
			held[i] = nodes[i];
			ref = &held[i];
			array_push_back(&refs, &ref);
		}
		sift_search_args_answered_first(list, &refs);
		for (i = 0; i < n; i++) {
			test_assert_idx(held[i]->value.size ==
					before[i].value.size, round);
			test_assert_idx(held[i]->type == before[i].type, round);
		}
		for (i = 0, arg = list; i < n; i++, arg = arg->next) {
			test_assert_idx(arg == nodes[i], round);
			test_assert_idx(arg->next == before[i].next, round);
			test_assert_idx(arg->value.size ==
					before[expect[i]].value.size, round);
			test_assert_idx(arg->type == before[expect[i]].type,
					round);
			test_assert_idx(arg->match_always ==
					before[expect[i]].match_always, round);
			test_assert_idx(arg->value.str ==
					before[expect[i]].value.str, round);
			test_assert_idx(arg->value.subargs ==
					before[expect[i]].value.subargs, round);
			if (expect[i] != i)
				moved++;
		}
		test_assert_idx(arg == NULL, round);
		p_clear(pool);
	}
	/* (the rounds did move something) */
	test_assert(moved > 1000);
	test_end();
}

/* ---- each kind of leaf's recipe ------------------------------------- */

enum env_bits {
	ENV_DECODED = 1,
	ENV_FOLD = 2,
	ENV_FILTER = 4,
};

#define NO_STEP ((enum sift_leaf_step)-1)

struct recipe_case {
	enum mail_search_arg_type type;
	const char *hdr, *value;
	unsigned int env;
	/* NO_STEP: left to Dovecot */
	enum sift_leaf_step step;
	/* MATCH: a matching term is certain */
	bool exact;
	/* the first term family read */
	const char *prefix;
	bool chunk_candidates;
	const char *why;
};

static const char *const step_names[] = {
	"ALL_MAYBE", "EXISTS", "MATCH", "CHUNK", "TEXT_CHUNK", "CANDIDATES",
	"PHRASE", "CHAR", "TEXT_PHRASE",
};

static const char *step_name(int step)
{
	return step < 0 ? "left to Dovecot" : step_names[step];
}

static const struct recipe_case recipe_cases[] = {
	{ SEARCH_BODY, NULL, "kselftest", 0, SIFT_STEP_MATCH, TRUE, "B", FALSE,
	  "a body word: any term holding it is a match" },
	{ SEARCH_BODY, NULL, "selft", 0, SIFT_STEP_MATCH, TRUE, "B", FALSE,
	  "a substring of a word: same" },
	{ SEARCH_BODY, NULL, "foo-bar", 0, SIFT_STEP_CHUNK, TRUE, "B", FALSE,
	  "two tokens without whitespace: their run is a term" },
	{ SEARCH_BODY, NULL, "foo.", 0, SIFT_STEP_CHUNK, TRUE, "B", TRUE,
	  "one token with punctuation: its run may not be kept" },
	{ SEARCH_BODY, NULL, "two words", 0, SIFT_STEP_PHRASE, TRUE, "B", FALSE,
	  "a body phrase: gap filters, then Dovecot checks" },
	{ SEARCH_BODY, NULL, "x", 0, SIFT_STEP_CHAR, TRUE, "B", FALSE,
	  "one character: the body's character map" },
	{ SEARCH_BODY, NULL, "-", 0, SIFT_STEP_CHAR, TRUE, "B", FALSE,
	  "one character, punctuation too" },
	{ SEARCH_BODY, NULL, "- -", 0, NO_STEP, FALSE, NULL, FALSE,
	  "no token: Dovecot scans" },
	{ SEARCH_BODY, NULL, "- -", ENV_DECODED, SIFT_STEP_ALL_MAYBE, TRUE, "B", FALSE,
	  "no token, but attachment text Dovecot can't read" },
	{ SEARCH_BODY, NULL, "", ENV_DECODED, NO_STEP, FALSE, NULL, FALSE,
	  "empty: matches everything, for Dovecot too" },
	{ SEARCH_TEXT, NULL, "kselftest", 0, SIFT_STEP_MATCH, TRUE, "B", FALSE,
	  "a TEXT word: every field's terms" },
	{ SEARCH_TEXT, NULL, "foo-bar", 0, SIFT_STEP_TEXT_CHUNK, TRUE, "B", FALSE,
	  "TEXT chunk: runs exact, pool gives candidates" },
	{ SEARCH_TEXT, NULL, "x:y", 0, SIFT_STEP_CANDIDATES, TRUE, "B", FALSE,
	  "':' may span a header's name and value" },
	{ SEARCH_TEXT, NULL, "two words", 0, SIFT_STEP_TEXT_PHRASE, TRUE, "B", FALSE,
	  "a TEXT phrase: the bodies' gap filters, the headers' words" },
	{ SEARCH_TEXT, NULL, "x: y", 0, SIFT_STEP_TEXT_PHRASE, TRUE, "B", FALSE,
	  "a TEXT phrase with ':' (a header's name is a header term)" },
	{ SEARCH_TEXT, NULL, "two\r\nlines", 0, SIFT_STEP_CANDIDATES, TRUE, "B", FALSE,
	  "a line break: may run from a part's headers into its body" },
	{ SEARCH_TEXT, NULL, "-", 0, SIFT_STEP_TEXT_CHUNK, TRUE, "B", TRUE,
	  "a run without words is a term of its own" },
	{ SEARCH_TEXT, NULL, "- -", 0, NO_STEP, FALSE, NULL, FALSE,
	  "no token" },
	{ SEARCH_TEXT, NULL, "- -", ENV_DECODED, SIFT_STEP_ALL_MAYBE, TRUE, "B",
	  FALSE, "no token, attachment text" },
	{ SEARCH_HEADER_COMPRESS_LWSP, "Subject", "kselftest", 0, SIFT_STEP_MATCH,
	  TRUE, "Hsubject:", FALSE, "SUBJECT: the keyed header" },
	{ SEARCH_HEADER_COMPRESS_LWSP, "Subject", "two words", 0, SIFT_STEP_PHRASE,
	  TRUE, "Hsubject:", FALSE, "a Subject phrase has gap filters" },
	{ SEARCH_HEADER, "Subject", "foo-bar", 0, SIFT_STEP_CHUNK, TRUE,
	  "Hsubject:", FALSE, "HEADER Subject: keyed, with runs" },
	/* (the keys: FNV-1a of the normalized, i.e. upper-cased, name,
	   computed in Python) */
	{ SEARCH_HEADER, "X-Foo", "bar", 0, SIFT_STEP_MATCH, TRUE, "Ku8qz:",
	  FALSE, "a hashed header: its key's terms, definite" },
	{ SEARCH_HEADER, "x-FOO", "bar-baz", 0, SIFT_STEP_CHUNK, TRUE, "Ku8qz:",
	  FALSE, "a hashed header has runs, in any case of the name" },
	{ SEARCH_HEADER, "X-Foo", "two words", 0, SIFT_STEP_PHRASE, TRUE,
	  "Ku8qz:", FALSE, "... and gap filters" },
	{ SEARCH_HEADER, "X-Foo", "", 0, SIFT_STEP_EXISTS, TRUE, "Ku8qz:", FALSE,
	  "HEADER x \"\": the header's name" },
	{ SEARCH_HEADER, "X-Mailer", "mutt", ENV_FILTER, NO_STEP, FALSE, NULL,
	  FALSE, "fts_header_excludes: no text indexed" },
	{ SEARCH_HEADER, "X-Mailer", "", ENV_FILTER, SIFT_STEP_EXISTS, TRUE, "KKCJp:",
	  FALSE, "... but its name is" },
	{ SEARCH_HEADER, "From", "carol", 0, NO_STEP, FALSE, NULL, FALSE,
	  "HEADER From: Dovecot matches the raw value" },
	{ SEARCH_HEADER, "Bad Name", "x", 0, NO_STEP, FALSE, NULL, FALSE,
	  "a name that is no key" },
	{ SEARCH_HEADER, NULL, "x", 0, NO_STEP, FALSE, NULL, FALSE,
	  "no name" },
	{ SEARCH_HEADER_ADDRESS, "From", "carol", 0, SIFT_STEP_MATCH, TRUE,
	  "Afrom:", FALSE, "FROM: the address runs" },
	{ SEARCH_HEADER_ADDRESS, "To", "carol@example.org", 0, SIFT_STEP_MATCH,
	  TRUE, "Ato:", FALSE, "a whole address is one run" },
	{ SEARCH_HEADER_ADDRESS, "To", "<carol@example.org>", 0,
	  SIFT_STEP_CANDIDATES, TRUE, "Ato:", FALSE,
	  "address punctuation splits runs: candidates" },
	{ SEARCH_HEADER_ADDRESS, "Cc", "two words", 0, SIFT_STEP_MATCH, TRUE,
	  "Acc:", FALSE, "one space between two runs: a run pair term" },
	{ SEARCH_HEADER_ADDRESS, "Cc", "three more words", 0,
	  SIFT_STEP_CANDIDATES, TRUE, "Acc:", FALSE,
	  "address runs have no gap filters" },
	{ SEARCH_BODY, NULL, "Caf\xc3\xa9", ENV_FOLD, SIFT_STEP_MATCH, TRUE, "B",
	  FALSE, "fold_accents: the word without accents" },
};

static void test_search_args_recipes(void)
{
	struct sift_leaf_recipe r;
	struct sift_args_env env;
	struct mail_search_arg *arg;
	const char *error;
	unsigned int i;
	int ret;

	test_begin("recipe of each kind of leaf");
	for (i = 0; i < N_ELEMENTS(recipe_cases); i++) T_BEGIN {
		const struct recipe_case *c = &recipe_cases[i];
		bool ok;

		env_init(&env, (c->env & ENV_DECODED) != 0,
			 (c->env & ENV_FOLD) != 0, (c->env & ENV_FILTER) != 0);
		arg = arg_new(c->type, c->hdr, c->value);
		ret = sift_leaf_recipe_build(&env, arg, &r, &error);
		if (c->step == NO_STEP)
			ok = ret == 0;
		else {
			ok = ret == 1 && r.step == c->step &&
				(c->step != SIFT_STEP_MATCH ||
				 r.exact == c->exact) &&
				r.chunk_candidates == c->chunk_candidates &&
				r.hashed == (c->prefix[0] == 'K') &&
				r.prefix_count > 0 &&
				strcmp(r.prefixes[0].prefix, c->prefix) == 0 &&
				r.doubts == (c->step != SIFT_STEP_EXISTS) &&
				r.check_decoded ==
				(c->step != SIFT_STEP_EXISTS &&
				 (c->type == SEARCH_BODY ||
				  c->type == SEARCH_TEXT));
		}
		if (!ok) {
			printf("case %u: %s %s '%s': expected %s%s (%s), got "
			       "%s%s\n", i, c->type == SEARCH_BODY ? "BODY" :
			       c->type == SEARCH_TEXT ? "TEXT" : "HEADER",
			       c->hdr == NULL ? "" : c->hdr, c->value,
			       step_name(c->step),
			       c->step == SIFT_STEP_MATCH ?
			       (c->exact ? " into definite" : " into maybe") :
			       "", c->why,
			       ret <= 0 ? "left to Dovecot" : step_name(r.step),
			       ret > 0 && r.step == SIFT_STEP_MATCH ?
			       (r.exact ? " into definite" : " into maybe") :
			       "");
		}
		if (!ok && ret > 0)
			printf("  prefix %s, hashed %d\n", r.prefixes[0].prefix,
			       r.hashed);
		test_assert_idx(ok, i);
		if (ret > 0 && (c->env & ENV_FOLD) != 0) {
			/* searched as folded, compared with attachment text
			   as written */
			test_assert_idx(strcmp(r.plan.normalized, "CAFE") == 0, i);
			test_assert_idx(r.searched_len > 4, i);
		}
		if (ret > 0)
			sift_leaf_recipe_free(&r);
	} T_END;
	/* address punctuation and '<' in TEXT */
	T_BEGIN {
		env_init(&env, FALSE, FALSE, FALSE);
		arg = arg_new(SEARCH_TEXT, NULL, "a<b");
		test_assert(sift_leaf_recipe_build(&env, arg, &r, &error) == 1);
		test_assert(r.step == SIFT_STEP_TEXT_CHUNK && r.addr_punct &&
			    r.html_split);
		sift_leaf_recipe_free(&r);
		arg = arg_new(SEARCH_BODY, NULL, "foo-bar");
		test_assert(sift_leaf_recipe_build(&env, arg, &r, &error) == 1);
		test_assert(!r.addr_punct && !r.html_split);
		sift_leaf_recipe_free(&r);
		arg = arg_new(SEARCH_HEADER, "Subject", "a<b");
		test_assert(sift_leaf_recipe_build(&env, arg, &r, &error) == 1);
		/* no HTML in headers */
		test_assert(r.step == SIFT_STEP_CHUNK && !r.html_split);
		sift_leaf_recipe_free(&r);
	} T_END;
	p_clear(pool);
	test_end();
}

/* ---- the flag terms' doubts ----------------------------------------- */

static void set_of(ARRAY_TYPE(seq_range) *dest, const char *uids)
{
	t_array_init(dest, 8);
	for (; *uids != '\0'; uids++) {
		if (*uids >= '1' && *uids <= '9')
			seq_range_array_add(dest, *uids - '0');
	}
}

static bool set_is(const ARRAY_TYPE(seq_range) *set, const char *uids)
{
	ARRAY_TYPE(seq_range) want;
	const struct seq_range *a, *b;
	unsigned int n, m;

	set_of(&want, uids);
	a = array_get(set, &n);
	b = array_get(&want, &m);
	if (n != m)
		return FALSE;
	for (unsigned int i = 0; i < n; i++) {
		if (a[i].seq1 != b[i].seq1 || a[i].seq2 != b[i].seq2)
			return FALSE;
	}
	return TRUE;
}

static void test_search_args_doubts(void)
{
	static const struct {
		enum mail_search_arg_type type;
		const char *hdr, *value;
		const char *definite, *maybe;
	} cases[] = {
		/* leaf before: definite 1234, maybe 5.  Flags: truncated 16,
		   raw 27, html 38, untrusted body 4, headers 3, text 2 */
		/* short BODY word: raw bodies may hold it unindexed;
		   untrusted bodies make 4 unsure */
		{ SEARCH_BODY, NULL, "kselftest", "123", "457" },
		/* a string over SIFT_WINDOW_SAFE_NEEDLE: cut terms too */
		{ SEARCH_BODY, NULL, NULL, "123", "4567" },
		/* '<' in a body chunk: HTML bodies' split runs */
		{ SEARCH_BODY, NULL, "a<b", "123", "4578" },
		/* TEXT: body, header and TEXT doubts */
		{ SEARCH_TEXT, NULL, "kselftest", "1", "23457" },
		/* Subject: header doubts only */
		{ SEARCH_HEADER_COMPRESS_LWSP, "Subject", "kselftest", "124",
		  "35" },
		{ SEARCH_HEADER_ADDRESS, "From", "carol", "124", "35" },
		/* HEADER x "": the name is certain either way */
		{ SEARCH_HEADER, "X-Foo", "", "1234", "5" },
	};
	char long_value[SIFT_WINDOW_SAFE_NEEDLE + 2];
	ARRAY_TYPE(seq_range) truncated, raw, html, ub, uh, ut;
	struct sift_leaf_recipe r;
	struct sift_args_env env;
	struct sift_doubts d;
	struct sift_leaf leaf;
	const char *error;
	unsigned int i;

	test_begin("doubts of the flag terms, per field");
	memset(long_value, 'a', sizeof(long_value) - 1);
	long_value[sizeof(long_value) - 1] = '\0';
	env_init(&env, FALSE, FALSE, FALSE);
	for (i = 0; i < N_ELEMENTS(cases); i++) T_BEGIN {
		struct mail_search_arg *arg = arg_new(cases[i].type,
			cases[i].hdr, cases[i].value == NULL ? long_value :
			cases[i].value);

		test_assert_idx(sift_leaf_recipe_build(&env, arg, &r,
						       &error) == 1, i);
		set_of(&leaf.definite, "1234");
		set_of(&leaf.maybe, "5");
		set_of(&truncated, "16");
		set_of(&raw, "27");
		set_of(&html, "38");
		set_of(&ub, "4");
		set_of(&uh, "3");
		set_of(&ut, "2");
		d.truncated = &truncated;
		d.raw = &raw;
		d.html_split = &html;
		d.untrusted_body = &ub;
		d.untrusted_headers = &uh;
		d.untrusted_text = &ut;
		sift_leaf_add_doubts(&leaf, &r, &d);
		test_assert_idx(set_is(&leaf.definite, cases[i].definite), i);
		test_assert_idx(set_is(&leaf.maybe, cases[i].maybe), i);
		sift_leaf_recipe_free(&r);
	} T_END;
	p_clear(pool);
	test_end();
}

/* ---- NOT, AND, OR of a level ---------------------------------------- */

enum tri { TRI_FALSE, TRI_TRUE, TRI_MAYBE };

static void test_search_args_level_logic(void)
{
#define MAX_UID 12
#define MAX_LEAVES 4
	enum tri leaves[MAX_LEAVES][MAX_UID + 1], want;
	bool nots[MAX_LEAVES];
	ARRAY_TYPE(seq_range) definite, maybe;
	struct sift_level level;
	struct sift_leaf leaf;
	unsigned int round, n, i, uid, last_uid;
	bool and_args;

	test_begin("level: NOT, AND, OR against three-valued logic");
	rng_seed(77);
	for (round = 0; round < 2000; round++) T_BEGIN {
		and_args = (round & 1) != 0;
		n = 1 + rng_next() % MAX_LEAVES;
		last_uid = round % 50 == 0 ? 0 : 1 + rng_next() % MAX_UID;
		sift_level_init(&level, and_args, last_uid);
		for (i = 0; i < n; i++) {
			nots[i] = rng_next() % 3 == 0;
			t_array_init(&leaf.definite, 8);
			t_array_init(&leaf.maybe, 8);
			for (uid = 1; uid <= MAX_UID; uid++) {
				leaves[i][uid] = rng_next() % 3;
				/* the index answers only up to last_uid */
				if (uid > last_uid)
					leaves[i][uid] = TRI_FALSE;
				if (leaves[i][uid] == TRI_TRUE)
					seq_range_array_add(&leaf.definite, uid);
				else if (leaves[i][uid] == TRI_MAYBE)
					seq_range_array_add(&leaf.maybe, uid);
			}
			sift_level_add(&level, &leaf, nots[i]);
		}
		test_assert_idx(level.answered == n, round);
		t_array_init(&definite, 8);
		t_array_init(&maybe, 8);
		sift_level_result(&level, &definite, &maybe);
		for (uid = 1; uid <= MAX_UID; uid++) {
			bool any_true = FALSE, any_false = FALSE;
			bool all_true = TRUE, all_false = TRUE;

			for (i = 0; i < n; i++) {
				enum tri v = leaves[i][uid];

				if (nots[i] && v != TRI_MAYBE)
					v = v == TRI_TRUE ? TRI_FALSE : TRI_TRUE;
				any_true |= v == TRI_TRUE;
				any_false |= v == TRI_FALSE;
				all_true &= v == TRI_TRUE;
				all_false &= v == TRI_FALSE;
			}
			if (and_args) {
				want = all_true ? TRI_TRUE :
					any_false ? TRI_FALSE : TRI_MAYBE;
			} else {
				want = any_true ? TRI_TRUE :
					all_false ? TRI_FALSE : TRI_MAYBE;
			}
			/* above last_uid the index says nothing: Dovecot
			   reads those messages (neither set) */
			if (uid > last_uid)
				want = TRI_FALSE;
			test_assert_idx(seq_range_exists(&definite, uid) ==
					(want == TRI_TRUE), round);
			test_assert_idx(seq_range_exists(&maybe, uid) ==
					(want == TRI_MAYBE), round);
		}
	} T_END;
	/* no answered leaf: nothing at all */
	T_BEGIN {
		sift_level_init(&level, TRUE, 10);
		t_array_init(&definite, 8);
		t_array_init(&maybe, 8);
		sift_level_result(&level, &definite, &maybe);
		test_assert(array_count(&definite) == 0 &&
			    array_count(&maybe) == 0);
	} T_END;
	test_end();
}

/* A level's maybe set (1..last_uid less its definite and false sets,
   computed in one pass): ranges at both ends of the universe, adjacent
   and overlapping ones across the two sets, ranges past last_uid and up
   to the largest UID. */
static void test_search_args_level_maybe(void)
{
	static const struct {
		uint32_t last_uid;
		const char *definite, *falses, *maybe;
	} cases[] = {
		{ 10, "", "", "1-10" },
		{ 10, "1-10", "", "" },
		{ 10, "", "1-10", "" },
		{ 10, "1-3", "4-10", "" },
		{ 10, "2", "9", "1,3-8,10" },
		{ 10, "1,5", "3-6", "2,7-10" },
		{ 10, "4-6", "1-20", "" },
		{ 10, "8-4294967295", "1", "2-7" },
		{ 4294967295U, "1-4294967294", "", "4294967295" },
		{ 4294967295U, "2-4294967295", "", "1" },
		{ 4294967295U, "3-9", "9-4294967295", "1-2" },
		{ 20, "3,7,11", "5,7,12-13", "1-2,4,6,8-10,14-20" },
	};

	test_begin("search args: a level's maybe set");
	for (unsigned int i = 0; i < N_ELEMENTS(cases); i++) T_BEGIN {
		struct sift_level level;
		ARRAY_TYPE(seq_range) definite, maybe, want;

		sift_level_init(&level, TRUE, cases[i].last_uid);
		level.answered = 1;
		test_assert_idx(sift_uid_ranges_parse(cases[i].definite,
						      &level.definite) == 0, i);
		test_assert_idx(sift_uid_ranges_parse(cases[i].falses,
						      &level.falses) == 0, i);
		t_array_init(&definite, 8);
		t_array_init(&maybe, 8);
		t_array_init(&want, 8);
		test_assert_idx(sift_uid_ranges_parse(cases[i].maybe,
						      &want) == 0, i);
		sift_level_result(&level, &definite, &maybe);
		test_assert_idx(strcmp(sift_uid_ranges_str(&maybe),
				       cases[i].maybe) == 0, i);
		test_assert_idx(array_count(&maybe) == array_count(&want), i);
	} T_END;
	test_end();
}

/* Dovecot's comparison (index-search.c search_arg_match_cached()),
   written out without any shortcut: what sift_dates_match() must equal
   for every certain date. */
static int ref_date_match(const struct mail_search_arg *arg, time_t date,
			  int tz_offset, bool have_tz_offset)
{
	struct tm *tm;

	if ((arg->value.search_flags & MAIL_SEARCH_ARG_FLAG_UTC_TIMES) == 0) {
		if (!have_tz_offset) {
			tm = localtime(&date);
			tz_offset = utc_offset(tm, date);
		}
		date += tz_offset * 60;
	}
	switch (arg->type) {
	case SEARCH_BEFORE:
		return date < arg->value.time ? 1 : 0;
	case SEARCH_ON:
		return date >= arg->value.time &&
			date < arg->value.time + 3600 * 24 ? 1 : 0;
	case SEARCH_SINCE:
		return date >= arg->value.time ? 1 : 0;
	default:
		i_unreached();
	}
}

/* The kept dates (sift-dates.c): the encoding round trip, which dates are
   certain, which leaves are answered, and sift_dates_match() against
   Dovecot's comparison for random dates near the searched days, in
   timezones with DST, half hours and the date line. */
static void test_search_args_dates(void)
{
	static const char *const zones[] = {
		"UTC", "America/New_York", "Australia/Lord_Howe",
		"Asia/Kathmandu", "Pacific/Kiritimati", "Pacific/Pago_Pago",
		"Europe/Berlin", "America/St_Johns"
	};
	static const enum mail_search_arg_type types[] = {
		SEARCH_BEFORE, SEARCH_ON, SEARCH_SINCE
	};
	unsigned char buf[SIFT_DATES_VALUE_SIZE];
	struct sift_dates d, d2;
	struct mail_search_arg *arg;
	const char *old_tz = getenv("TZ");
	unsigned int z, i, checked = 0, matched = 0;
	int ret;

	test_begin("dates kept and compared as Dovecot does");
	/* round trip; uncertain dates are stored as absent */
	i_zero(&d);
	d.received = TRUE; d.received_time = 1557446400;
	d.sent = TRUE; d.sent_time = 1557446399; d.sent_tz = -570;
	sift_dates_encode(&d, buf);
	test_assert(sift_dates_decode(buf, sizeof(buf), &d2));
	test_assert(d2.received && d2.received_time == d.received_time);
	test_assert(d2.sent && d2.sent_time == d.sent_time &&
		    d2.sent_tz == -570);
	d.received_time = -1;
	d.sent_time = (time_t)1 << 31;
	sift_dates_encode(&d, buf);
	test_assert(sift_dates_decode(buf, sizeof(buf), &d2));
	test_assert(!d2.received && !d2.sent);
	test_assert(!sift_dates_decode(buf, sizeof(buf) - 1, &d2));
	buf[0] = 99;
	test_assert(!sift_dates_decode(buf, sizeof(buf), &d2));
	test_assert(!sift_dates_time_certain(0));
	test_assert(sift_dates_time_certain(1));
	test_assert(sift_dates_time_certain(0x7ffffffe));
	test_assert(!sift_dates_time_certain(0x7fffffff));

	/* which leaves: received and sent dates, not saved dates, not sent
	   dates with UTC times, not no_fts */
	arg = arg_new(SEARCH_SINCE, NULL, NULL);
	test_assert(sift_search_arg_is_date(arg));
	arg->value.date_type = MAIL_SEARCH_DATE_TYPE_SAVED;
	test_assert(!sift_search_arg_is_date(arg));
	arg->value.date_type = MAIL_SEARCH_DATE_TYPE_SENT;
	test_assert(sift_search_arg_is_date(arg));
	arg->value.search_flags = MAIL_SEARCH_ARG_FLAG_UTC_TIMES;
	test_assert(!sift_search_arg_is_date(arg));
	arg->value.date_type = MAIL_SEARCH_DATE_TYPE_RECEIVED;
	test_assert(sift_search_arg_is_date(arg));
	arg->no_fts = TRUE;
	test_assert(!sift_search_arg_is_date(arg));
	arg = arg_new(SEARCH_SMALLER, NULL, NULL);
	test_assert(!sift_search_arg_is_date(arg));

	/* an uncertain date is Dovecot's */
	i_zero(&d);
	arg = arg_new(SEARCH_BEFORE, NULL, NULL);
	arg->value.time = 1557446400;
	test_assert(sift_dates_match(arg, &d) == -1);
	arg->value.date_type = MAIL_SEARCH_DATE_TYPE_SENT;
	test_assert(sift_dates_match(arg, &d) == -1);

		for (z = 0; z < N_ELEMENTS(zones); z++) {
		setenv("TZ", zones[z], 1);
		tzset();
		for (i = 0; i < 20000; i++) {
			/* a searched day's midnight (UTC, as Dovecot parses
			   it), and a date within three days of it */
			time_t day = (time_t)i_rand_limit(24000) * 86400;
			time_t date = day + (time_t)i_rand_limit(6 * 86400 + 1) -
				3 * 86400;
			int tz = (int)i_rand_limit(1681) - 840;

			/* and exactly on the boundaries, a second either
			   side: UTC midnight, local midnight, the sender's */
			switch (i_rand_limit(4)) {
			case 0:
				date = day + (int)i_rand_limit(3) - 1;
				break;
			case 1: {
				struct tm *tm = localtime(&day);

				date = day - utc_offset(tm, day) * 60 +
					(int)i_rand_limit(3) - 1;
				break;
			}
			case 2:
				date = day - tz * 60 + (int)i_rand_limit(3) - 1;
				break;
			}
			if (!sift_dates_time_certain(date))
				continue;
			arg = arg_new(types[i_rand_limit(3)], NULL, NULL);
			arg->value.time = day;
			if (i_rand_limit(4) == 0) {
				arg->value.search_flags =
					MAIL_SEARCH_ARG_FLAG_UTC_TIMES;
			}
			i_zero(&d);
			d.received = TRUE;
			d.received_time = date;
			d.sent = TRUE;
			d.sent_time = date;
			d.sent_tz = tz;
			sift_dates_encode(&d, buf);
			test_assert(sift_dates_decode(buf, sizeof(buf), &d2));

			ret = sift_dates_match(arg, &d2);
			test_assert_idx(ret == ref_date_match(arg, date, 0,
							       FALSE), i);
			matched += ret;
			arg->value.date_type = MAIL_SEARCH_DATE_TYPE_SENT;
			ret = sift_dates_match(arg, &d2);
			if ((arg->value.search_flags &
			     MAIL_SEARCH_ARG_FLAG_UTC_TIMES) != 0)
				test_assert_idx(ret == -1, i);
			else {
				test_assert_idx(ret == ref_date_match(arg,
							date, tz, TRUE), i);
			}
			checked++;
		}
		p_clear(pool);
	}
	if (old_tz == NULL)
		unsetenv("TZ");
	else
		setenv("TZ", old_tz, 1);
	tzset();
	test_assert(checked > 100000 && matched > checked / 10 &&
		    matched < checked * 9 / 10);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_search_args_contract,
		test_search_args_levels,
		test_search_args_answered_first,
		test_search_args_recipes,
		test_search_args_doubts,
		test_search_args_level_logic,
		test_search_args_level_maybe,
		test_search_args_dates,
		NULL
	};
	const char *err;
	int ret;

	lib_init();
	if (sift_text_init(&text, &err) < 0)
		i_fatal("sift_text_init() failed: %s", err);
	exclude_mailer = sift_hdrfilter_new(NULL, "X-Mailer");
	pool = pool_alloconly_create("test search args", 1024 * 64);
	ret = test_run(test_functions);
	pool_unref(&pool);
	sift_hdrfilter_free(&exclude_mailer);
	sift_text_deinit(&text);
	lib_deinit();
	return ret;
}

/* sift-plan.c: translate one search string into what the index can answer
   (see include/sift-plan.h for the rules and why they are exact). */
#include "lib.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sift-text.h"
#include "sift-plan.h"

/* Candidate needles collected before the longest are kept.  A hostile
   100 KB search string has tens of thousands of tokens; the first ones
   are as good as any for narrowing. */
#define MAX_COLLECT 1024

struct plan_collect {
	struct sift_plan *plan;
	struct sift_plan_needle all[MAX_COLLECT];
	unsigned int all_count;
	unsigned int tokens;
	size_t first_offset, first_len;
	bool any_dictionary;
};

static void collect_add(struct plan_collect *c, const char *s, size_t len)
{
	if (c->all_count < MAX_COLLECT) {
		c->all[c->all_count].str = s;
		c->all[c->all_count].len = len;
		c->all_count++;
	}
}

static size_t utf8_char_len(unsigned char c)
{
	if (c < 0x80)
		return 1;
	if ((c & 0xe0) == 0xc0)
		return 2;
	if ((c & 0xf0) == 0xe0)
		return 3;
	if ((c & 0xf8) == 0xf0)
		return 4;
	return 1;
}

static int plan_token(void *context, const char *tok, size_t len,
		      size_t byte_offset, unsigned int flags)
{
	struct plan_collect *c = context;

	if (c->tokens++ == 0) {
		c->first_offset = byte_offset;
		c->first_len = len;
	}
	if ((flags & SIFT_TOKEN_DICTIONARY) == 0) {
		/* A word may hold address punctuation (UAX #29 keeps "a:b"
		   and Hebrew "x\"y" together), while address runs are split
		   at it: the pieces between are needles that every field's
		   terms hold. */
		size_t start = 0;

		for (size_t i = 0; i <= len; i++) {
			if (i < len && strchr(SIFT_ADDRESS_RUN_SEPARATORS,
					      tok[i]) == NULL)
				continue;
			if (i > start)
				collect_add(c, tok + start, i - start);
			start = i + 1;
		}
		return 0;
	}
	/* A dictionary-segmented run may be split differently in the mail
	   than in the search string, but each of its characters lies inside
	   some token of the mail: use the characters as needles. */
	c->any_dictionary = true;
	for (size_t i = 0; i < len; ) {
		size_t n = utf8_char_len((unsigned char)tok[i]);
		if (n > len - i)
			n = len - i;
		collect_add(c, tok + i, n);
		i += n;
	}
	return 0;
}

static int needle_cmp_len_desc(const void *p1, const void *p2)
{
	const struct sift_plan_needle *n1 = p1, *n2 = p2;

	if (n1->len != n2->len)
		return n1->len > n2->len ? -1 : 1;
	return n1->str < n2->str ? -1 : (n1->str > n2->str ? 1 : 0);
}

static bool has_run_separator(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0' ||
		    strchr(SIFT_ADDRESS_RUN_SEPARATORS, s[i]) != NULL)
			return true;
	}
	return false;
}

/* One space inside the string, and no other run separator or NUL
   (SIFT_PLAN_RUN_PAIR)? */
static bool is_run_pair(const char *s, size_t len)
{
	unsigned int seps = 0;

	if (len < 3 || s[0] == ' ' || s[len - 1] == ' ')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '\0' ||
		    strchr(SIFT_ADDRESS_RUN_SEPARATORS, s[i]) != NULL) {
			if (s[i] != ' ' || ++seps > 1)
				return false;
		}
	}
	return seps == 1;
}

static bool has_chunk_separator(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (sift_is_chunk_separator(s[i]))
			return true;
	}
	return false;
}

/* Keep the longest distinct needles collected (they narrow the most). */
static void plan_keep_needles(struct plan_collect *c, struct sift_plan *plan)
{
	qsort(c->all, c->all_count, sizeof(c->all[0]), needle_cmp_len_desc);
	for (unsigned int i = 0; i < c->all_count &&
		     plan->needle_count < SIFT_PLAN_MAX_NEEDLES; i++) {
		unsigned int j;

		for (j = 0; j < plan->needle_count; j++) {
			if (plan->needles[j].len == c->all[i].len &&
			    memcmp(plan->needles[j].str, c->all[i].str,
				   c->all[i].len) == 0)
				break;
		}
		if (j == plan->needle_count)
			plan->needles[plan->needle_count++] = c->all[i];
	}
}

int sift_plan_build(struct sift_text *text, enum sift_field field,
		    const char *value, size_t value_len,
		    struct sift_plan *plan_r, const char **error_r)
{
	struct plan_collect *c;
	const char *norm;
	size_t norm_len;
	int ret;

	memset(plan_r, 0, sizeof(*plan_r));
	if (value_len == 0) {
		/* HEADER <name> "" only tests existence; an empty BODY or
		   TEXT string matches everything - Dovecot does that */
		plan_r->kind = field == SIFT_FIELD_HEADER ?
			SIFT_PLAN_EXISTS : SIFT_PLAN_UNSUPPORTED;
		return 0;
	}
	if (sift_text_normalize(text, value, value_len, &norm, &norm_len,
				error_r) < 0)
		return -1;
	plan_r->normalized = malloc(norm_len + 1);
	c = calloc(1, sizeof(*c));
	if (plan_r->normalized == NULL || c == NULL) {
		free(c);
		*error_r = "out of memory";
		return -1;
	}
	memcpy(plan_r->normalized, norm, norm_len + 1);
	plan_r->normalized_len = norm_len;
	norm = plan_r->normalized;

	if (field == SIFT_FIELD_ADDRESS && (!has_run_separator(norm, norm_len) ||
					    is_run_pair(norm, norm_len))) {
		plan_r->kind = has_run_separator(norm, norm_len) ?
			SIFT_PLAN_RUN_PAIR : SIFT_PLAN_RUN;
		plan_r->needles[0].str = norm;
		plan_r->needles[0].len = norm_len;
		plan_r->needle_count = 1;
		free(c);
		return 0;
	}

	c->plan = plan_r;
	ret = sift_text_tokenize(text, norm, norm_len, plan_token, c,
				 error_r);
	if (ret < 0) {
		free(c);
		return -1;
	}
	plan_r->token_count = c->tokens;
	if (c->tokens == 1 && !c->any_dictionary &&
	    c->first_offset == 0 && c->first_len == norm_len &&
	    /* a word with address punctuation inside is not one term of
	       the address runs (which TEXT reads too) */
	    (field == SIFT_FIELD_BODY || field == SIFT_FIELD_SUBJECT ||
	     field == SIFT_FIELD_HEADER || !has_run_separator(norm, norm_len))) {
		plan_r->kind = SIFT_PLAN_WORD;
		plan_r->needles[0].str = norm;
		plan_r->needles[0].len = norm_len;
		plan_r->needle_count = 1;
	} else if (field != SIFT_FIELD_ADDRESS &&
		   !has_chunk_separator(norm, norm_len) &&
		   memchr(norm, '\0', norm_len) == NULL) {
		/* the whole string is matched against words and runs; the
		   tokens serve fields that hold words only */
		plan_r->kind = SIFT_PLAN_CHUNK;
		plan_keep_needles(c, plan_r);
	} else if (c->tokens == 0) {
		plan_r->kind = SIFT_PLAN_UNSUPPORTED;
	} else {
		plan_r->kind = SIFT_PLAN_CANDIDATES;
		plan_keep_needles(c, plan_r);
	}
	if (field == SIFT_FIELD_BODY && plan_r->kind != SIFT_PLAN_UNSUPPORTED &&
	    sift_text_utf8_is_one_char(norm, norm_len)) {
		plan_r->kind = SIFT_PLAN_CHAR;
		plan_r->needle_count = 0;
	}
	free(c);
	return 0;
}

void sift_plan_free(struct sift_plan *plan)
{
	free(plan->normalized);
	memset(plan, 0, sizeof(*plan));
}

bool sift_plan_is_one_char(const struct sift_plan *plan)
{
	return plan->normalized != NULL &&
		sift_text_utf8_is_one_char(plan->normalized,
					   plan->normalized_len);
}

const char *sift_plan_kind_str(enum sift_plan_kind kind)
{
	switch (kind) {
	case SIFT_PLAN_UNSUPPORTED: return "unsupported";
	case SIFT_PLAN_EXISTS: return "exists";
	case SIFT_PLAN_WORD: return "word";
	case SIFT_PLAN_RUN: return "run";
	case SIFT_PLAN_CHUNK: return "chunk";
	case SIFT_PLAN_CANDIDATES: return "candidates";
	case SIFT_PLAN_CHAR: return "char";
	case SIFT_PLAN_RUN_PAIR: return "run pair";
	}
	return "?";
}

bool sift_header_name_is_keyable(const char *name, size_t len)
{
	if (len == 0 || len > 64)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch <= 0x20 || ch >= 0x7f || ch == ':')
			return false;
	}
	return true;
}

/* Unit tests of sift-hdrread: address headers in the form Dovecot's
   FROM/TO/CC/BCC search compares, the TEXT trust check, and the headers
   a header selection leaves out.  Uses Dovecot's own lib-mail (the code
   under test calls it, in Dovecot's order). */
/* memmem() */
#define _GNU_SOURCE
#include "lib.h"
#include "str.h"
#include "str-sanitize.h"
#include "istream.h"
#include "istream-concat.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-hdrfilter.h"
#include "sift-hdrread.h"
#include "sift-plan.h"

#include <string.h>

static const char *addr_form(const struct sift_hdrread *v, unsigned int i)
{
	const struct sift_hdrread_address *a;

	if (i >= array_count(&v->addresses))
		return NULL;
	a = array_idx(&v->addresses, i);
	return t_strndup(a->value, a->size);
}

static void verify(const char *msg, bool whole, const struct sift_hdrfilter *f,
		   struct sift_hdrread *v)
{
	struct istream *input =
		i_stream_create_from_data(msg, strlen(msg));

	const char *error;

	test_assert(sift_hdrread_message(input, whole, f, v, &error) == 0);
	i_stream_unref(&input);
}

static void test_verify_address_form(void)
{
	struct sift_hdrfilter *f = sift_hdrfilter_new(NULL, NULL);
	struct sift_hdrread v;
	const char *s;

	test_begin("verify address search form");
	T_BEGIN {
		/* an encoded name decoding to address punctuation stays
		   one name: the neighbours are untouched */
		verify("Cc: First <first@example.org>, "
		       "=?utf-8?Q?Edgar_=3CLee=3E?= <lee@example.org>, "
		       "Rob <rob+dt@example.org>\nSubject: x\n\nbody\n",
		       FALSE, f, &v);
		test_assert(array_count(&v.addresses) == 1);
		s = addr_form(&v, 0);
		test_assert(s != NULL && strstr(s, "Edgar <Lee>") != NULL);
		test_assert(s != NULL && strstr(s, "Rob <rob+dt@example.org>") != NULL);
		test_assert(s != NULL && strstr(s, "First <first@example.org>") != NULL);
		test_assert((v.result & SIFT_HDRREAD_ADDRESS_TEXT) == 0);

		/* malformed: Dovecot's placeholders are in the form, and TEXT
		   (which reads the header as written) can't trust it */
		verify("From: me\n\n", FALSE, f, &v);
		s = addr_form(&v, 0);
		test_assert(s != NULL && strstr(s, "MISSING_DOMAIN") != NULL);
		test_assert((v.result & SIFT_HDRREAD_ADDRESS_TEXT) != 0);
		verify("From: MAILER-DAEMON <>\n\n", FALSE, f, &v);
		s = addr_form(&v, 0);
		test_assert(s != NULL && strstr(s, "MISSING") != NULL);
		verify("From: <moderator>\n\n", FALSE, f, &v);
		s = addr_form(&v, 0);
		test_assert(s != NULL && strstr(s, "moderator") != NULL &&
			    strstr(s, "MISSING_DOMAIN") != NULL);

		/* a name the writer escapes ("Ts\'o"): FROM compares the
		   escaped form, TEXT reads "Ts'o", which is kept for it;
		   nothing added, so no flag */
		verify("From: Theodore Ts'o <tytso@mit.edu>\n\n", FALSE, f, &v);
		test_assert(array_count(&v.addresses) == 1);
		if (array_count(&v.addresses) == 1) {
			const struct sift_hdrread_address *a =
				array_idx(&v.addresses, 0);

			test_assert(a->text_extra_size == 5 &&
				    memcmp(a->text_extra, "Ts'o ", 5) == 0);
		}
		test_assert((v.result & SIFT_HDRREAD_ADDRESS_TEXT) == 0);

		/* folded headers are read whole; a non-address header is
		   not in the list */
		verify("To: a@example.org,\n b@example.org\nX-Y: z\n\n", FALSE,
		       f, &v);
		test_assert(array_count(&v.addresses) == 1);
		s = addr_form(&v, 0);
		test_assert(s != NULL && strstr(s, "b@example.org") != NULL);
		test_assert(v.result == 0);

		/* a comment the parser drops: TEXT can't trust the index */
		verify("From: a@example.org (Some Comment)\n\n", FALSE, f, &v);
		s = addr_form(&v, 0);
		test_assert(s != NULL);
		if (s != NULL && strstr(s, "Comment") == NULL)
			test_assert((v.result & SIFT_HDRREAD_ADDRESS_TEXT) != 0);
	} T_END;
	sift_hdrfilter_free(&f);
	test_end();
}

static void test_verify_filter(void)
{
	struct sift_hdrfilter *f =
		sift_hdrfilter_new(NULL, "X-Mailer Received From Content-*");
	static const char multipart[] =
		"From: a@example.org\n"
		"X-Mailer: git-send-email\n"
		"To: b@example.org\n"
		"Content-Type: multipart/mixed; boundary=\"b\"\n"
		"\n"
		"--b\n"
		"Content-Type: text/plain\n"
		"Content-Type: text/html\n"
		"\n"
		"hello\n"
		"--b--\n";
	struct sift_hdrread v;
	const char *const *names;
	unsigned int n;

	test_begin("verify header selection");
	T_BEGIN {
		verify(multipart, FALSE, f, &v);
		names = array_get(&v.excluded, &n);
		/* From, X-Mailer and Content-Type are left out; only To
		   is an address header handed over */
		test_assert(n == 3);
		test_assert(n == 3 && strcmp(names[0], "From") == 0 &&
			    strcmp(names[1], "X-Mailer") == 0 &&
			    strcmp(names[2], "Content-Type") == 0);
		test_assert(array_count(&v.addresses) == 1);
		test_assert((v.result & SIFT_HDRREAD_EXCLUDED) != 0);
		/* the part's two Content-Types: seen only when reading the
		   whole message */
		test_assert((v.result & SIFT_HDRREAD_BODY) == 0);
		verify(multipart, TRUE, f, &v);
		test_assert((v.result & SIFT_HDRREAD_BODY) != 0);
		names = array_get(&v.excluded, &n);
		/* part headers are not top-level names */
		test_assert(n == 3);
	} T_END;
	sift_hdrfilter_free(&f);

	/* only a part header left out: still flagged for TEXT */
	f = sift_hdrfilter_new(NULL, "X-Attachment-Id");
	T_BEGIN {
		verify("Content-Type: multipart/mixed; boundary=\"b\"\n\n"
		       "--b\nX-Attachment-Id: f1\n\nx\n--b--\n", TRUE, f, &v);
		test_assert(array_count(&v.excluded) == 0);
		test_assert((v.result & SIFT_HDRREAD_EXCLUDED) != 0);
	} T_END;
	sift_hdrfilter_free(&f);
	test_end();
}

static void test_verify_same_runs(void)
{
	static const struct {
		const char *a, *b;
		bool same;
	} cases[] = {
		{ "", "", TRUE },
		{ "John Doe <j@x>", "\"John Doe\" <j@x>", TRUE },
		{ "j@x (John Doe)", "John Doe <j@x>", TRUE },
		{ "me", "me@MISSING_DOMAIN", FALSE },
		{ "a@b, c@d", "a@b", FALSE },
		{ "x;y", "x y", TRUE },
		{ "ab", "abc", FALSE },
		{ "abc", "xabcx yz", FALSE },
	};

	test_begin("verify same runs");
	for (unsigned int i = 0; i < N_ELEMENTS(cases); i++) {
		test_assert_idx(sift_hdrread_same_runs(
			(const unsigned char *)cases[i].a, strlen(cases[i].a),
			(const unsigned char *)cases[i].b, strlen(cases[i].b)) ==
			cases[i].same, i);
	}
	test_end();
}

/* The address shortcut (sift_hdrread_address_form() with fast) against
   the full path (Dovecot's parser and writer, both decodes and both run
   comparisons) for one value: when the shortcut is taken, the search
   form, the text kept for TEXT and the trust answer must be the same
   bytes.  Returns whether it was taken; a difference counts in
   *mismatches (the first few are printed). */
static bool fast_matches_full(const unsigned char *value, size_t size,
			      unsigned int *mismatches)
{
	struct sift_hdrread_address full, fast;
	bool full_trusted, fast_trusted;

	i_zero(&full);
	i_zero(&fast);
	test_assert(!sift_hdrread_address_form(value, size, FALSE, &full,
					       &full_trusted));
	if (!sift_hdrread_address_form(value, size, TRUE, &fast,
				       &fast_trusted)) {
		/* the full path, the same as without fast */
		return FALSE;
	}
	if (fast.size != full.size ||
	    memcmp(fast.value, full.value, full.size) != 0 ||
	    fast.text_extra_size != full.text_extra_size ||
	    memcmp(fast.text_extra, full.text_extra,
		   full.text_extra_size) != 0 ||
	    fast_trusted != full_trusted) {
		if (++*mismatches <= 5) {
			i_error("shortcut differs for [%s]: [%s] [%s] %d, "
				"full path [%s] [%s] %d",
				str_sanitize(t_strndup(value, size), 200),
				str_sanitize(t_strndup(fast.value, fast.size),
					     200),
				str_sanitize(t_strndup(fast.text_extra,
						       fast.text_extra_size),
					     200),
				fast_trusted ? 1 : 0,
				str_sanitize(t_strndup(full.value, full.size),
					     200),
				str_sanitize(t_strndup(full.text_extra,
						       full.text_extra_size),
					     200),
				full_trusted ? 1 : 0);
		}
	}
	return TRUE;
}

static const char *rng_pick(const char *const *list, unsigned int count)
{
	return list[rng_next() % count];
}

static void gen_wsp(string_t *str)
{
	static const char *const wsp[] = {
		"", "", "", " ", " ", "  ", "\t", " \t ", "        "
	};

	str_append(str, rng_pick(wsp, N_ELEMENTS(wsp)));
}

/* atext words with every atext special (', =, ? among them), joined by
   dots or spaces; unless clean, sometimes 8-bit bytes, an encoded word
   or two dots */
static void gen_word(string_t *str, bool dots, bool clean)
{
	static const char *const words[] = {
		/* clean: the first 9 */
		"a", "Bob", "x9", "o'neil", "a=b", "q?x", "!#$%&", "*+-/",
		"^_`{|}~",
		"=", "?", "'", "MISSING_DOMAIN", "\xc3\xa9t\xc3\xa9",
		"\xff", "=?utf-8?q?J=C3=B6rg?=", "=?x-unknown?q?abc?=",
		"=?utf-8?b?PGE+?=", "a=?b", "=?", "?=",
	};
	unsigned int n = 1 + rng_next() % 3;

	for (unsigned int k = 0; k < n; k++) {
		if (k > 0 && dots) {
			str_append(str, !clean && rng_next() % 6 == 0 ?
				   ".." : ".");
		} else if (k > 0) {
			str_append_c(str, ' ');
		}
		str_append(str, rng_pick(words, clean ? 9 :
					 N_ELEMENTS(words) - 7 +
					 (rng_next() % 4 == 0 ? 7 : 0)));
	}
}

static void gen_quoted(string_t *str, bool clean)
{
	static const char *const content[] = {
		/* clean: the first 8 */
		"Last, First", "a", "John", "a.b", "x:y;z", "<x@y>", "a(b)c",
		"Ts'o",
		"a\\\"b", "a\\\\b", "", " ", "\t", "(", "[]", "a@b",
		"=?utf-8?q?x?=", "\xc3\xa9", "  two  spaces ",
	};

	str_append_c(str, '"');
	str_append(str, rng_pick(content, clean ? 8 : N_ELEMENTS(content)));
	if (clean || rng_next() % 4 != 0)
		str_append_c(str, '"');
}

static void gen_addr(string_t *str, bool clean)
{
	static const char *const domains[] = {
		/* clean: the first 2 */
		"example.org", "b",
		"[1.2.3.4]", "a..b", "x.", "ex ample.org", "ex(c)ample.org",
		"\xc3\xa9.org", "", "a.b.c.d",
	};

	if (clean) {
		gen_word(str, TRUE, TRUE);
		str_append_c(str, '@');
		str_append(str, rng_pick(domains, 2));
		return;
	}
	if (rng_next() % 8 == 0)
		gen_quoted(str, FALSE);
	else
		gen_word(str, TRUE, FALSE);
	if (rng_next() % 10 != 0) {
		gen_wsp(str);
		str_append_c(str, '@');
		if (rng_next() % 5 == 0)
			gen_wsp(str);
		str_append(str, rng_pick(domains, N_ELEMENTS(domains)));
	}
}

static void gen_mailbox(string_t *str, bool clean)
{
	switch (rng_next() % (clean ? 6 : 8)) {
	case 0:
	case 1:
		gen_addr(str, clean);
		break;
	case 2:
	case 3:
		gen_word(str, rng_next() % 3 == 0, clean);
		for (unsigned int k = rng_next() % 3; k > 0; k--) {
			str_append_c(str, rng_next() % 2 == 0 ? ' ' : '\t');
			gen_wsp(str);
			gen_word(str, rng_next() % 3 == 0, clean);
		}
		gen_wsp(str);
		str_append_c(str, '<');
		gen_addr(str, clean);
		str_append_c(str, '>');
		break;
	case 4:
		gen_quoted(str, clean);
		gen_wsp(str);
		str_append_c(str, '<');
		gen_addr(str, clean);
		str_append_c(str, '>');
		break;
	case 5:
		str_append_c(str, '<');
		if (!clean && rng_next() % 6 == 0)
			str_append(str, "@route.org:");
		gen_addr(str, clean);
		if (clean || rng_next() % 6 != 0)
			str_append_c(str, '>');
		break;
	case 6:
		/* a group */
		gen_word(str, FALSE, clean);
		str_append(str, ": ");
		if (rng_next() % 2 == 0)
			gen_addr(str, clean);
		str_append_c(str, ';');
		break;
	default:
		/* comments */
		gen_addr(str, clean);
		gen_wsp(str);
		str_append(str, rng_next() % 2 == 0 ? "(Comment)" :
			   "(nested (c))");
		break;
	}
}

/* Headers of every kind: lists of mailboxes (names, quoted names, bare
   addresses, groups, comments, encoded words, 8-bit bytes), whitespace
   at every gap; half of them clean (plain mailboxes only, what the
   shortcut is for); then a third of them get one to three bytes of the
   specials (or whitespace, 8-bit, NUL) inserted, deleted or replaced
   anywhere. */
static void gen_header(string_t *str)
{
	static const char specials[] = "()<>@,;:\\\".[] \t=?'a\x80\xc3";
	unsigned int n = rng_next() % 4;
	bool clean = rng_next() % 2 == 0;

	gen_wsp(str);
	for (unsigned int k = 0; k <= n; k++) {
		if (k > 0) {
			gen_wsp(str);
			str_append_c(str, ',');
			gen_wsp(str);
		}
		gen_mailbox(str, clean);
	}
	gen_wsp(str);
	if (rng_next() % 3 != 0)
		return;
	for (unsigned int m = 1 + rng_next() % 3; m > 0; m--) {
		size_t pos = rng_next() % (str_len(str) + 1);
		char c = rng_next() % 40 == 0 ? '\0' :
			specials[rng_next() % (sizeof(specials) - 1)];

		switch (rng_next() % 3) {
		case 0:
			buffer_insert(str, pos, &c, 1);
			break;
		case 1:
			if (pos < str_len(str))
				str_delete(str, pos, 1);
			break;
		default:
			if (pos < str_len(str))
				buffer_write(str, pos, &c, 1);
			break;
		}
	}
}

/* Every string of len bytes over alphabet: the count of those that take
   the shortcut (each compared with the full path) */
static unsigned int fast_all_strings(const char *alphabet, unsigned int len,
				     unsigned int *mismatches)
{
	const unsigned int alen = strlen(alphabet);
	unsigned char buf[8];
	unsigned int i, k, total = 1, taken = 0;

	i_assert(len <= sizeof(buf));
	for (k = 0; k < len; k++)
		total *= alen;
	for (i = 0; i < total; i++) T_BEGIN {
		unsigned int x = i;

		for (k = 0; k < len; k++) {
			buf[k] = alphabet[x % alen];
			x /= alen;
		}
		if (fast_matches_full(buf, len, mismatches))
			taken++;
	} T_END;
	return taken;
}

/* The shortcut proven by class: generated headers of every kind, every
   string of up to 4 bytes over the bytes that matter and of 5 over the
   punctuation of plain lists give the full path's bytes wherever the
   shortcut is taken; and it is taken for a good part of them (else the
   comparison would prove nothing: about 28,000 of the 100,000 generated
   and 210 of the short ones). */
static void test_verify_address_fast(void)
{
	unsigned int i, taken = 0, mismatches = 0, len;

	test_begin("verify address shortcut: generated headers vs full path");
	rng_seed(0x5eed14);
	for (i = 0; i < 100000; i++) T_BEGIN {
		string_t *str = t_str_new(128);

		gen_header(str);
		if (fast_matches_full(str_data(str), str_len(str),
				      &mismatches))
			taken++;
	} T_END;
	test_assert(mismatches == 0);
	test_assert(taken > 20000);
	if (taken <= 20000 || mismatches > 0)
		i_error("generated: %u taken, %u differ", taken, mismatches);

	taken = 0;
	for (len = 0; len <= 4; len++) {
		taken += fast_all_strings("a.@<>, \"'\t=?(:\\", len,
					  &mismatches);
	}
	/* "<a@a>", "a.a@a", "a@a,a"... */
	taken += fast_all_strings("a.@<> \",", 5, &mismatches);
	test_assert(mismatches == 0);
	test_assert(taken > 150);
	if (taken <= 150 || mismatches > 0)
		i_error("short strings: %u taken, %u differ", taken,
			mismatches);
	test_end();
}

/* Plain headers of real mail take the shortcut, and give what the full
   path gives; the others don't take it. */
static void test_verify_address_fast_examples(void)
{
	static const struct {
		const char *value;
		bool taken;
	} tests[] = {
		{ "a@example.org", TRUE },
		{ "    linux-kernel@vger.kernel.org, stable@vger.kernel.org",
		  TRUE },
		{ "  Brendan Higgins <brendanhiggins@google.com>", TRUE },
		{ "\"David S. Miller\" <davem@davemloft.net>,        "
		  "Alexey Kuznetsov <kuznet@ms2.inr.ac.ru>", TRUE },
		{ "John Q. Public <jqp@example.org>", TRUE },
		{ "\"John\" <j@example.org> , <k@example.org>", TRUE },
		{ "O'Neil <o@example.org>", TRUE },
		/* escaped by the writer: its runs differ */
		{ "Theodore Ts'o <tytso@mit.edu>", FALSE },
		{ "me", FALSE },
		{ "a@example.org (Comment)", FALSE },
		{ "undisclosed-recipients:;", FALSE },
		{ "=?utf-8?q?J=C3=B6rg?= <j@example.org>", FALSE },
		{ "J\xc3\xb6rg <j@example.org>", FALSE },
		{ "a@b<c@d>", FALSE },
		{ ".a <c@d>", FALSE },
		{ "a@b,", FALSE },
		{ "", FALSE },
	};
	unsigned int i, mismatches = 0;

	test_begin("verify address shortcut: examples");
	for (i = 0; i < N_ELEMENTS(tests); i++) T_BEGIN {
		const char *v = tests[i].value;

		test_assert_idx(fast_matches_full((const void *)v, strlen(v),
						  &mismatches) ==
				tests[i].taken, i);
	} T_END;
	test_assert(mismatches == 0);
	test_end();
}

/* sift_hdrread_has_encoded_word() answers as memmem() does */
static void test_verify_has_encoded_word(void)
{
	static const char alphabet[] = "=?a";
	unsigned char buf[12];
	unsigned int i, k, len, wrong = 0;

	test_begin("verify has_encoded_word vs memmem");
	rng_seed(77);
	for (i = 0; i < 100000; i++) {
		len = rng_next() % (sizeof(buf) + 1);
		for (k = 0; k < len; k++)
			buf[k] = alphabet[rng_next() % 3];
		if (sift_hdrread_has_encoded_word(buf, len) !=
		    (memmem(buf, len, "=?", 2) != NULL))
			wrong++;
	}
	test_assert(wrong == 0);
	test_end();
}

/* Every run of a (pieces without SIFT_ADDRESS_RUN_SEPARATORS or NUL)
   somewhere in b, looked for from b's start each time: the reference
   for sift_hdrread_same_runs(), which looks after the previous run's
   match first. */
static bool ref_runs_occur_in(const unsigned char *a, size_t a_len,
			      const unsigned char *b, size_t b_len)
{
	size_t i = 0, start, j;

	while (i < a_len) {
		while (i < a_len && (a[i] == '\0' ||
		       strchr(SIFT_ADDRESS_RUN_SEPARATORS, a[i]) != NULL))
			i++;
		start = i;
		while (i < a_len && a[i] != '\0' &&
		       strchr(SIFT_ADDRESS_RUN_SEPARATORS, a[i]) == NULL)
			i++;
		if (i == start)
			continue;
		for (j = 0; j + (i - start) <= b_len; j++) {
			if (memcmp(b + j, a + start, i - start) == 0)
				break;
		}
		if (j + (i - start) > b_len)
			return FALSE;
	}
	return TRUE;
}

static void random_runs(string_t *str, unsigned int runs)
{
	static const char letters[] = "abc@.";
	static const char seps[] = " ,<>;\"";

	for (unsigned int r = 0; r < runs; r++) {
		unsigned int len = i_rand_minmax(1, 4);

		for (unsigned int k = 0; k < len; k++)
			str_append_c(str, letters[i_rand_limit(
				sizeof(letters) - 1)]);
		for (unsigned int k = i_rand_minmax(1, 2); k > 0; k--)
			str_append_c(str, seps[i_rand_limit(
				sizeof(seps) - 1)]);
	}
}

/* Runs in the same order, shuffled, repeated, missing: the search after
   the previous match gives the answer of a search of all of b. */
static void test_verify_same_runs_random(void)
{
	unsigned int i, mismatches = 0;

	test_begin("verify same runs: random headers against a full scan");
	for (i = 0; i < 20000; i++) T_BEGIN {
		string_t *a = t_str_new(64), *b = t_str_new(64);
		unsigned int runs = i_rand_minmax(0, 12);

		random_runs(a, runs);
		switch (i % 3) {
		case 0:
			/* b: a's text with some runs changed or dropped */
			str_append_str(b, a);
			if (str_len(b) > 0 && i_rand_limit(2) == 0)
				str_truncate(b, i_rand_limit(str_len(b)));
			break;
		case 1:
			/* b: a's text, then a's text again reversed */
			str_append_str(b, a);
			for (size_t k = str_len(a); k > 0; k--)
				str_append_c(b, str_c(a)[k - 1]);
			break;
		default:
			random_runs(b, i_rand_minmax(0, 12));
			break;
		}
		bool ref = ref_runs_occur_in(str_data(a), str_len(a),
					     str_data(b), str_len(b)) &&
			ref_runs_occur_in(str_data(b), str_len(b),
					  str_data(a), str_len(a));
		if (sift_hdrread_same_runs(str_data(a), str_len(a),
					   str_data(b), str_len(b)) != ref)
			mismatches++;
	} T_END;
	test_assert(mismatches == 0);
	test_end();
}

static const char *part_addresses(const char *hdr,
				  const struct sift_hdrfilter *f)
{
	struct istream *input = i_stream_create_from_data(hdr, strlen(hdr));
	ARRAY_TYPE(sift_hdrread_address) addrs;
	const struct sift_hdrread_address *a;
	string_t *str = t_str_new(128);

	t_array_init(&addrs, 4);
	const char *error;

	test_assert(sift_hdrread_part_addresses(input, f, &addrs, &error) == 0);
	i_stream_unref(&input);
	array_foreach(&addrs, a) {
		str_printfa(str, "%s=", a->name);
		str_append_data(str, a->value, a->size);
		str_append_c(str, '|');
	}
	return str_c(str);
}

/* A read error in the middle of the header (or of a part) is reported,
   never taken for the end of the message: what was read is incomplete.
   At every cut of the message. */
static void test_verify_read_error(void)
{
	static const char msg[] =
		"From: Alice <alice@example.org>\r\n"
		"To: bob@example.org\r\n"
		"Subject: x\r\n"
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n"
		"--b\r\nContent-Type: text/plain\r\n\r\nbody\r\n--b--\r\n";
	struct sift_hdrfilter *f = sift_hdrfilter_new(NULL, "X-Foo");
	size_t header_len = strstr(msg, "\r\n\r\n") - msg + 4;
	struct sift_hdrread v;

	test_begin("verify: a read error is reported");
	for (size_t cut = 0; cut < sizeof(msg) - 1; cut++) {
		for (unsigned int whole = 0; whole < 2; whole++) T_BEGIN {
			struct istream *inputs[3], *input;
			const char *error = NULL;
			ARRAY_TYPE(sift_hdrread_address) addrs;

			inputs[0] = i_stream_create_from_data(msg, cut);
			inputs[1] = i_stream_create_error_str(EIO, "test");
			inputs[2] = NULL;
			input = i_stream_create_concat(inputs);
			i_stream_unref(&inputs[0]);
			i_stream_unref(&inputs[1]);
			/* (header only: an error after the header's end
			   is not read at all) */
			int ret = sift_hdrread_message(input, whole == 1, f,
						       &v, &error);
			if (whole == 1 || cut <= header_len) {
				test_assert_idx(ret < 0, cut);
				test_assert_idx(error != NULL &&
					strstr(error, "test") != NULL, cut);
			} else {
				test_assert_idx(ret == 0, cut);
			}
			i_stream_unref(&input);

			inputs[0] = i_stream_create_from_data(msg, cut);
			inputs[1] = i_stream_create_error_str(EIO, "test");
			input = i_stream_create_concat(inputs);
			i_stream_unref(&inputs[0]);
			i_stream_unref(&inputs[1]);
			t_array_init(&addrs, 4);
			error = NULL;
			/* (the part parser stops at the end of the header:
			   an error after it is not its business) */
			if (cut < header_len) {
				test_assert_idx(sift_hdrread_part_addresses(
					input, f, &addrs, &error) < 0, cut);
				test_assert_idx(error != NULL, cut);
			}
			i_stream_unref(&input);
		} T_END;
	}
	sift_hdrfilter_free(&f);
	test_end();
}

static void test_verify_part_addresses(void)
{
	struct sift_hdrfilter *f = sift_hdrfilter_new(NULL, "Cc");

	test_begin("verify attached message addresses");
	T_BEGIN {
		/* as written (decoded), comments and all; only address
		   headers, only those the selection lets through, only the
		   header (not the body) */
		test_assert(strcmp(part_addresses(
			"From: a@example.org (com(nested)ment)\n"
			"Subject: x\nCc: c@example.org\n"
			"To: (address in US-ASCII),\n =?utf-8?Q?Edgar_=3CLee=3E?= <l@x>\n"
			"\nTo: body@example.org\n", f),
			"From=a@example.org (com(nested)ment)|"
			"To=(address in US-ASCII), Edgar <Lee> <l@x>|") == 0);
	} T_END;
	sift_hdrfilter_free(&f);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_verify_address_form,
		test_verify_address_fast,
		test_verify_address_fast_examples,
		test_verify_has_encoded_word,
		test_verify_filter,
		test_verify_same_runs,
		test_verify_same_runs_random,
		test_verify_part_addresses,
		test_verify_read_error,
		NULL
	};

	return sift_test_main(test_functions, NULL);
}

/* Unit tests of sift-hdrread: address headers in the form Dovecot's
   FROM/TO/CC/BCC search compares, the TEXT trust check, and the headers
   a header selection leaves out.  Uses Dovecot's own lib-mail (the code
   under test calls it, in Dovecot's order). */
#include "lib.h"
#include "str.h"
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
		test_verify_filter,
		test_verify_same_runs,
		test_verify_same_runs_random,
		test_verify_part_addresses,
		test_verify_read_error,
		NULL
	};

	return sift_test_main(test_functions, NULL);
}

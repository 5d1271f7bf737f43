/* Unit tests for plugin/sift-text.c.

   sift_text_normalize() is cross-checked against Dovecot's own
   uni_utf8_to_decomposed_titlecase() (linked from libdovecot) for every
   code point and for many byte strings; sift_text_tokenize() against
   expectations from UAX #29 / ICU and against segmenting the whole input
   at once with ICU directly (which shows that the windowing is
   invisible). */

#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "str.h"
#include "unichar.h"
#include "test-common.h"

#include "sift-text.h"
#include "sift-config.h"

#include <stdio.h>
#include <time.h>

#include <unicode/uchar.h>
#include <unicode/ubrk.h>
#include <unicode/utext.h>
#include <unicode/utf8.h>
#include <unicode/uversion.h>

#define N_ELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---------------------------------------------------------- */

static struct sift_text *test_text_init(void)
{
	struct sift_text *text;
	const char *err;

	if (sift_text_init(&text, &err) < 0)
		i_fatal("sift_text_init() failed: %s", err);
	return text;
}

/* Normalize with both implementations; returns TRUE if equal. */
static bool
norm_both(struct sift_text *text, const void *in, size_t len,
	  buffer_t *dove, const char **sift_r, size_t *sift_len_r)
{
	const char *err;
	int ret;

	buffer_set_used_size(dove, 0);
	(void)uni_utf8_to_decomposed_titlecase(in, len, dove);
	ret = sift_text_normalize(text, in, len, sift_r, sift_len_r,
				  &err);
	test_assert(ret == 0);
	if (ret < 0)
		return FALSE;
	/* the result must be NUL-terminated too */
	test_assert((*sift_r)[*sift_len_r] == '\0');
	return *sift_len_r == dove->used &&
		memcmp(*sift_r, dove->data, dove->used) == 0;
}

static const char *hex(const void *data, size_t len)
{
	const unsigned char *p = data;
	string_t *str = t_str_new(len * 3 + 1);
	size_t i;

	for (i = 0; i < len; i++)
		str_printfa(str, i == 0 ? "%02X" : " %02X", p[i]);
	return str_c(str);
}

static size_t utf8_put(unsigned char *p, UChar32 c)
{
	if (c < 0x80) {
		p[0] = c;
		return 1;
	} else if (c < 0x800) {
		p[0] = 0xc0 | (c >> 6);
		p[1] = 0x80 | (c & 0x3f);
		return 2;
	} else if (c < 0x10000) {
		p[0] = 0xe0 | (c >> 12);
		p[1] = 0x80 | ((c >> 6) & 0x3f);
		p[2] = 0x80 | (c & 0x3f);
		return 3;
	}
	p[0] = 0xf0 | (c >> 18);
	p[1] = 0x80 | ((c >> 12) & 0x3f);
	p[2] = 0x80 | ((c >> 6) & 0x3f);
	p[3] = 0x80 | (c & 0x3f);
	return 4;
}

/* Deterministic PRNG (xorshift64*), so failures are reproducible. */
static uint64_t rng_state;

static void rng_seed(uint64_t seed)
{
	rng_state = seed * 2685821657736338717ULL + 1;
}

static uint32_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static uint32_t rng_range(uint32_t n)
{
	return rng() % n;
}

/* ---- normalization: every code point ----------------------------------- */

/* Code points allowed to differ from Dovecot because of Unicode version
   skew.  Dovecot 2.3's src/lib/unicodemap.c was generated from a Unicode
   9/10 UnicodeData.txt, ICU 72 has Unicode 15.0.  Taking ICU's mappings
   as they are, 216 code points differ, all of them characters (or
   titlecase targets of characters) assigned in Unicode 11.0 or later:
   U+0282, U+1D8E, U+A794 (titlecase U+A7C5/A7C6/A7C4, 12.0), U+2C5F (14.0),
   U+32FF (12.1), U+A7B9-A7F6 (11.0-14.0), U+AB69 (13.0), U+10597-105BC
   (Vithkuqi, 14.0), U+10781-107BA (14.0), U+16E60-16E7F (Medefaidrin,
   11.0), U+1E030-1E06D (15.0), U+1FBF0-1FBF9 (13.0).  sift-text.c
   ignores mappings of and to characters newer than Dovecot's table
   (SIFT_DOVECOT_UNICODE_MAJOR), which removes all of them, so the list
   is empty.  Add a range only for a proven version skew, with its reason;
   test_normalize_codepoints() checks with u_charAge() that every
   difference it lets through involves a character newer than Dovecot's
   tables (SIFT_DOVECOT_UNICODE_MAJOR).
   (C has no empty arrays: the placeholder matches no code point.) */
static const struct {
	UChar32 first, last;
	const char *why;
} version_allow_list[] = {
	{ -1, -1, "placeholder" },
};

static bool version_allowed(UChar32 c)
{
	unsigned int i;

	for (i = 0; i < N_ELEM(version_allow_list); i++) {
		if (c >= version_allow_list[i].first &&
		    c <= version_allow_list[i].last)
			return TRUE;
	}
	return FALSE;
}

/* Whether c or its titlecase is newer than the Unicode version of the
   Dovecot built against (configure's probe, sift-config.h). */
static bool newer_than_dovecot_tables(UChar32 c)
{
	UVersionInfo age, tage;

	u_charAge(c, age);
	u_charAge(u_totitle(c), tage);
	return age[0] > SIFT_DOVECOT_UNICODE_MAJOR ||
		tage[0] > SIFT_DOVECOT_UNICODE_MAJOR;
}

static void test_normalize_codepoints(void)
{
	struct sift_text *text = test_text_init();
	buffer_t *dove = buffer_create_dynamic(default_pool, 256);
	unsigned int diffs = 0, allowed = 0, unexplained = 0, printed = 0;
	unsigned char in[4];
	const char *out;
	size_t in_len, out_len;
	UChar32 c;

	test_begin("normalize: every code point vs Dovecot");
	for (c = 0; c <= 0x10ffff; c++) {
		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		in_len = utf8_put(in, c);
		if (norm_both(text, in, in_len, dove, &out, &out_len))
			continue;
		diffs++;
		if (version_allowed(c)) {
			allowed++;
			/* the allow-list may only cover version skew */
			if (!newer_than_dovecot_tables(c)) {
				unexplained++;
				test_assert_idx(newer_than_dovecot_tables(c), c);
			}
			continue;
		}
		if (printed++ < 20) {
			/* the count is asserted below; name the first few */
			test_assert_idx(FALSE, c);
			printf("U+%04X: dovecot %s, sift %s\n", (unsigned)c,
			       hex(dove->data, dove->used),
			       hex(out, out_len));
		}
	}
	printf("code point cross-check: %u differences, %u in the Unicode "
	       "version allow-list (%u unexplained), %u unexpected\n",
	       diffs, allowed, unexplained, diffs - allowed);
	test_assert(diffs == allowed);
	test_assert(unexplained == 0);
	buffer_free(&dove);
	sift_text_deinit(&text);
	test_end();
}

/* All (non-allow-listed) code points in one string: exercises the fast
   paths' transitions and output buffer growth. */
static void test_normalize_all_in_one(void)
{
	struct sift_text *text = test_text_init();
	buffer_t *dove = buffer_create_dynamic(default_pool, 1024 * 1024);
	buffer_t *in = buffer_create_dynamic(default_pool, 5 * 1024 * 1024);
	unsigned char tmp[4];
	const char *out;
	size_t out_len;
	UChar32 c;

	test_begin("normalize: all code points in one string");
	for (c = 0x10ffff; c >= 0; c--) {
		/* descending, so non-ASCII comes first and ASCII last */
		if ((c >= 0xd800 && c <= 0xdfff) || version_allowed(c))
			continue;
		buffer_append(in, tmp, utf8_put(tmp, c));
	}
	test_assert(norm_both(text, in->data, in->used, dove, &out, &out_len));
	test_assert(out_len > in->used);
	buffer_free(&in);
	buffer_free(&dove);
	sift_text_deinit(&text);
	test_end();
}

/* ---- normalization: byte strings, invalid UTF-8 ------------------------ */

/* Whether the (possibly invalid) UTF-8 contains an allow-listed code
   point; decoded the way Dovecot does it. */
static bool has_version_allowed(const unsigned char *in, size_t len)
{
	unichar_t chr;
	int ret;

	while (len > 0) {
		ret = uni_utf8_get_char_n(in, len, &chr);
		if (ret <= 0)
			ret = 1;
		else if (version_allowed(chr))
			return TRUE;
		in += ret;
		len -= ret;
	}
	return FALSE;
}

struct bytes_check {
	struct sift_text *text;
	buffer_t *dove;
	unsigned int count, bad, skipped;
};

/* Compare one byte string; strings with allow-listed code points are
   skipped (and counted). */
static void bytes_check(struct bytes_check *ctx, const unsigned char *in,
			size_t len)
{
	const char *out;
	size_t out_len;

	ctx->count++;
	if (has_version_allowed(in, len)) {
		ctx->skipped++;
		return;
	}
	if (norm_both(ctx->text, in, len, ctx->dove, &out, &out_len))
		return;
	if (ctx->bad++ < 10) {
		printf("%s: dovecot %s, sift %s\n", hex(in, len),
		       hex(ctx->dove->data, ctx->dove->used),
		       hex(out, out_len));
	}
}

/* A random string mixing valid characters of all lengths (also U+FFFD
   itself), NULs, invalid bytes and truncated sequences. */
static size_t random_bytes(unsigned char *in, size_t size,
			   const unsigned char *interesting, unsigned int n)
{
	unsigned char tmp[4];
	size_t len = 0, tlen;
	UChar32 c;

	while (len < size - 4) {
		switch (rng_range(8)) {
		case 0:
			in[len++] = interesting[rng_range(n)];
			break;
		case 1:
			in[len++] = rng_range(256);
			break;
		case 2:
			len += utf8_put(in + len, 0xfffd);
			break;
		case 3:
			len += utf8_put(in + len, rng_range(0x80));
			break;
		case 4:
			len += utf8_put(in + len, 0x80 + rng_range(0x780));
			break;
		case 5:
			c = 0x800 + rng_range(0xf800);
			if (c >= 0xd800 && c <= 0xdfff)
				c = 0xac00 + rng_range(11172);
			len += utf8_put(in + len, c);
			break;
		case 6:
			len += utf8_put(in + len,
					0x10000 + rng_range(0x100000));
			break;
		default:
			/* a truncated multibyte sequence */
			tlen = utf8_put(tmp, 0x80 + rng_range(0x10ff80));
			tlen = 1 + rng_range(tlen - 1);
			memcpy(in + len, tmp, tlen);
			len += tlen;
			break;
		}
		if (rng_range(6) == 0)
			break;
	}
	return len;
}

static void test_normalize_bytes(void)
{
	/* bytes that matter to a UTF-8 decoder */
	static const unsigned char interesting[] = {
		0x00, 0x41, 0x61, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf,
		0xc0, 0xc1, 0xc2, 0xc3, 0xdf, 0xe0, 0xe1, 0xed, 0xee, 0xef,
		0xf0, 0xf1, 0xf4, 0xf5, 0xf7, 0xf8, 0xfb, 0xfc, 0xfd, 0xfe,
		0xff,
	};
	const unsigned int n = N_ELEM(interesting);
	struct bytes_check ctx;
	unsigned char in[64];
	unsigned int i, j, k, l;

	test_begin("normalize: byte strings vs Dovecot");
	i_zero(&ctx);
	ctx.text = test_text_init();
	ctx.dove = buffer_create_dynamic(default_pool, 256);
	/* every 1- and 2-byte string */
	for (i = 0; i < 65536; i++) {
		in[0] = i >> 8;
		in[1] = i & 0xff;
		if (in[1] == 0)
			bytes_check(&ctx, in, 1);
		bytes_check(&ctx, in, 2);
	}
	/* every 3- and 4-byte string of interesting bytes */
	for (i = 0; i < n; i++) for (j = 0; j < n; j++)
	for (k = 0; k < n; k++) {
		in[0] = interesting[i];
		in[1] = interesting[j];
		in[2] = interesting[k];
		bytes_check(&ctx, in, 3);
		for (l = 0; l < n; l++) {
			in[3] = interesting[l];
			bytes_check(&ctx, in, 4);
		}
	}
	rng_seed(1);
	for (i = 0; i < 200000; i++)
		bytes_check(&ctx, in, random_bytes(in, sizeof(in),
						   interesting, n));
	printf("byte string cross-check: %u strings, %u differences "
	       "(%u skipped: allow-listed code points)\n",
	       ctx.count, ctx.bad, ctx.skipped);
	test_assert(ctx.bad == 0);
	/* the skipping must not hide everything */
	test_assert(ctx.skipped < ctx.count / 1000);
	buffer_free(&ctx.dove);
	sift_text_deinit(&ctx.text);
	test_end();
}

#define S(lit) lit, sizeof(lit) - 1

static void test_normalize_strings(void)
{
	static const struct {
		const char *in;
		size_t len;
		const char *expect; /* NULL: only compare with Dovecot */
		size_t expect_len;
	} tests[] = {
		{ S(""), S("") },
		{ S("Hello, World! 123"), S("HELLO, WORLD! 123") },
		{ S("Caf\xC3\xA9"), S("CAFE\xCC\x81") },
		{ S("Cafe\xCC\x81"), S("CAFE\xCC\x81") },
		/* invalid bytes: one U+FFFD per run */
		{ S("a\xFF" "b"), S("A\xEF\xBF\xBD" "B") },
		{ S("a\xFF\xFE\x80\xBF" "b"), S("A\xEF\xBF\xBD" "B") },
		{ S("\xFF\x41\xFF"), S("\xEF\xBF\xBD" "A\xEF\xBF\xBD") },
		/* a valid U+FFFD absorbs a following invalid byte */
		{ S("\xEF\xBF\xBD\xFF"), S("\xEF\xBF\xBD") },
		/* ... but two valid ones stay */
		{ S("\xEF\xBF\xBD\xEF\xBF\xBD"),
		  S("\xEF\xBF\xBD\xEF\xBF\xBD") },
		/* truncated sequences, at the end and in the middle */
		{ S("x\xE2\x82"), S("X\xEF\xBF\xBD") },
		{ S("\xE2\x82x"), S("\xEF\xBF\xBDX") },
		{ S("\xF0\x9F\x98"), S("\xEF\xBF\xBD") },
		{ S("\xF0\xE2\x82\xAC"), S("\xEF\xBF\xBD\xE2\x82\xAC") },
		/* overlong, surrogate, above U+10FFFF, 5-byte form */
		{ S("\xC0\xAF"), S("\xEF\xBF\xBD") },
		{ S("\xE0\x80\xAF"), S("\xEF\xBF\xBD") },
		{ S("\xED\xA0\x80"), S("\xEF\xBF\xBD") },
		{ S("\xF4\x90\x80\x80"), S("\xEF\xBF\xBD") },
		{ S("\xF8\x88\x80\x80\x80"), S("\xEF\xBF\xBD") },
		/* NUL bytes are kept */
		{ S("a\0b\0"), S("A\0B\0") },
		{ S("\0\xFF\0"), S("\0\xEF\xBF\xBD\0") },
		/* titlecase letters stay, others become them */
		{ S("\xC7\x84\xC7\x85\xC7\x86"),
		  S("\xC7\x85\xC7\x85\xC7\x85") },
		/* one level only: U+1E9B -> U+1E60 (titlecase) -> 0053 0307 */
		{ S("\xE1\xBA\x9B"), S("S\xCC\x87") },
		/* compatibility, not titlecased after decomposition */
		{ S("\xC2\xAA"), S("a") },
		{ S("\xEF\xAC\x81"), S("fi") },
		/* Hangul syllable -> conjoining jamo */
		{ S("\xED\x95\x9C"),
		  S("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB") },
#if SIFT_DOVECOT_UNICODE_MAJOR < 12
		/* mappings newer than Dovecot 2.3's Unicode 9/10 tables are
		   not used: U+0282 (titlecase U+A7C5 since 12.0), U+A7C5
		   itself, U+1FBF0 SEGMENTED DIGIT ZERO (<font> 0030, 13.0),
		   U+1E030 (<super> 0430, 15.0) */
		{ S("\xCA\x82"), S("\xCA\x82") },
		{ S("\xEA\x9F\x85"), S("\xEA\x9F\x85") },
		{ S("\xF0\x9F\xAF\xB0"), S("\xF0\x9F\xAF\xB0") },
		{ S("\xF0\x9E\x80\xB0"), S("\xF0\x9E\x80\xB0") },
#else
		/* Dovecot 2.4's tables (Unicode 16 on Debian 13) have
		   them: U+0282 -> U+A7C5, U+1FBF0 -> 0030 */
		{ S("\xCA\x82"), S("\xEA\x9F\x85") },
		{ S("\xF0\x9F\xAF\xB0"), S("0") },
#endif
		/* supplementary multi-code-point mappings are not used */
		{ S("\xF0\x9D\x85\x9E"), S("\xF0\x9D\x85\x9E") },
		/* mixed scripts, only compared with Dovecot */
		{ S("\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82 "
		    "\xCE\xB1\xCE\xB2\xCE\xB3 \xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D "
		    "\xD9\x85\xD8\xB1\xD8\xAD\xD8\xA8\xD8\xA7 "
		    "\xE6\x9D\xB1\xE4\xBA\xAC \xE0\xB8\xA0\xE0\xB8\xB2 "
		    "\xEF\xBC\xA1\xEF\xBD\x82\xEF\xBC\x91 \xE2\x91\xA0 "
		    "\xF0\x9F\x98\x80\xEF\xB7\xBA"), NULL, 0 },
	};
	struct sift_text *text = test_text_init();
	buffer_t *dove = buffer_create_dynamic(default_pool, 256);
	const char *out, *out2;
	size_t out_len;
	const char *err;
	unsigned int i, j;
	string_t *s1, *s2;

	test_begin("normalize: strings");
	for (i = 0; i < N_ELEM(tests); i++) {
		test_assert_idx(norm_both(text, tests[i].in, tests[i].len,
					  dove, &out, &out_len), i);
		if (tests[i].expect != NULL) {
			test_assert_idx(out_len == tests[i].expect_len &&
					memcmp(out, tests[i].expect,
					       out_len) == 0, i);
		}
	}

	/* case and composition don't matter */
	static const char *const equal_sets[][4] = {
		{ "Caf\xC3\xA9", "Cafe\xCC\x81", "CAF\xC3\x89", "caf\xC3\xA9" },
		/* ПРИВЕТ / привет / Привет */
		{ "\xD0\x9F\xD0\xA0\xD0\x98\xD0\x92\xD0\x95\xD0\xA2",
		  "\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
		  "\xD0\x9F\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82", NULL },
		/* Greek final sigma ς, σ, Σ */
		{ "\xCF\x82", "\xCF\x83", "\xCE\xA3", NULL },
		/* ΟΔΟΣ / οδος / οδοσ */
		{ "\xCE\x9F\xCE\x94\xCE\x9F\xCE\xA3",
		  "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x82",
		  "\xCE\xBF\xCE\xB4\xCE\xBF\xCF\x83", NULL },
		/* Ǆ ǅ ǆ */
		{ "\xC7\x84", "\xC7\x85", "\xC7\x86", NULL },
	};
	for (i = 0; i < N_ELEM(equal_sets); i++) {
		s1 = t_str_new(64);
		test_assert(sift_text_normalize(text, equal_sets[i][0],
			strlen(equal_sets[i][0]), &out, &out_len,
			&err) == 0);
		str_append_data(s1, out, out_len);
		for (j = 1; j < 4 && equal_sets[i][j] != NULL; j++) {
			s2 = t_str_new(64);
			test_assert(sift_text_normalize(text, equal_sets[i][j],
				strlen(equal_sets[i][j]), &out2, &out_len,
				&err) == 0);
			str_append_data(s2, out2, out_len);
			test_assert_idx(str_equals(s1, s2), i * 10 + j);
		}
	}
	/* ... but different letters do differ */
	test_assert(sift_text_normalize(text, "e", 1, &out, &out_len,
					&err) == 0);
	test_assert(out_len == 1 && out[0] == 'E');
	test_assert(sift_text_normalize(text, "\xC3\xA9", 2, &out, &out_len,
					&err) == 0);
	test_assert(out_len == 3 && memcmp(out, "E\xCC\x81", 3) == 0);

	buffer_free(&dove);
	sift_text_deinit(&text);
	test_end();
}

/* ---- tokenization helpers ---------------------------------------------- */

struct token {
	size_t offset, len;
	unsigned int flags;
	const char *str;
};
ARRAY_DEFINE_TYPE(token, struct token);

struct collect_ctx {
	ARRAY_TYPE(token) tokens;
	const char *input;
	bool keep_strings;
	bool bad_pointer;
};

static int collect_cb(void *context, const char *tok, size_t len,
		      size_t byte_offset, unsigned int flags)
{
	struct collect_ctx *ctx = context;
	struct token *t = array_append_space(&ctx->tokens);

	t->offset = byte_offset;
	t->len = len;
	t->flags = flags;
	/* tok must point into the input at the reported offset */
	if (ctx->input != NULL && tok != ctx->input + byte_offset)
		ctx->bad_pointer = TRUE;
	if (ctx->keep_strings)
		t->str = p_strndup(pool_datastack_create(), tok, len);
	return 0;
}

/* Normalize then tokenize; returns the tokens (strings kept). */
static const struct token *
norm_tokenize(struct sift_text *text, const char *in, unsigned int *count_r,
	      const char **norm_r)
{
	struct collect_ctx ctx;
	const char *out;
	size_t out_len;
	const char *err;

	i_zero(&ctx);
	t_array_init(&ctx.tokens, 16);
	ctx.keep_strings = TRUE;
	test_assert(sift_text_normalize(text, in, strlen(in), &out, &out_len,
					&err) == 0);
	out = t_strndup(out, out_len);
	ctx.input = out;
	test_assert(sift_text_tokenize(text, out, out_len, collect_cb, &ctx,
				       &err) == 0);
	test_assert(!ctx.bad_pointer);
	*norm_r = out;
	return array_get(&ctx.tokens, count_r);
}

static void print_tokens(const char *in, const struct token *tokens,
			 unsigned int count)
{
	unsigned int i;

	printf("tokens of \"%s\":", in);
	for (i = 0; i < count; i++)
		printf(" [%zu]\"%s\"/%u", tokens[i].offset, tokens[i].str,
		       tokens[i].flags);
	printf("\n");
}

/* Compare tokens with an expected NULL-terminated list of strings. */
static bool tokens_equal(const struct token *tokens, unsigned int count,
			 const char *const *expect)
{
	unsigned int i;

	for (i = 0; i < count; i++) {
		if (expect[i] == NULL || strcmp(tokens[i].str, expect[i]) != 0)
			return FALSE;
	}
	return expect[i] == NULL;
}

/* ---- tokenization ------------------------------------------------------ */

static void test_tokenize_ascii(void)
{
	struct sift_text *text = test_text_init();
	const struct token *tokens;
	unsigned int count;
	const char *norm;

	test_begin("tokenize: ASCII words");
	tokens = norm_tokenize(text, "  Hello,  world!\tfoo\nbar  ",
			       &count, &norm);
	test_assert(count == 4);
	if (count == 4) {
		test_assert(strcmp(tokens[0].str, "HELLO") == 0 &&
			    tokens[0].offset == 2 && tokens[0].len == 5);
		test_assert(strcmp(tokens[1].str, "WORLD") == 0 &&
			    tokens[1].offset == 10);
		test_assert(strcmp(tokens[2].str, "FOO") == 0 &&
			    tokens[2].offset == 17);
		test_assert(strcmp(tokens[3].str, "BAR") == 0 &&
			    tokens[3].offset == 21);
		test_assert(tokens[0].flags == 0 && tokens[3].flags == 0);
	}
	/* nothing but separators: no tokens */
	tokens = norm_tokenize(text, " .,;!? -- ", &count, &norm);
	test_assert(count == 0);
	tokens = norm_tokenize(text, "", &count, &norm);
	test_assert(count == 0);
	sift_text_deinit(&text);
	test_end();
}

static void test_tokenize_punctuation(void)
{
	static const char *input =
		"kselftest-foo bar.baz a.b@c.d v5.10 don't";
	/* UAX #29: '-' is Other, so it separates (WB999); '.' is MidNumLet
	   and joins letters (WB6/7) and digits (WB11/12); a letter next to
	   a digit joins (WB9/10); the apostrophe is Single_Quote, which
	   joins letters (WB6/7).  '@' is Other in UAX #29, so "a.b@c.d"
	   would be "a.b" and "c.d" - but ICU 72 and 73 tailor '@' into
	   ALetter (ICU-22112/CLDR-15767, reverted in ICU 74 by ICU-22360),
	   keeping e-mail addresses together. */
	static const char *const expect_at_letter[] = {
		"KSELFTEST", "FOO", "BAR.BAZ", "A.B@C.D", "V5.10", "DON'T",
		NULL
	};
	static const char *const expect_uax29[] = {
		"KSELFTEST", "FOO", "BAR.BAZ", "A.B", "C.D", "V5.10", "DON'T",
		NULL
	};
	const bool at_is_letter = U_ICU_VERSION_MAJOR_NUM >= 72 &&
		U_ICU_VERSION_MAJOR_NUM < 74;
	struct sift_text *text = test_text_init();
	const struct token *tokens;
	unsigned int count, i;
	const char *norm;

	test_begin("tokenize: punctuation");
	tokens = norm_tokenize(text, input, &count, &norm);
	print_tokens(norm, tokens, count);
	test_assert(tokens_equal(tokens, count, at_is_letter ?
				 expect_at_letter : expect_uax29));
	/* offsets are into the (same-length) normalized input */
	for (i = 0; i < count; i++) {
		test_assert_idx(memcmp(norm + tokens[i].offset, tokens[i].str,
				       tokens[i].len) == 0, i);
	}
	for (i = 0; i < count; i++) {
		test_assert_idx((tokens[i].flags == SIFT_TOKEN_HAS_DIGIT) ==
				(strcmp(tokens[i].str, "V5.10") == 0), i);
	}

	/* More UAX #29 rules.  Colon: ICU 72 moved ':' out of MidLetter
	   (CLDR-15910), so it separates like UAX #29's Other. */
	static const struct {
		const char *in;
		const char *expect[6];
	} more[] = {
		{ "3.14 1,000,000 a_b", { "3.14", "1,000,000", "A_B" } },
		{ "e.g. U.S.A.", { "E.G", "U.S.A" } },
		{ "foo.bar-baz_qux", { "FOO.BAR", "BAZ_QUX" } },
		{ "x'y' 'z'", { "X'Y", "Z" } },
		{ "1.2.3 a.1 1.a", { "1.2.3", "A", "1", "1", "A" } },
		{ "hello\xE2\x80\x99s", { "HELLO\xE2\x80\x99S" } },
	};
	for (i = 0; i < N_ELEM(more); i++) {
		tokens = norm_tokenize(text, more[i].in, &count, &norm);
		print_tokens(norm, tokens, count);
		test_assert_idx(tokens_equal(tokens, count, more[i].expect), i);
	}
	tokens = norm_tokenize(text, "a:b", &count, &norm);
	test_assert(U_ICU_VERSION_MAJOR_NUM >= 72 ? count == 2 : count == 1);

	/* ICU 72 gives "ABC_" + combining mark the status NONE (but "ABC_"
	   a word status); it is a token all the same */
	tokens = norm_tokenize(text, "abc_\xCC\x81 x1_\xC2\xAD y", &count,
			       &norm);
	print_tokens(norm, tokens, count);
	static const char *const expect_enl[] = {
		"ABC_\xCC\x81", "X1_\xC2\xAD", "Y", NULL
	};
	test_assert(tokens_equal(tokens, count, expect_enl));
	test_assert(count == 3 && tokens[1].flags == SIFT_TOKEN_HAS_DIGIT);
	/* ... while a segment of only such characters is not */
	tokens = norm_tokenize(text, "_\xCC\x81 \xF0\x9F\x98\x80 -- ", &count,
			       &norm);
	test_assert(count == 0);
	sift_text_deinit(&text);
	test_end();
}

static void test_tokenize_dictionary(void)
{
	static const struct {
		const char *name, *in;
		unsigned int min_tokens;
	} tests[] = {
		/* 東京都に住んでいます */
		{ "Chinese/Japanese", "\xE6\x9D\xB1\xE4\xBA\xAC\xE9\x83\xBD"
		  "\xE3\x81\xAB\xE4\xBD\x8F\xE3\x82\x93\xE3\x81\xA7\xE3\x81"
		  "\x84\xE3\x81\xBE\xE3\x81\x99", 3 },
		/* 我们今天去北京 */
		{ "Chinese", "\xE6\x88\x91\xE4\xBB\xAC\xE4\xBB\x8A\xE5\xA4\xA9"
		  "\xE5\x8E\xBB\xE5\x8C\x97\xE4\xBA\xAC", 3 },
		/* ภาษาไทยเป็นภาษาที่สวยงาม */
		{ "Thai", "\xE0\xB8\xA0\xE0\xB8\xB2\xE0\xB8\xA9\xE0\xB8\xB2"
		  "\xE0\xB9\x84\xE0\xB8\x97\xE0\xB8\xA2\xE0\xB9\x80\xE0\xB8"
		  "\x9B\xE0\xB9\x87\xE0\xB8\x99\xE0\xB8\xA0\xE0\xB8\xB2\xE0"
		  "\xB8\xA9\xE0\xB8\xB2\xE0\xB8\x97\xE0\xB8\xB5\xE0\xB9\x88"
		  "\xE0\xB8\xAA\xE0\xB8\xA7\xE0\xB8\xA2\xE0\xB8\x87\xE0\xB8"
		  "\xB2\xE0\xB8\xA1", 3 },
		/* コンピューター カタカナ */
		{ "Katakana", "\xE3\x82\xB3\xE3\x83\xB3\xE3\x83\x94\xE3\x83"
		  "\xA5\xE3\x83\xBC\xE3\x82\xBF\xE3\x83\xBC \xE3\x82\xAB\xE3"
		  "\x82\xBF\xE3\x82\xAB\xE3\x83\x8A", 2 },
	};
	struct sift_text *text = test_text_init();
	const struct token *tokens;
	unsigned int count, i, j;
	const char *norm;

	test_begin("tokenize: dictionary scripts");
	for (i = 0; i < N_ELEM(tests); i++) {
		tokens = norm_tokenize(text, tests[i].in, &count, &norm);
		printf("%s: ", tests[i].name);
		print_tokens(norm, tokens, count);
		test_assert_idx(count >= tests[i].min_tokens, i);
		for (j = 0; j < count; j++) {
			test_assert_idx(tokens[j].flags ==
					SIFT_TOKEN_DICTIONARY, i * 100 + j);
		}
		/* tokens cover the text except for the one space */
		size_t covered = 0;
		for (j = 0; j < count; j++)
			covered += tokens[j].len;
		test_assert_idx(covered == strlen(norm) -
				(strchr(norm, ' ') != NULL ? 1 : 0), i);
	}
	/* the katakana words stay whole */
	tokens = norm_tokenize(text, tests[3].in, &count, &norm);
	test_assert(count == 2);
	/* Latin and ideographs next to each other are separate tokens, only
	   the latter flagged */
	tokens = norm_tokenize(text, "abc\xE6\x9D\xB1\xE4\xBA\xAC" "def",
			       &count, &norm);
	test_assert(count == 3);
	if (count == 3) {
		test_assert(strcmp(tokens[0].str, "ABC") == 0 &&
			    tokens[0].flags == 0);
		test_assert(tokens[1].offset == 3 &&
			    tokens[1].flags == SIFT_TOKEN_DICTIONARY);
		test_assert(strcmp(tokens[2].str, "DEF") == 0 &&
			    tokens[2].flags == 0);
	}
	/* Korean is not dictionary-segmented (spaces separate words) */
	tokens = norm_tokenize(text, "\xED\x95\x9C\xEA\xB5\xAD\xEC\x96\xB4 "
			       "\xEC\x82\xAC\xEC\xA0\x84", &count, &norm);
	test_assert(count == 2);
	test_assert(count == 2 && tokens[0].flags == 0 &&
		    tokens[1].flags == 0);
	sift_text_deinit(&text);
	test_end();
}

static void test_tokenize_flags(void)
{
	static const struct {
		const char *in;
		unsigned int flags;
	} tests[] = {
		{ "abc", 0 },
		{ "abc1", SIFT_TOKEN_HAS_DIGIT },
		{ "2024", SIFT_TOKEN_HAS_DIGIT },
		/* Arabic-Indic digits ٣٤ */
		{ "\xD9\xA3\xD9\xA4", SIFT_TOKEN_HAS_DIGIT },
		/* full-width digits normalize to ASCII ones */
		{ "\xEF\xBC\x91\xEF\xBC\x92", SIFT_TOKEN_HAS_DIGIT },
		/* superscript two normalizes to '2' */
		{ "x\xC2\xB2", SIFT_TOKEN_HAS_DIGIT },
		/* Roman numeral Ⅻ is a letter-number, no decimal digit */
		{ "\xE2\x85\xAB", 0 },
		/* 東京 */
		{ "\xE6\x9D\xB1\xE4\xBA\xAC", SIFT_TOKEN_DICTIONARY },
		/* hiragana は */
		{ "\xE3\x81\xAF", SIFT_TOKEN_DICTIONARY },
		/* Lao ສະບາຍດີ */
		{ "\xE0\xBA\xAA\xE0\xBA\xB0\xE0\xBA\x9A\xE0\xBA\xB2\xE0\xBA"
		  "\x8D\xE0\xBA\x94\xE0\xBA\xB5", SIFT_TOKEN_DICTIONARY },
		/* Khmer សួស្តី */
		{ "\xE1\x9E\x9F\xE1\x9E\xBD\xE1\x9E\x9F\xE1\x9F\x92\xE1\x9E"
		  "\x8F\xE1\x9E\xB8", SIFT_TOKEN_DICTIONARY },
		/* Myanmar မင်္ဂလာ */
		{ "\xE1\x80\x99\xE1\x80\x84\xE1\x80\xBA\xE1\x80\xB9\xE1\x80"
		  "\x82\xE1\x80\x9C\xE1\x80\xAC", SIFT_TOKEN_DICTIONARY },
		/* Greek, Cyrillic, Hebrew: not dictionary */
		{ "\xCE\xB1\xCE\xB2\xCE\xB3", 0 },
		{ "\xD0\xB4\xD0\xB0", 0 },
		{ "\xD7\xA9\xD7\x9C\xD7\x95\xD7\x9D", 0 },
	};
	struct sift_text *text = test_text_init();
	const struct token *tokens;
	unsigned int count, i, j, all;
	const char *norm;

	test_begin("tokenize: flags");
	for (i = 0; i < N_ELEM(tests); i++) {
		tokens = norm_tokenize(text, tests[i].in, &count, &norm);
		test_assert_idx(count >= 1, i);
		all = 0;
		for (j = 0; j < count; j++)
			all |= tokens[j].flags;
		test_assert_idx(all == tests[i].flags, i);
	}
	sift_text_deinit(&text);
	test_end();
}

struct count_ctx {
	const char *input;
	const char *pattern;
	size_t pattern_len;
	const size_t *word_offsets;
	const size_t *word_lens;
	unsigned int words_per_pattern;
	size_t count;
	size_t errors;
};

static int count_cb(void *context, const char *tok, size_t len,
		    size_t byte_offset, unsigned int flags)
{
	struct count_ctx *ctx = context;
	size_t rep = ctx->count / ctx->words_per_pattern;
	unsigned int w = ctx->count % ctx->words_per_pattern;

	if (byte_offset != rep * ctx->pattern_len + ctx->word_offsets[w] ||
	    len != ctx->word_lens[w] || tok != ctx->input + byte_offset ||
	    flags != 0) {
		if (ctx->errors++ < 5) {
			printf("token %zu: offset %zu len %zu, "
			       "expected %zu/%zu\n", ctx->count,
			       byte_offset, len,
			       rep * ctx->pattern_len + ctx->word_offsets[w],
			       ctx->word_lens[w]);
		}
	}
	ctx->count++;
	return 0;
}

static void test_tokenize_large(void)
{
	/* 29 bytes: doesn't divide 64 KB, so windows end mid-pattern */
	static const char pattern[] = "Lorem ipsum, dolor sit amet. ";
	static const size_t offsets[] = { 0, 6, 13, 19, 23 };
	static const size_t lens[] = { 5, 5, 5, 3, 4 };
	const size_t pattern_len = sizeof(pattern) - 1;
	const size_t reps = 10 * 1024 * 1024 / pattern_len + 1;
	struct sift_text *text = test_text_init();
	struct count_ctx ctx;
	const char *out;
	size_t out_len, i;
	const char *err;
	char *in;

	test_begin("tokenize: 10 MB input");
	in = i_malloc(reps * pattern_len);
	for (i = 0; i < reps; i++)
		memcpy(in + i * pattern_len, pattern, pattern_len);
	test_assert(sift_text_normalize(text, in, reps * pattern_len,
					&out, &out_len, &err) == 0);
	test_assert(out_len == reps * pattern_len);

	i_zero(&ctx);
	ctx.input = out;
	ctx.pattern = pattern;
	ctx.pattern_len = pattern_len;
	ctx.word_offsets = offsets;
	ctx.word_lens = lens;
	ctx.words_per_pattern = N_ELEM(offsets);
	test_assert(sift_text_tokenize(text, out, out_len, count_cb, &ctx,
				       &err) == 0);
	printf("10 MB input: %zu tokens (expected %zu), %zu wrong\n",
	       ctx.count, reps * N_ELEM(offsets), ctx.errors);
	test_assert(ctx.count == reps * N_ELEM(offsets));
	test_assert(ctx.errors == 0);
	i_free(in);
	sift_text_deinit(&text);
	test_end();
}

struct cover_ctx {
	const char *input;
	size_t next_offset;
	size_t max_len;
	unsigned int count;
	bool gap;
};

static int cover_cb(void *context, const char *tok, size_t len,
		    size_t byte_offset, unsigned int flags ATTR_UNUSED)
{
	struct cover_ctx *ctx = context;

	if (byte_offset != ctx->next_offset || tok != ctx->input + byte_offset)
		ctx->gap = TRUE;
	ctx->next_offset = byte_offset + len;
	if (len > ctx->max_len)
		ctx->max_len = len;
	ctx->count++;
	return 0;
}

static void test_tokenize_no_whitespace(void)
{
	const size_t size = 1024 * 1024;
	struct sift_text *text = test_text_init();
	struct cover_ctx ctx;
	const char *err;
	char *in;

	test_begin("tokenize: 1 MB without whitespace");
	in = i_malloc(size);
	memset(in, 'A', size);
	i_zero(&ctx);
	ctx.input = in;
	test_assert(sift_text_tokenize(text, in, size, cover_cb, &ctx,
				       &err) == 0);
	/* one word longer than a window must be split (memory bound), but
	   nothing may be lost or overlap */
	printf("1 MB of 'A': %u tokens, longest %zu bytes\n",
	       ctx.count, ctx.max_len);
	test_assert(!ctx.gap);
	test_assert(ctx.next_offset == size);
	test_assert(ctx.count > 1 && ctx.max_len <= 64 * 1024);

	/* the same with 4-byte characters: cuts on character boundaries
	   (U+10400 DESERET CAPITAL LONG I) */
	for (size_t i = 0; i + 4 <= size; i += 4)
		memcpy(in + i, "\xF0\x90\x90\x80", 4);
	i_zero(&ctx);
	ctx.input = in;
	test_assert(sift_text_tokenize(text, in, size, cover_cb, &ctx,
				       &err) == 0);
	test_assert(!ctx.gap);
	test_assert(ctx.next_offset == size);
	test_assert(ctx.max_len % 4 == 0);
	i_free(in);
	sift_text_deinit(&text);
	test_end();
}

static bool ref_has_alnum(const char *s, int32_t len)
{
	const uint8_t *p = (const uint8_t *)s;
	int32_t i = 0;
	UChar32 c;

	while (i < len) {
		U8_NEXT(p, i, len, c);
		if (c >= 0 && u_isalnum(c))
			return TRUE;
	}
	return FALSE;
}

/* Reference: segment the whole text with a fresh ICU iterator, no
   windows.  Tokens: segments with a word status, or with a letter or
   digit (see has_alnum() in sift-text.c for ICU's status quirk). */
static void
reference_tokens(const char *in, size_t len, ARRAY_TYPE(token) *tokens)
{
	UErrorCode status = U_ZERO_ERROR;
	UText *ut;
	UBreakIterator *bi;
	int32_t start, end, rule;
	struct token *t;

	ut = utext_openUTF8(NULL, in, len, &status);
	bi = ubrk_open(UBRK_WORD, "", NULL, 0, &status);
	ubrk_setUText(bi, ut, &status);
	if (U_FAILURE(status))
		i_fatal("ICU: %s", u_errorName(status));
	start = ubrk_first(bi);
	for (end = ubrk_next(bi); end != UBRK_DONE;
	     start = end, end = ubrk_next(bi)) {
		rule = ubrk_getRuleStatus(bi);
		if (rule >= UBRK_WORD_NONE && rule < UBRK_WORD_NONE_LIMIT &&
		    !ref_has_alnum(in + start, end - start))
			continue;
		t = array_append_space(tokens);
		t->offset = start;
		t->len = end - start;
	}
	ubrk_close(bi);
	utext_close(ut);
}

static UChar32 random_char(unsigned int mix)
{
	/* pools of characters that stress the word rules */
	static const UChar32 latin[] = {
		'a', 'b', 'c', 'x', 'Y', 'Z', 0xe9, 0xdf, 0x142, 0x1c5,
	};
	static const UChar32 digits[] = { '0', '5', '9', 0x663, 0xff11 };
	static const UChar32 mid[] = {
		'.', ',', ':', ';', '\'', '"', '@', '_', '-', '/', 0x2019,
		0x2044, 0xb7, 0x202f,
	};
	static const UChar32 marks[] = {
		0x301, 0x308, 0x200d, 0xad, 0x200b, 0xfe0f, 0xe31,
	};
	static const UChar32 spaces[] = {
		' ', ' ', ' ', '\n', '\t', '\r', 0x3000, 0xa0, 0x2028, 0x85,
	};
	static const UChar32 other[] = {
		0x5d0, 0x5d1, 0x430, 0x3b1, 0x1f600, 0x1f1e6, 0x1f1e8, 0x2603,
		0x30a2, 0x30fc, 0x3042, 0xac00, 0x1100, 0x627,
	};
	/* Han, Thai runs for the dictionary breakers */
	static const UChar32 dict[] = {
		0x6771, 0x4eac, 0x90fd, 0x4f4f, 0x6211, 0x4eec, 0x4eca, 0x5929,
		0x0e20, 0x0e32, 0x0e29, 0x0e44, 0x0e17, 0x0e22, 0x0e40, 0x0e1b,
		0x0e47, 0x0e19, 0x3067, 0x3059,
	};
	unsigned int r = rng_range(100);

	switch (mix) {
	case 0: /* general text */
		if (r < 45) return latin[rng_range(N_ELEM(latin))];
		if (r < 55) return digits[rng_range(N_ELEM(digits))];
		if (r < 65) return mid[rng_range(N_ELEM(mid))];
		if (r < 70) return marks[rng_range(N_ELEM(marks))];
		if (r < 85) return spaces[rng_range(N_ELEM(spaces))];
		if (r < 93) return other[rng_range(N_ELEM(other))];
		return dict[rng_range(N_ELEM(dict))];
	case 1: /* no whitespace at all */
		if (r < 50) return latin[rng_range(N_ELEM(latin))];
		if (r < 60) return digits[rng_range(N_ELEM(digits))];
		if (r < 75) return mid[rng_range(N_ELEM(mid))];
		if (r < 80) return marks[rng_range(N_ELEM(marks))];
		if (r < 90) return other[rng_range(N_ELEM(other))];
		return dict[rng_range(N_ELEM(dict))];
	case 2: /* spaces mostly followed by marks (see below) */
		if (r < 60) return latin[rng_range(N_ELEM(latin))];
		if (r < 70) return mid[rng_range(N_ELEM(mid))];
		return marks[rng_range(N_ELEM(marks))];
	default: /* mostly Han/Thai/kana */
		if (r < 97) return dict[rng_range(N_ELEM(dict))];
		return mid[rng_range(N_ELEM(mid))];
	}
}

static void test_tokenize_windows(void)
{
	static const struct {
		const char *name;
		unsigned int mix;
		size_t size;
		/* for mix 2 and 3: a space every this many characters */
		unsigned int space_every;
	} tests[] = {
		{ "mixed text", 0, 3 * 1024 * 1024, 0 },
		{ "no whitespace", 1, 2 * 1024 * 1024, 0 },
		{ "space + combining marks", 2, 2 * 1024 * 1024, 40 },
		{ "dictionary runs, rare spaces", 3, 2 * 1024 * 1024, 30000 },
		{ "dictionary runs, no spaces", 3, 1024 * 1024, 0 },
	};
	struct sift_text *text = test_text_init();
	struct collect_ctx ctx;
	ARRAY_TYPE(token) ref;
	const struct token *a, *b;
	unsigned int i, j, na, nb, diff;
	buffer_t *buf;
	unsigned char tmp[4];
	const char *err;
	size_t chars;
	UChar32 c;

	test_begin("tokenize: windows give the whole-input result");
	for (i = 0; i < N_ELEM(tests); i++) {
		rng_seed(100 + i);
		buf = buffer_create_dynamic(default_pool, tests[i].size + 8);
		for (chars = 0; buf->used < tests[i].size; chars++) {
			if (tests[i].space_every != 0 &&
			    rng_range(tests[i].space_every) == 0) {
				buffer_append_c(buf, ' ');
				if (tests[i].mix == 2 && rng_range(2) == 0) {
					/* a mark that WB4 attaches to the
					   space: the window must not end
					   before it */
					c = rng_range(2) == 0 ? 0x301 : 0x200d;
					buffer_append(buf, tmp,
						      utf8_put(tmp, c));
				}
				continue;
			}
			c = random_char(tests[i].mix);
			buffer_append(buf, tmp, utf8_put(tmp, c));
		}
		i_zero(&ctx);
		i_array_init(&ctx.tokens, 1024);
		ctx.input = buf->data;
		test_assert_idx(sift_text_tokenize(text, buf->data, buf->used,
			collect_cb, &ctx, &err) == 0, i);
		test_assert_idx(!ctx.bad_pointer, i);
		i_array_init(&ref, 1024);
		reference_tokens(buf->data, buf->used, &ref);
		a = array_get(&ctx.tokens, &na);
		b = array_get(&ref, &nb);
		diff = 0;
		for (j = 0; j < I_MIN(na, nb); j++) {
			if (a[j].offset != b[j].offset ||
			    a[j].len != b[j].len) {
				if (diff++ == 0) {
					printf("%s: token %u: %zu+%zu, whole "
					       "input: %zu+%zu\n",
					       tests[i].name, j,
					       a[j].offset, a[j].len,
					       b[j].offset, b[j].len);
				}
			}
		}
		printf("%s: %zu bytes, %u tokens (whole input: %u), "
		       "%u differ\n", tests[i].name, buf->used, na, nb, diff);
		test_assert_idx(na == nb, i);
		test_assert_idx(diff == 0, i);
		array_free(&ref);
		array_free(&ctx.tokens);
		buffer_free(&buf);
	}
	sift_text_deinit(&text);
	test_end();
}

/* The ASCII fast path (sift-text.c, emit_ascii_tokens()) against ICU on
   the same input: same tokens, offsets and flags.  Every ASCII character
   between letters, digits and '_', every string of up to three characters
   from a set covering each character class, and random strings. */
static bool ascii_same(struct sift_text *fast, struct sift_text *icu,
		       const char *in, size_t len)
{
	struct collect_ctx a, b;
	const struct token *ta, *tb;
	unsigned int na, nb, i;
	const char *err;
	bool same;

	i_zero(&a);
	i_zero(&b);
	t_array_init(&a.tokens, 16);
	t_array_init(&b.tokens, 16);
	if (sift_text_tokenize(fast, in, len, collect_cb, &a, &err) != 0 ||
	    sift_text_tokenize(icu, in, len, collect_cb, &b, &err) != 0)
		return FALSE;
	ta = array_get(&a.tokens, &na);
	tb = array_get(&b.tokens, &nb);
	same = na == nb;
	for (i = 0; same && i < na; i++) {
		same = ta[i].offset == tb[i].offset &&
			ta[i].len == tb[i].len && ta[i].flags == tb[i].flags;
	}
	if (!same) {
		printf("ASCII fast path differs from ICU on \"%s\": "
		       "%u tokens, ICU %u\n", hex(in, len), na, nb);
	}
	return same;
}

static void test_tokenize_ascii_fast(void)
{
	static const char classes[] = "aZ09_.',;:\"-@/ \t\r\n\x0b\x0c\x7f!";
	static const char *const around[] = {
		"a%a", "1%1", "a%1", "1%a", "_%_", "a%_", "%", "%%", "a%%a",
		"1%%1", "__%", "%__", "a_%_a",
	};
	struct sift_text *fast = test_text_init(), *icu = test_text_init();
	unsigned int i, j, k, c, failures = 0;
	const size_t nclasses = sizeof(classes) - 1;
	char buf[4096];
	size_t len;

	test_begin("tokenize: ASCII without ICU gives ICU's tokens");
	/* the check at init accepted the installed ICU */
	test_assert(sift_text_set_ascii_fast(fast, 1) == 1);
	test_assert(sift_text_set_ascii_fast(icu, 0) == 0);
	for (c = 0; c < 128; c++) {
		for (i = 0; i < N_ELEM(around); i++) T_BEGIN {
			/* '%' stands for c (which may be NUL) */
			len = 0;
			for (const char *f = around[i]; *f != '\0'; f++)
				buf[len++] = *f == '%' ? (char)c : *f;
			if (!ascii_same(fast, icu, buf, len))
				failures++;
		} T_END;
	}
	for (i = 0; i < nclasses; i++) {
		for (j = 0; j < nclasses; j++) {
			for (k = 0; k <= nclasses; k++) T_BEGIN {
				buf[0] = classes[i];
				buf[1] = classes[j];
				buf[2] = k < nclasses ? classes[k] : '\0';
				if (!ascii_same(fast, icu, buf,
						k < nclasses ? 3 : 2))
					failures++;
			} T_END;
		}
	}
	rng_seed(4242);
	for (i = 0; i < 20000; i++) T_BEGIN {
		len = 1 + rng_range(i < 19990 ? 40 : sizeof(buf) - 1);
		for (j = 0; j < len; j++) {
			buf[j] = rng_range(4) != 0 ?
				classes[rng_range(nclasses)] :
				(char)rng_range(128);
		}
		if (!ascii_same(fast, icu, buf, len))
			failures++;
	} T_END;
	test_assert(failures == 0);
	sift_text_deinit(&fast);
	sift_text_deinit(&icu);
	test_end();
}

static void test_tokenize_invalid(void)
{
	static const char input[] = "abc\0def\xFF\xFEghi\xE2\x82 jkl\xC3";
	struct sift_text *text = test_text_init();
	struct collect_ctx ctx;
	const struct token *tokens;
	unsigned int count;
	const char *err;

	test_begin("tokenize: invalid UTF-8 and NUL");
	i_zero(&ctx);
	t_array_init(&ctx.tokens, 8);
	ctx.keep_strings = TRUE;
	ctx.input = input;
	test_assert(sift_text_tokenize(text, input, sizeof(input) - 1,
				       collect_cb, &ctx, &err) == 0);
	tokens = array_get(&ctx.tokens, &count);
	test_assert(!ctx.bad_pointer);
	test_assert(count == 4);
	if (count == 4) {
		test_assert(tokens[0].offset == 0 && tokens[0].len == 3);
		test_assert(tokens[1].offset == 4 && tokens[1].len == 3);
		test_assert(tokens[2].offset == 9 && tokens[2].len == 3);
		test_assert(tokens[3].offset == 15 && tokens[3].len == 3);
	}
	/* random garbage: no crash, tokens inside the input, in order */
	rng_seed(7);
	for (unsigned int i = 0; i < 2000; i++) {
		char buf[300];
		size_t len = rng_range(sizeof(buf)), prev_end = 0;
		const struct token *t;

		for (size_t j = 0; j < len; j++)
			buf[j] = rng_range(4) == 0 ? ' ' : (char)rng();
		i_zero(&ctx);
		t_array_init(&ctx.tokens, 8);
		ctx.input = buf;
		test_assert_idx(sift_text_tokenize(text, buf, len, collect_cb,
			&ctx, &err) == 0, i);
		test_assert_idx(!ctx.bad_pointer, i);
		array_foreach(&ctx.tokens, t) {
			test_assert_idx(t->offset >= prev_end && t->len > 0 &&
					t->offset + t->len <= len, i);
			prev_end = t->offset + t->len;
		}
	}
	sift_text_deinit(&text);
	test_end();
}

static int stop_cb(void *context, const char *tok ATTR_UNUSED,
		   size_t len ATTR_UNUSED, size_t byte_offset ATTR_UNUSED,
		   unsigned int flags ATTR_UNUSED)
{
	unsigned int *calls = context;

	return ++*calls == 2 ? 42 : 0;
}

static void test_tokenize_stop(void)
{
	struct sift_text *text = test_text_init();
	unsigned int calls = 0;
	const char *err;

	test_begin("tokenize: callback stops");
	test_assert(sift_text_tokenize(text, "one two three four", 18,
				       stop_cb, &calls, &err) == 42);
	test_assert(calls == 2);
	sift_text_deinit(&text);
	test_end();
}

/* ---- the substring claim ----------------------------------------------- */

static bool is_lnm(UChar32 c)
{
	switch (u_charType(c)) {
	case U_UPPERCASE_LETTER:
	case U_LOWERCASE_LETTER:
	case U_TITLECASE_LETTER:
	case U_MODIFIER_LETTER:
	case U_OTHER_LETTER:
	case U_DECIMAL_DIGIT_NUMBER:
	case U_NON_SPACING_MARK:
	case U_ENCLOSING_MARK:
	case U_COMBINING_SPACING_MARK:
		return TRUE;
	default:
		return FALSE;
	}
}

static bool is_mark(UChar32 c)
{
	int8_t gc = u_charType(c);

	return gc == U_NON_SPACING_MARK || gc == U_ENCLOSING_MARK ||
		gc == U_COMBINING_SPACING_MARK;
}

static size_t utf8_get(const unsigned char *p, UChar32 *c_r)
{
	if (p[0] < 0x80) {
		*c_r = p[0];
		return 1;
	} else if (p[0] < 0xe0) {
		*c_r = ((p[0] & 0x1f) << 6) | (p[1] & 0x3f);
		return 2;
	} else if (p[0] < 0xf0) {
		*c_r = ((p[0] & 0x0f) << 12) | ((p[1] & 0x3f) << 6) |
			(p[2] & 0x3f);
		return 3;
	}
	*c_r = ((p[0] & 0x07) << 18) | ((p[1] & 0x3f) << 12) |
		((p[2] & 0x3f) << 6) | (p[3] & 0x3f);
	return 4;
}

/* Whether valid UTF-8 s[0..len) consists of letters, digits and marks
   only; *starts_with_mark_r tells if its first character is a mark. */
static bool all_lnm(const char *s, size_t len, bool *starts_with_mark_r)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;
	UChar32 c;

	if (len == 0)
		return FALSE;
	(void)utf8_get(p, &c);
	*starts_with_mark_r = is_mark(c);
	while (i < len) {
		i += utf8_get(p + i, &c);
		if (!is_lnm(c))
			return FALSE;
	}
	return TRUE;
}

static const char *
find_bytes(const char *hay, size_t hay_len, const char *needle, size_t len)
{
	const char *p, *end = hay + hay_len;

	for (p = hay; (size_t)(end - p) >= len; p++) {
		p = memchr(p, needle[0], end - p - len + 1);
		if (p == NULL)
			return NULL;
		if (memcmp(p, needle, len) == 0)
			return p;
	}
	return NULL;
}

static UChar32 random_text_char(bool spacing_accents)
{
	static const UChar32 ascii_extra[] = {
		' ', ' ', ' ', ' ', '\n', '.', ',', '-', '\'', '@', ':', '_',
		'/', '!', '(', ')', '"',
	};
	/* spacing accents that decompose to SPACE + combining mark */
	static const UChar32 accents[] = { 0xa8, 0xaf, 0xb4, 0xb8, 0x2d8 };
	unsigned int r = rng_range(100);

	if (r < 40)
		return (rng_range(2) == 0 ? 'a' : 'A') + rng_range(26);
	if (r < 48)
		return '0' + rng_range(10);
	if (r < 60)
		return ascii_extra[rng_range(N_ELEM(ascii_extra))];
	if (r < 72) /* Latin-1 and Latin Extended-A letters */
		return rng_range(2) == 0 ? 0xc0 + rng_range(0x40) :
			0x100 + rng_range(0x80);
	if (r < 76) /* combining marks after whatever came before */
		return 0x300 + rng_range(0x70);
	if (r < 96) /* Cyrillic */
		return 0x400 + rng_range(0x100);
	if (r < 98)
		return 0xb2 + rng_range(2); /* superscript two, three */
	return spacing_accents ? accents[rng_range(N_ELEM(accents))] : 0xbd;
}

struct claim_result {
	unsigned int words, occurrences, violations;
	unsigned int violations_mark_first;
};

/* Tokenize normalized text and check that every occurrence of each search
   word (normalized, letters/digits/marks only) lies in a single token. */
static void
check_claim(struct sift_text *text, bool spacing_accents, uint64_t seed,
	    struct claim_result *res)
{
	struct collect_ctx ctx;
	const struct token *tokens;
	unsigned int count, i, w;
	unsigned char tmp[4];
	const char *norm, *out, *p;
	size_t norm_len, out_len, word_len, off, lo, hi;
	const char *err;
	buffer_t *buf;
	bool mark_first;
	int32_t *tok_at;

	rng_seed(seed);
	buf = buffer_create_dynamic(default_pool, 70000);
	while (buf->used < 64 * 1024) {
		buffer_append(buf, tmp,
			      utf8_put(tmp, random_text_char(spacing_accents)));
	}
	test_assert(sift_text_normalize(text, buf->data, buf->used, &out,
					&out_len, &err) == 0);
	norm = t_strndup(out, out_len);
	norm_len = out_len;

	i_zero(&ctx);
	t_array_init(&ctx.tokens, 1024);
	test_assert(sift_text_tokenize(text, norm, norm_len, collect_cb, &ctx,
				       &err) == 0);
	tokens = array_get(&ctx.tokens, &count);
	/* token index covering each byte, -1 outside tokens */
	tok_at = t_new(int32_t, norm_len + 1);
	for (off = 0; off < norm_len; off++)
		tok_at[off] = -1;
	for (i = 0; i < count; i++) {
		for (off = tokens[i].offset;
		     off < tokens[i].offset + tokens[i].len; off++)
			tok_at[off] = i;
	}

	for (w = 0; w < 3000; w++) {
		/* search word: a random piece of the original text, or
		   random letters, normalized */
		string_t *word = t_str_new(32);
		unsigned int n = 1 + rng_range(4);

		if (rng_range(2) == 0) {
			const unsigned char *d = buf->data;
			size_t start = rng_range(buf->used - 16);
			UChar32 c;

			while ((d[start] & 0xc0) == 0x80)
				start++;
			for (i = 0; i < n; i++) {
				start += utf8_get(d + start, &c);
				str_append_data(word, tmp, utf8_put(tmp, c));
			}
		} else {
			for (i = 0; i < n; i++) {
				str_append_data(word, tmp, utf8_put(tmp,
					random_text_char(spacing_accents)));
			}
		}
		test_assert(sift_text_normalize(text, str_c(word),
			str_len(word), &out, &out_len, &err) == 0);
		word_len = out_len;
		if (!all_lnm(out, word_len, &mark_first))
			continue;
		res->words++;
		for (p = norm; (p = find_bytes(p, norm + norm_len - p, out,
					       word_len)) != NULL; p++) {
			lo = p - norm;
			hi = lo + word_len - 1;
			res->occurrences++;
			if (tok_at[lo] >= 0 && tok_at[lo] == tok_at[hi])
				continue;
			res->violations++;
			if (mark_first)
				res->violations_mark_first++;
			else if (res->violations -
				 res->violations_mark_first <= 5) {
				printf("claim violated: \"%s\" at %zu in "
				       "\"%s\"\n", t_strndup(out, word_len),
				       lo, t_strndup(norm + (lo < 8 ? 0 :
						lo - 8), 24));
			}
		}
	}
	buffer_free(&buf);
}

static void test_substring_claim(void)
{
	struct sift_text *text = test_text_init();
	struct claim_result plain, accents;
	unsigned int i;

	test_begin("tokenize: letters/digits/marks substrings lie in a token");
	i_zero(&plain);
	i_zero(&accents);
	for (i = 0; i < 8; i++) T_BEGIN {
		check_claim(text, FALSE, 1000 + i, &plain);
		check_claim(text, TRUE, 2000 + i, &accents);
	} T_END;
	printf("claim, ASCII/Latin/Cyrillic text: %u search words, %u "
	       "occurrences, %u violations (%u starting with a mark)\n",
	       plain.words, plain.occurrences, plain.violations,
	       plain.violations_mark_first);
	printf("claim, with spacing accents: %u search words, %u "
	       "occurrences, %u violations (%u starting with a mark)\n",
	       accents.words, accents.occurrences, accents.violations,
	       accents.violations_mark_first);
	test_assert(plain.occurrences > 10000);
	test_assert(plain.violations == plain.violations_mark_first);
	test_assert(accents.violations == accents.violations_mark_first);
	/* The known exception: a combining mark after a space or
	   punctuation attaches to it (WB4), outside any token; and U+00A8
	   etc. decompose to SPACE + mark, so it does happen in practice. */
	test_assert(accents.violations_mark_first > 0);
	sift_text_deinit(&text);
	test_end();
}

/* ---- small things ------------------------------------------------------ */

static void test_utf8_truncate(void)
{
	/* "a" é(2) €(3) 😀(4) "z" */
	static const char s[] = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";
	static const size_t expect[] = {
		/* max: 0  1  2  3  4  5  6  7  8  9  10  11 */
		0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11
	};
	size_t max;

	test_begin("utf8_truncate");
	for (max = 0; max < N_ELEM(expect); max++) {
		test_assert_idx(sift_text_utf8_truncate(s, sizeof(s) - 1,
							max) == expect[max],
				max);
	}
	test_assert(sift_text_utf8_truncate(s, sizeof(s) - 1, 100) ==
		    sizeof(s) - 1);
	test_assert(sift_text_utf8_truncate(s, 3, 2) == 1);
	test_assert(sift_text_utf8_truncate("", 0, 0) == 0);
	/* invalid input: stray continuation bytes are single characters */
	test_assert(sift_text_utf8_truncate("\x80\x80\x80\x80\x80", 5, 3) == 3);
	test_assert(sift_text_utf8_truncate("ab\xE2\x82", 4, 3) == 2);
	test_assert(sift_text_utf8_truncate("a\xC3\xA9\x80\x80", 5, 4) == 4);
	test_end();
}

/* s = the UTF-8 of code point cp; its length */
static size_t utf8_encode(uint32_t cp, char *s)
{
	if (cp < 0x80) {
		s[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		s[0] = (char)(0xC0 | (cp >> 6));
		s[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		s[0] = (char)(0xE0 | (cp >> 12));
		s[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		s[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	s[0] = (char)(0xF0 | (cp >> 18));
	s[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	s[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	s[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

/* Every code point is one character; it followed by any other one, or
   cut short, is not (the writer's skip of one-character body runs and
   the search's answer from the body's characters must agree). */
static void test_utf8_is_one_char(void)
{
	static const uint32_t others[] = { 0x41, 0xE9, 0x20AC, 0x1F600 };
	char s[8];
	uint32_t cp;
	size_t n, m, k;
	unsigned int bad = 0;

	test_begin("utf8_is_one_char");
	for (cp = 0; cp <= 0x10FFFF; cp++) {
		if (cp >= 0xD800 && cp <= 0xDFFF)
			continue;
		n = utf8_encode(cp, s);
		if (!sift_text_utf8_is_one_char(s, n))
			bad++;
		for (k = 1; k < n; k++) {
			if (sift_text_utf8_is_one_char(s, k))
				bad++;
		}
		for (k = 0; k < N_ELEM(others); k++) {
			m = utf8_encode(others[k], s + n);
			if (sift_text_utf8_is_one_char(s, n + m))
				bad++;
		}
	}
	test_assert_idx(bad == 0, bad);
	test_assert(!sift_text_utf8_is_one_char("", 0));
	test_assert(!sift_text_utf8_is_one_char("\x80", 1));
	test_assert(!sift_text_utf8_is_one_char("\xBF", 1));
	test_end();
}

static void test_deinit_null(void)
{
	struct sift_text *text = NULL;

	test_begin("deinit NULL");
	sift_text_deinit(&text);
	sift_text_deinit(NULL);
	test_assert(text == NULL);
	text = test_text_init();
	test_assert(text != NULL);
	sift_text_deinit(&text);
	test_assert(text == NULL);
	test_end();
}

/* ---- throughput (SIFT_TEXT_BENCH_MB=n to run) --------------------------- */

static int bench_cb(void *context, const char *tok ATTR_UNUSED,
		    size_t len ATTR_UNUSED, size_t byte_offset ATTR_UNUSED,
		    unsigned int flags ATTR_UNUSED)
{
	(*(size_t *)context)++;
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* For comparison: a bare ICU loop over the same text in 64 KB windows,
   rule status only. */
static void bench_raw_icu(const char *in, size_t len)
{
	UErrorCode status = U_ZERO_ERROR;
	UText ut = UTEXT_INITIALIZER;
	UBreakIterator *bi;
	size_t pos, wlen, words = 0;
	int32_t end;
	double t0;

	bi = ubrk_open(UBRK_WORD, "", NULL, 0, &status);
	t0 = now();
	for (pos = 0; pos < len; pos += wlen) {
		wlen = I_MIN(len - pos, 65536);
		utext_openUTF8(&ut, in + pos, wlen, &status);
		ubrk_setUText(bi, &ut, &status);
		(void)ubrk_first(bi);
		while ((end = ubrk_next(bi)) != UBRK_DONE) {
			if (ubrk_getRuleStatus(bi) >= UBRK_WORD_NONE_LIMIT)
				words++;
		}
	}
	if (U_FAILURE(status))
		i_fatal("ICU: %s", u_errorName(status));
	printf("      (bare ICU word iteration of the same text: %.1f MB/s, "
	       "%zu words)\n", len / 1e6 / (now() - t0), words);
	utext_close(&ut);
	ubrk_close(bi);
}

static void bench_one(struct sift_text *text, const char *name,
		      const char *in, size_t size)
{
	const char *out;
	size_t out_len, tokens = 0;
	double t0, t1, t2, t3;
	const char *err;
	char *copy;

	t0 = now();
	if (sift_text_normalize(text, in, size, &out, &out_len,
				&err) < 0)
		i_fatal("normalize: %s", err);
	t1 = now();
	copy = i_malloc(out_len);
	memcpy(copy, out, out_len);
	t2 = now();
	if (sift_text_tokenize(text, copy, out_len, bench_cb, &tokens,
			       &err) < 0)
		i_fatal("tokenize: %s", err);
	t3 = now();
	printf("bench %-10s %5.1f MB: normalize %7.1f MB/s, tokenize %6.1f "
	       "MB/s (%zu tokens)\n", name, size / 1e6,
	       size / 1e6 / (t1 - t0), out_len / 1e6 / (t3 - t2), tokens);
	bench_raw_icu(copy, out_len);
	i_free(copy);
}

static void bench(unsigned int mb)
{
	static const char *const english[] = {
		"the", "of", "and", "to", "a", "in", "is", "that", "for",
		"it", "with", "as", "was", "on", "be", "at", "by", "this",
		"message", "server", "Dovecot", "search", "index", "2023",
		"e-mail", "user@example.com", "don't", "v5.10", "Hello,",
		"world.", "\n", "(see", "below)",
	};
	static const char *const other[] = {
		/* Café, naïve, Grüße, привет, мир, Ελλάδα */
		"Caf\xC3\xA9", "na\xC3\xAFve", "Gr\xC3\xBC\xC3\x9F" "e",
		"\xD0\xBF\xD1\x80\xD0\xB8\xD0\xB2\xD0\xB5\xD1\x82",
		"\xD0\xBC\xD0\xB8\xD1\x80",
		"\xCE\x95\xCE\xBB\xCE\xBB\xCE\xAC\xCE\xB4\xCE\xB1",
		/* 東京都に住んでいます */
		"\xE6\x9D\xB1\xE4\xBA\xAC\xE9\x83\xBD\xE3\x81\xAB\xE4\xBD\x8F"
		"\xE3\x82\x93\xE3\x81\xA7\xE3\x81\x84\xE3\x81\xBE\xE3\x81\x99",
	};
	struct sift_text *text = test_text_init();
	size_t size = (size_t)mb * 1024 * 1024;
	string_t *str;
	const char *w;

	rng_seed(3);
	str = str_new(default_pool, size + 64);
	while (str_len(str) < size) {
		w = english[rng_range(N_ELEM(english))];
		str_append(str, w);
		if (strcmp(w, "\n") != 0)
			str_append_c(str, ' ');
	}
	bench_one(text, "English", str_c(str), str_len(str));
	str_truncate(str, 0);
	while (str_len(str) < size) {
		if (rng_range(3) == 0)
			w = other[rng_range(N_ELEM(other))];
		else
			w = english[rng_range(N_ELEM(english))];
		str_append(str, w);
		str_append_c(str, ' ');
	}
	bench_one(text, "mixed", str_c(str), str_len(str));
	str_free(&str);
	sift_text_deinit(&text);
}

/* Folding removes exactly U+0300..U+036F, in place too, and a string
   folded from Dovecot's normalization of an accented word equals the
   normalization of the word without accents. */
static void test_fold_accents(void)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "CAFE\xcc\x81", "CAFE" },
		{ "R\xcc\x81" "E\xcc\x81SUME\xcc\x81", "RESUME" },
		{ "PLAIN", "PLAIN" },
		{ "\xcc\x80\xcd\xaf", "" },		/* U+0300, U+036F */
		{ "A\xcd\xb0" "B", "A\xcd\xb0" "B" },	/* U+0370: kept */
		{ "A\xcc", "A\xcc" },			/* cut sequence: kept */
		{ "\xe6\x9d\xb1", "\xe6\x9d\xb1" },
	};
	struct sift_text *text = test_text_init();
	char buf[64];

	test_begin("fold accents");
	for (unsigned int i = 0; i < N_ELEMENTS(cases); i++) {
		size_t len = strlen(cases[i].in);
		size_t n = sift_text_fold_accents(cases[i].in, len, buf);

		test_assert_idx(n == strlen(cases[i].out) &&
				memcmp(buf, cases[i].out, n) == 0, i);
		/* in place */
		memcpy(buf, cases[i].in, len);
		n = sift_text_fold_accents(buf, len, buf);
		test_assert_idx(n == strlen(cases[i].out) &&
				memcmp(buf, cases[i].out, n) == 0, i);
	}
	{
		static const char *const words[][2] = {
			{ "caf\xc3\xa9", "cafe" },
			{ "r\xc3\xa9sum\xc3\xa9", "resume" },
			{ "N\xc3\xba\xc3\xb1" "ez", "Nunez" },
			{ "Cr\xc3\xa8me", "creme" },
		};
		for (unsigned int i = 0; i < N_ELEMENTS(words); i++) {
			const char *a, *b;
			size_t alen, blen, n;
			const char *err;
			char *copy;

			test_assert_idx(sift_text_normalize(text, words[i][0],
				strlen(words[i][0]), &a, &alen, &err) == 0, i);
			copy = t_malloc_no0(alen + 1);
			memcpy(copy, a, alen);
			n = sift_text_fold_accents(copy, alen, copy);
			test_assert_idx(sift_text_normalize(text, words[i][1],
				strlen(words[i][1]), &b, &blen, &err) == 0, i);
			test_assert_idx(n == blen && memcmp(copy, b, n) == 0, i);
		}
	}
	sift_text_deinit(&text);
	test_end();
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_normalize_codepoints,
		test_normalize_all_in_one,
		test_normalize_bytes,
		test_normalize_strings,
		test_tokenize_ascii,
		test_tokenize_punctuation,
		test_tokenize_dictionary,
		test_tokenize_flags,
		test_tokenize_large,
		test_tokenize_no_whitespace,
		test_tokenize_windows,
		test_tokenize_ascii_fast,
		test_tokenize_invalid,
		test_tokenize_stop,
		test_substring_claim,
		test_utf8_truncate,
		test_utf8_is_one_char,
		test_fold_accents,
		test_deinit_null,
		NULL
	};
	const char *bench_mb = getenv("SIFT_TEXT_BENCH_MB");
	int ret;

	lib_init();
	if (bench_mb != NULL && atoi(bench_mb) > 0) {
		bench(atoi(bench_mb));
		lib_deinit();
		return 0;
	}
	ret = test_run(test_functions);
	lib_deinit();
	return ret;
}

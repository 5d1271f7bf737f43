/* sift-text: normalization and word segmentation over ICU's C API.
   See include/sift-text.h for the contract.  No Dovecot types; of
   Dovecot's lib only the data stack, for error_r. */

#include "lib.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unicode/utypes.h>
#include <unicode/uchar.h>
#include <unicode/uversion.h>
#include <unicode/ubrk.h>
#include <unicode/unorm2.h>
#include <unicode/uscript.h>
#include <unicode/utext.h>
#include <unicode/utf8.h>
#include <unicode/utf16.h>

#include "sift-config.h"

#include "sift-text.h"

#define HANGUL_FIRST 0xac00
#define HANGUL_LAST 0xd7a3
#define HANGUL_L_BASE 0x1100
#define HANGUL_V_BASE 0x1161
#define HANGUL_T_BASE 0x11a7
#define HANGUL_V_COUNT 21
#define HANGUL_T_COUNT 28

/* SIFT_DOVECOT_UNICODE_MAJOR (sift-config.h) is the Unicode version of
   the tables of the Dovecot built against, as configure tells it
   (m4/sift_dovecot_unicode.m4): the newest character Dovecot maps.
   Dovecot 2.3's src/lib/unicodemap.c gives 9 (its tables have the case
   pairs added in 9.0 but none of those added in 11.0 and later, and 10.0
   added no mappings); 2.4 generates its tables at build time (16 on
   Debian 13).  Characters assigned later have no entries there, so they
   are left alone here too; the unit test cross-checks every code point
   against the installed libdovecot, and sift_text_init() refuses an ICU
   older than that version. */

/* Room that normalizing one code point may need in the output buffer.
   The longest decomposition mapping in the UCD is 18 code points
   (U+FDFA); 18 * 4 bytes fits with margin. */
#define SIFT_CP_MAX_OUT 128
/* Buffer for one raw decomposition mapping in UTF-16. */
#define SIFT_DECOMP_MAX_UNITS 64

/* Normalization of U+0080..U+07FF (Latin, Greek, Cyrillic, Armenian,
   Hebrew, Arabic, ...) is precomputed at init by the exact per-code-point
   path, so the table is correct by construction and hot text in these
   scripts costs no ICU calls. */
#define SIFT_TABLE_FIRST 0x80
#define SIFT_TABLE_LAST 0x7ff
#define SIFT_TABLE_ENTRY_MAX 7

/* Tokenization window.  Long input is segmented in windows of at most
   this many bytes, so ICU's memory use (notably the dictionary breakers,
   which work on a whole run of CJK/Thai text at once) stays bounded. */
#define SIFT_WINDOW_SIZE (64 * 1024)
/* A window without any space is cut at an ICU boundary at least this far
   from its end: the lookahead of the break rules and the dictionary
   breakers' view of a run are then unaffected by the truncation. */
#define SIFT_WINDOW_MARGIN 4096

static const unsigned char utf8_fffd[3] = { 0xef, 0xbf, 0xbd };

struct sift_table_entry {
	uint8_t len;
	unsigned char bytes[SIFT_TABLE_ENTRY_MAX];
};

struct sift_text {
	const UNormalizer2 *nfkc;
	UBreakIterator *bi;
	UText ut;
	int ut_opened;
	/* segment pure-ASCII windows without ICU (see emit_ascii_tokens()),
	   with these word break classes (enum ascii_wb) learnt from ICU */
	int ascii_fast, ascii_fast_ok;
	unsigned char ascii_wb[128];

	unsigned char *out;
	size_t out_size;

	struct sift_table_entry table[SIFT_TABLE_LAST - SIFT_TABLE_FIRST + 1];
};

static int init_ascii(struct sift_text *text, const char **error_r);

/* Errors go to *error_r on Dovecot's data stack, as every error_r in
   Dovecot (valid until the caller's frame ends); error_r may be NULL. */
static void set_err(const char **error_r, const char *fmt, ...)
	ATTR_FORMAT(2, 3);
static void set_err(const char **error_r, const char *fmt, ...)
{
	va_list args;

	if (error_r == NULL)
		return;
	va_start(args, fmt);
	*error_r = t_strdup_vprintf(fmt, args);
	va_end(args);
}

static void set_icu_err(const char **error_r, const char *func,
			UErrorCode status)
{
	set_err(error_r, "ICU %s() failed: %s", func,
		u_errorName(status));
}

/* Write c (a valid scalar value) as UTF-8; returns the byte count. */
static unsigned int put_utf8(unsigned char *p, UChar32 c)
{
	if (c < 0x80) {
		p[0] = (unsigned char)c;
		return 1;
	}
	if (c < 0x800) {
		p[0] = (unsigned char)(0xc0 | (c >> 6));
		p[1] = (unsigned char)(0x80 | (c & 0x3f));
		return 2;
	}
	if (c < 0x10000) {
		p[0] = (unsigned char)(0xe0 | (c >> 12));
		p[1] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
		p[2] = (unsigned char)(0x80 | (c & 0x3f));
		return 3;
	}
	p[0] = (unsigned char)(0xf0 | (c >> 18));
	p[1] = (unsigned char)(0x80 | ((c >> 12) & 0x3f));
	p[2] = (unsigned char)(0x80 | ((c >> 6) & 0x3f));
	p[3] = (unsigned char)(0x80 | (c & 0x3f));
	return 4;
}

/* Decode one strictly valid UTF-8 sequence (RFC 3629: no overlong forms,
   no surrogates, nothing above U+10FFFF, no truncation).  Returns its
   length, or 0 when the bytes at p do not start a valid sequence; the
   caller then replaces just the first byte and retries at the next one,
   which is what Dovecot does. */
static unsigned int get_utf8(const unsigned char *p, size_t n, UChar32 *c_r)
{
	unsigned char b0 = p[0];
	UChar32 c;

	if (b0 < 0x80) {
		*c_r = b0;
		return 1;
	}
	if (b0 < 0xc2)
		return 0;
	if (b0 < 0xe0) {
		if (n < 2 || (p[1] & 0xc0) != 0x80)
			return 0;
		*c_r = ((UChar32)(b0 & 0x1f) << 6) | (p[1] & 0x3f);
		return 2;
	}
	if (b0 < 0xf0) {
		if (n < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		c = ((UChar32)(b0 & 0x0f) << 12) |
			((UChar32)(p[1] & 0x3f) << 6) | (p[2] & 0x3f);
		if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff))
			return 0;
		*c_r = c;
		return 3;
	}
	if (b0 < 0xf5) {
		if (n < 4 || (p[1] & 0xc0) != 0x80 ||
		    (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		c = ((UChar32)(b0 & 0x07) << 18) |
			((UChar32)(p[1] & 0x3f) << 12) |
			((UChar32)(p[2] & 0x3f) << 6) | (p[3] & 0x3f);
		if (c < 0x10000 || c > 0x10ffff)
			return 0;
		*c_r = c;
		return 4;
	}
	return 0;
}

/* Whether c was assigned after the UnicodeData.txt that Dovecot's tables
   (src/lib/unicodemap.c) were generated from: Dovecot has no titlecase or
   decomposition entry for such a character, and no mapping to it. */
static int newer_than_dovecot(UChar32 c)
{
	UVersionInfo age;

	u_charAge(c, age);
	return age[0] > SIFT_DOVECOT_UNICODE_MAJOR;
}

/* Whether Dovecot's table would leave c undecomposed because c's
   UnicodeData titlecase field is non-empty and maps c to itself (the
   titlecase digraphs U+01C5 etc. and Greek letters with prosgegrammeni).
   Dovecot only records decompositions of characters with an empty
   titlecase field.  c is already a titlecase mapping result here, so
   u_totitle(c) == c; an explicit self-mapping is then recognizable by an
   uppercase mapping that differs (for an ordinary uppercase letter both
   are c). */
static int has_own_titlecase(UChar32 c)
{
	return u_toupper(c) != c;
}

/* Normalize one valid code point into out (room for SIFT_CP_MAX_OUT
   bytes).  Returns the byte count, or -1 on ICU failure. */
static int normalize_cp(struct sift_text *text, UChar32 c, unsigned char *out,
			const char **error_r)
{
	UChar decomp[SIFT_DECOMP_MAX_UNITS];
	UErrorCode status = U_ZERO_ERROR;
	UChar32 t, d, first;
	int32_t n, i, count;
	unsigned int len;

	t = u_totitle(c);
	if (t != c && (newer_than_dovecot(c) || newer_than_dovecot(t))) {
		/* e.g. U+0282 got its titlecase U+A7C5 in Unicode 12 */
		t = c;
	}
	c = t;
	if (c >= HANGUL_FIRST && c <= HANGUL_LAST) {
		int32_t s = c - HANGUL_FIRST;
		int32_t t = s % HANGUL_T_COUNT;

		len = put_utf8(out, HANGUL_L_BASE +
			       s / (HANGUL_V_COUNT * HANGUL_T_COUNT));
		len += put_utf8(out + len, HANGUL_V_BASE +
				(s % (HANGUL_V_COUNT * HANGUL_T_COUNT)) /
				HANGUL_T_COUNT);
		if (t != 0)
			len += put_utf8(out + len, HANGUL_T_BASE + t);
		return (int)len;
	}

	/* The NFKC instance's raw decomposition is the UCD
	   Decomposition_Mapping (canonical or compatibility, one level). */
	n = unorm2_getRawDecomposition(text->nfkc, c, decomp,
				       SIFT_DECOMP_MAX_UNITS, &status);
	if (U_FAILURE(status)) {
		set_icu_err(error_r, "unorm2_getRawDecomposition",
			    status);
		return -1;
	}
	/* (Decomposition mappings never change once assigned, and map to
	   characters at least as old, so only c's own age matters.) */
	if (n <= 0 || has_own_titlecase(c) || newer_than_dovecot(c))
		return (int)put_utf8(out, c);

	count = 0;
	first = 0;
	for (i = 0; i < n; ) {
		U16_NEXT(decomp, i, n, d);
		if (count++ == 0)
			first = d;
	}
	if (count == 1) {
		/* Single code point mapping: used as-is, no titlecasing. */
		return (int)put_utf8(out, first);
	}
	if (c > 0xffff) {
		/* Dovecot looks up multi-code-point mappings only for BMP
		   characters (its table keys are searched only up to
		   U+FFFF), so supplementary ones stay as they are. */
		return (int)put_utf8(out, c);
	}
	len = 0;
	for (i = 0; i < n; ) {
		U16_NEXT(decomp, i, n, d);
		len += put_utf8(out + len, d);
	}
	return (int)len;
}

static int out_reserve(struct sift_text *text, size_t used, size_t need)
{
	size_t new_size;
	unsigned char *p;

	if (need <= text->out_size - used)
		return 0;
	if (need > SIZE_MAX / 2 - used)
		return -1;
	new_size = text->out_size == 0 ? 4096 : text->out_size;
	while (new_size - used < need)
		new_size *= 2;
	p = realloc(text->out, new_size);
	if (p == NULL)
		return -1;
	text->out = p;
	text->out_size = new_size;
	return 0;
}

static int init_tables(struct sift_text *text, const char **error_r)
{
	unsigned char buf[SIFT_CP_MAX_OUT];
	struct sift_table_entry *entry;
	UChar32 c;
	int n;

	for (c = SIFT_TABLE_FIRST; c <= SIFT_TABLE_LAST; c++) {
		entry = &text->table[c - SIFT_TABLE_FIRST];
		n = normalize_cp(text, c, buf, error_r);
		if (n < 0)
			return -1;
		if (n <= SIFT_TABLE_ENTRY_MAX) {
			entry->len = (uint8_t)n;
			memcpy(entry->bytes, buf, (size_t)n);
		} else {
			/* doesn't fit: len 0 means "use the slow path" */
			entry->len = 0;
		}
	}
	return 0;
}

/* ICU must know every character Dovecot's tables map: with an older
   Unicode, characters Dovecot normalizes would be left alone here and
   their searches would miss.  (configure checked the ICU it built with;
   this catches a different one at run time.) */
static int sift_text_check_unicode(const char **error_r)
{
	UVersionInfo unicode;

	u_getUnicodeVersion(unicode);
	if (unicode[0] < SIFT_DOVECOT_UNICODE_MAJOR) {
		set_err(error_r, "ICU %s has Unicode %u, older than the "
			"Unicode %u tables of Dovecot's own search: results "
			"would differ from Dovecot's; install an ICU with "
			"Unicode %u or later and rebuild fts-sift",
			U_ICU_VERSION, unicode[0],
			(unsigned int)SIFT_DOVECOT_UNICODE_MAJOR,
			(unsigned int)SIFT_DOVECOT_UNICODE_MAJOR);
		return -1;
	}
	return 0;
}

int sift_text_init(struct sift_text **text_r, const char **error_r)
{
	struct sift_text *text;
	UErrorCode status = U_ZERO_ERROR;
	UText empty = UTEXT_INITIALIZER;

	*text_r = NULL;
	if (sift_text_check_unicode(error_r) < 0)
		return -1;
	text = calloc(1, sizeof(*text));
	if (text == NULL) {
		set_err(error_r, "out of memory");
		return -1;
	}
	memcpy(&text->ut, &empty, sizeof(empty));

	text->nfkc = unorm2_getNFKCInstance(&status);
	if (U_FAILURE(status)) {
		set_icu_err(error_r, "unorm2_getNFKCInstance", status);
		sift_text_deinit(&text);
		return -1;
	}
	/* Root locale: UAX #29 plus ICU's built-in dictionary breakers. */
	text->bi = ubrk_open(UBRK_WORD, "", NULL, 0, &status);
	if (U_FAILURE(status)) {
		set_icu_err(error_r, "ubrk_open", status);
		sift_text_deinit(&text);
		return -1;
	}
	if (init_tables(text, error_r) < 0) {
		sift_text_deinit(&text);
		return -1;
	}
	if (init_ascii(text, error_r) < 0) {
		sift_text_deinit(&text);
		return -1;
	}
	*text_r = text;
	return 0;
}

void sift_text_deinit(struct sift_text **_text)
{
	struct sift_text *text;

	if (_text == NULL || *_text == NULL)
		return;
	text = *_text;
	*_text = NULL;

	if (text->bi != NULL)
		ubrk_close(text->bi);
	if (text->ut_opened)
		utext_close(&text->ut);
	free(text->out);
	free(text);
}

static inline unsigned char ascii_titlecase(unsigned char b)
{
	return (unsigned char)(b - ((unsigned char)(b - 'a') < 26 ? 32 : 0));
}

int sift_text_normalize(struct sift_text *text, const char *in, size_t len,
			const char **out_r, size_t *out_len_r,
			const char **error_r)
{
	const unsigned char *p = (const unsigned char *)in;
	const struct sift_table_entry *entry;
	size_t i = 0, j, used = 0, run;
	unsigned char *out;
	unsigned int n;
	UChar32 c;
	int ret;

	if (len >= SIZE_MAX / 4 || out_reserve(text, 0, len + 1) < 0)
		goto nomem;

	while (i < len) {
		if (p[i] < 0x80) {
			/* ASCII run: titlecase of a-z is A-Z and no ASCII
			   character has a decomposition mapping. */
			run = 1;
			while (i + run < len && p[i + run] < 0x80)
				run++;
			if (out_reserve(text, used, run + 1) < 0)
				goto nomem;
			out = text->out + used;
			for (j = 0; j < run; j++)
				out[j] = ascii_titlecase(p[i + j]);
			used += run;
			i += run;
			continue;
		}
		if (out_reserve(text, used, SIFT_CP_MAX_OUT + 1) < 0)
			goto nomem;
		out = text->out + used;

		n = get_utf8(p + i, len - i, &c);
		if (n == 0) {
			/* Invalid byte: one U+FFFD, but not directly after
			   another one (even one that came from valid input;
			   that is Dovecot's rule). */
			i++;
			if (used < sizeof(utf8_fffd) ||
			    memcmp(out - sizeof(utf8_fffd), utf8_fffd,
				   sizeof(utf8_fffd)) != 0) {
				memcpy(out, utf8_fffd, sizeof(utf8_fffd));
				used += sizeof(utf8_fffd);
			}
			continue;
		}
		i += n;

		if (c <= SIFT_TABLE_LAST &&
		    (entry = &text->table[c - SIFT_TABLE_FIRST])->len != 0) {
			memcpy(out, entry->bytes, entry->len);
			used += entry->len;
			continue;
		}
		ret = normalize_cp(text, c, out, error_r);
		if (ret < 0)
			return -1;
		used += (size_t)ret;
	}
	text->out[used] = '\0';
	*out_r = (const char *)text->out;
	*out_len_r = used;
	return 0;

nomem:
	set_err(error_r, "out of memory (normalizing %zu bytes)", len);
	return -1;
}

/* ---- tokenization ---------------------------------------------------- */

static int is_dictionary_script(UScriptCode script)
{
	switch (script) {
	case USCRIPT_HAN:
	case USCRIPT_HIRAGANA:
	case USCRIPT_KATAKANA:
	case USCRIPT_THAI:
	case USCRIPT_LAO:
	case USCRIPT_KHMER:
	case USCRIPT_MYANMAR:
		return 1;
	default:
		return 0;
	}
}

/* Whether a window may end right after c: a space or line break.  UAX #29
   breaks after these unless Extend/Format/ZWJ follows (WB4 attaches those
   to the space), and no ICU tailoring joins words across them.  Only
   Word_Break classes WSegSpace/Newline/CR/LF (and ASCII tab) count:
   U+202F NARROW NO-BREAK SPACE, for one, is White_Space but ExtendNumLet,
   which joins words.  Punctuation is deliberately not used even where the
   Word_Break property says Other: ICU tailors the root rules (ICU 72-73
   treat '@' as a letter), so only ICU itself knows. */
static int cp_is_cut_space(UChar32 c)
{
	int32_t wb;

	switch (c) {
	case ' ':
	case '\t':
	case '\n':
	case '\v':
	case '\f':
	case '\r':
		return 1;
	}
	if (c < 0x80)
		return 0;
	wb = u_getIntPropertyValue(c, UCHAR_WORD_BREAK);
	return wb == U_WB_WSEGSPACE || wb == U_WB_NEWLINE;
}

/* Whether the character starting at p (n bytes available) could attach to
   the preceding one (WB4 absorbs Extend, Format and ZWJ; marks and format
   characters are checked too, to be safe against tailorings). */
static int cp_attaches_left(const unsigned char *p, size_t n)
{
	int32_t wb, gc;
	UChar32 c;

	if (p[0] < 0x80)
		return 0;
	if (get_utf8(p, n, &c) == 0)
		return 0;
	wb = u_getIntPropertyValue(c, UCHAR_WORD_BREAK);
	if (wb == U_WB_EXTEND || wb == U_WB_FORMAT || wb == U_WB_ZWJ)
		return 1;
	gc = u_charType(c);
	return gc == U_NON_SPACING_MARK || gc == U_ENCLOSING_MARK ||
		gc == U_COMBINING_SPACING_MARK || gc == U_FORMAT_CHAR;
}

/* Return the last position in p[1..max] right after a space or line break
   that is not followed by a combining character, or 0 if there is none.
   Segmenting each window separately then yields exactly the tokens of
   segmenting the whole input.  avail > max: p[max] is readable. */
static size_t window_space_cut(const unsigned char *p, size_t avail,
			       size_t max)
{
	size_t i, start;
	UChar32 c;

	for (i = max; i > 0; i--) {
		unsigned char b = p[i - 1];

		if (b < 0x80) {
			if (!cp_is_cut_space(b))
				continue;
		} else if ((b & 0xc0) == 0x80 && i >= 2) {
			/* last byte of a multibyte character: find its start */
			start = i - 1;
			while (start > 0 && i - start < 4 &&
			       (p[start] & 0xc0) == 0x80)
				start--;
			if (get_utf8(p + start, i - start, &c) != i - start ||
			    !cp_is_cut_space(c))
				continue;
		} else {
			continue;
		}
		if (!cp_attaches_left(p + i, avail - i))
			return i;
	}
	return 0;
}

/* A position at or just below max that is not inside a UTF-8 sequence
   (invalid input may have none nearby; then max itself). */
static size_t window_char_cut(const unsigned char *p, size_t max)
{
	size_t i;

	for (i = max; i > max - 4 && (p[i] & 0xc0) == 0x80; i--) ;
	return (p[i] & 0xc0) == 0x80 ? max : i;
}

static int token_flags(const unsigned char *p, size_t len,
		       unsigned int *flags_r, const char **error_r)
{
	UErrorCode status = U_ZERO_ERROR;
	unsigned int flags = 0;
	UScriptCode script;
	int32_t i = 0, n = (int32_t)len;
	UChar32 c;

	while (i < n) {
		if (p[i] < 0x80) {
			if (p[i] >= '0' && p[i] <= '9')
				flags |= SIFT_TOKEN_HAS_DIGIT;
			i++;
			continue;
		}
		U8_NEXT(p, i, n, c);
		if (c < 0)
			continue;
		if ((flags & SIFT_TOKEN_HAS_DIGIT) == 0 && u_isdigit(c))
			flags |= SIFT_TOKEN_HAS_DIGIT;
		if ((flags & SIFT_TOKEN_DICTIONARY) == 0) {
			script = uscript_getScript(c, &status);
			if (U_FAILURE(status)) {
				set_icu_err(error_r,
					    "uscript_getScript", status);
				return -1;
			}
			if (is_dictionary_script(script))
				flags |= SIFT_TOKEN_DICTIONARY;
		}
	}
	*flags_r = flags;
	return 0;
}

/* Whether p[0..len) contains a letter or decimal digit.

   ICU 72 gives some words the status UBRK_WORD_NONE although they consist
   of letters: a word that ends in ExtendNumLet ('_', U+203F, U+202F, ...)
   followed by Extend/Format/ZWJ (e.g. "abc_\u0301": status 0, while
   "abc_" has 200); a lone U+3005 IDEOGRAPHIC ITERATION MARK is another.
   Dropping such a segment would lose its letters from the index, so a
   segment with any letter or digit is a token whatever its status.
   (Segments of spaces, punctuation, symbols and emoji have none.) */
static int has_alnum(const unsigned char *p, size_t len)
{
	int32_t i = 0, n = (int32_t)len;
	UChar32 c;

	while (i < n) {
		if (p[i] < 0x80) {
			if ((p[i] >= '0' && p[i] <= '9') ||
			    (unsigned char)((p[i] | 0x20) - 'a') < 26)
				return 1;
			i++;
			continue;
		}
		U8_NEXT(p, i, n, c);
		if (c >= 0 && u_isalnum(c))
			return 1;
	}
	return 0;
}

/* ---- ASCII windows without ICU ------------------------------------------

   Most mail text is ASCII, and ICU's rule engine costs about a sixth of
   indexing time on it.  For a window of pure ASCII, the word rules of UAX
   #29 as ICU 72 applies them reduce to a few character classes, so such a
   window is segmented here; any other window goes to ICU.  The unit test
   checks the two give the same tokens on millions of random ASCII strings,
   so a change in ICU's rules shows up there rather than in the index. */

enum ascii_wb {
	ASCII_WB_OTHER = 0,	/* one character per segment, never a token */
	ASCII_WB_LETTER,	/* ALetter: A-Z a-z (and '@' in ICU 72, 73) */
	ASCII_WB_NUMERIC,	/* 0-9 */
	ASCII_WB_EXTEND_NUM_LET, /* '_' */
	ASCII_WB_MID_LETTER,	/* joins two letters (':' in UAX #29; ICU
				   leaves it out) */
	ASCII_WB_MID_NUM_LET,	/* '.' and '\'': joins two letters or digits */
	ASCII_WB_MID_NUM,	/* ',' ';': joins two digits */
};

static int is_ascii(const unsigned char *p, size_t len)
{
	uint64_t acc = 0, word;
	size_t i = 0;

	for (; i + 8 <= len; i += 8) {
		memcpy(&word, p + i, 8);
		acc |= word;
	}
	for (; i < len; i++)
		acc |= p[i];
	return (acc & 0x8080808080808080ULL) == 0;
}

/* The tokens of pure-ASCII p[0..len), as emit_tokens() would deliver them
   from ICU.  A token is a maximal run of letters, digits and '_' (WB5,
   WB8-10, WB13a/b), which also continues over one '.' or '\'' between two
   letters (WB6/7) and over one '.', '\'', ',' or ';' between two digits
   (WB11/12); one that is a lone '_' is not a token.  Everything else (spaces, CR LF, punctuation) forms segments
   without a word status and without letters, which are skipped. */
static int emit_ascii_tokens(const struct sift_text *text,
			     const unsigned char *p, size_t len, size_t base,
			     sift_token_callback_t *callback, void *context)
{
	const unsigned char *wb = text->ascii_wb;
	size_t i = 0, start;
	enum ascii_wb cls, next, last;
	unsigned int flags;
	int alnum, ret;

	while (i < len) {
		cls = wb[p[i]];
		if (cls != ASCII_WB_LETTER && cls != ASCII_WB_NUMERIC &&
		    cls != ASCII_WB_EXTEND_NUM_LET) {
			i++;
			continue;
		}
		start = i;
		flags = 0;
		alnum = 0;
		for (last = cls;; last = cls) {
			if (last == ASCII_WB_NUMERIC)
				flags |= SIFT_TOKEN_HAS_DIGIT;
			if (last != ASCII_WB_EXTEND_NUM_LET)
				alnum = 1;
			if (++i >= len)
				break;
			cls = wb[p[i]];
			if (cls == ASCII_WB_LETTER || cls == ASCII_WB_NUMERIC ||
			    cls == ASCII_WB_EXTEND_NUM_LET)
				continue;
			if (i + 1 >= len)
				break;
			next = wb[p[i + 1]];
			if (last == ASCII_WB_LETTER && next == ASCII_WB_LETTER &&
			    (cls == ASCII_WB_MID_LETTER ||
			     cls == ASCII_WB_MID_NUM_LET)) {
				cls = next;
				i++;
				continue;
			}
			if (last == ASCII_WB_NUMERIC &&
			    next == ASCII_WB_NUMERIC &&
			    (cls == ASCII_WB_MID_NUM ||
			     cls == ASCII_WB_MID_NUM_LET)) {
				cls = next;
				i++;
				continue;
			}
			break;
		}
		/* ICU gives a lone '_' no word status, but "__" one */
		if (!alnum && i - start < 2)
			continue;
		ret = callback(context, (const char *)p + start, i - start,
			       base + start, flags);
		if (ret != 0)
			return ret;
	}
	return 0;
}

static int set_window(struct sift_text *text, const unsigned char *p,
		      size_t len, const char **error_r)
{
	UErrorCode status = U_ZERO_ERROR;

	utext_openUTF8(&text->ut, (const char *)p, (int64_t)len, &status);
	if (U_FAILURE(status)) {
		set_icu_err(error_r, "utext_openUTF8", status);
		return -1;
	}
	text->ut_opened = 1;
	/* reuses the iterator: no rule or dictionary reloading */
	ubrk_setUText(text->bi, &text->ut, &status);
	if (U_FAILURE(status)) {
		set_icu_err(error_r, "ubrk_setUText", status);
		return -1;
	}
	return 0;
}

/* Deliver the tokens of the current window that end at or before limit.
   base is the window's offset in the whole input. */
static int emit_tokens(struct sift_text *text, const unsigned char *p,
		       size_t limit, size_t base,
		       sift_token_callback_t *callback, void *context,
		       const char **error_r)
{
	unsigned int flags;
	int32_t start, end, rule;
	int ret;

	start = ubrk_first(text->bi);
	for (end = ubrk_next(text->bi);
	     end != UBRK_DONE && (size_t)end <= limit;
	     start = end, end = ubrk_next(text->bi)) {
		rule = ubrk_getRuleStatus(text->bi);
		if (rule >= UBRK_WORD_NONE && rule < UBRK_WORD_NONE_LIMIT &&
		    !has_alnum(p + start, (size_t)(end - start)))
			continue;
		if (token_flags(p + start, (size_t)(end - start), &flags,
				error_r) < 0)
			return -1;
		ret = callback(context, (const char *)p + start,
			       (size_t)(end - start), base + (size_t)start,
			       flags);
		if (ret != 0)
			return ret;
	}
	return 0;
}

/* ---- learning the ASCII classes from ICU --------------------------------- */

/* Write pattern to out with each '#' replaced by c; returns the length. */
static size_t put_pattern(unsigned char *out, const char *pattern,
			  unsigned char c)
{
	size_t len = 0;

	for (; *pattern != '\0'; pattern++)
		out[len++] = *pattern == '#' ? c : (unsigned char)*pattern;
	return len;
}

/* ICU's segments of pattern with '#' as c: their count, and the rule
   status of the first; -1 on an ICU failure. */
static int icu_segments(struct sift_text *text, const char *pattern,
			unsigned char c, int32_t *first_rule_r,
			const char **error_r)
{
	unsigned char s[8];
	int32_t end;
	int count = 0;

	if (set_window(text, s, put_pattern(s, pattern, c), error_r) < 0)
		return -1;
	(void)ubrk_first(text->bi);
	for (end = ubrk_next(text->bi); end != UBRK_DONE;
	     end = ubrk_next(text->bi)) {
		if (count++ == 0)
			*first_rule_r = ubrk_getRuleStatus(text->bi);
	}
	return count;
}

/* The word break class of ASCII character c, as ICU segments it next to
   letters and digits (so a tailoring like ICU 72's '@' is followed). */
static int learn_ascii_class(struct sift_text *text, unsigned char c,
			     unsigned char *class_r, const char **error_r)
{
	int32_t rule = 0;
	int alone, after_letter, letters, digits;

	if ((alone = icu_segments(text, "#", c, &rule, error_r)) < 0)
		return -1;
	if (rule >= UBRK_WORD_LETTER && rule < UBRK_WORD_LETTER_LIMIT) {
		*class_r = ASCII_WB_LETTER;
		return 0;
	}
	if (rule >= UBRK_WORD_NUMBER && rule < UBRK_WORD_NUMBER_LIMIT) {
		*class_r = ASCII_WB_NUMERIC;
		return 0;
	}
	if ((after_letter = icu_segments(text, "a#", c, &rule, error_r)) < 0 ||
	    (letters = icu_segments(text, "a#a", c, &rule, error_r)) < 0 ||
	    (digits = icu_segments(text, "1#1", c, &rule, error_r)) < 0)
		return -1;
	/* "a_" is one segment: '_' joins a letter on its own (WB13a) */
	*class_r = after_letter == 1 ? ASCII_WB_EXTEND_NUM_LET :
		letters == 1 && digits == 1 ? ASCII_WB_MID_NUM_LET :
		letters == 1 ? ASCII_WB_MID_LETTER :
		digits == 1 ? ASCII_WB_MID_NUM : ASCII_WB_OTHER;
	return 0;
}

struct token_list {
	size_t *items;		/* offset, length, flags of each token */
	size_t count, alloc;
	int out_of_memory;
};

static int token_list_cb(void *context, const char *tok, size_t len,
			 size_t byte_offset, unsigned int flags)
{
	struct token_list *list = context;

	(void)tok;
	if (list->count + 3 > list->alloc) {
		size_t alloc = list->alloc == 0 ? 1024 : list->alloc * 2;
		size_t *items = realloc(list->items, alloc * sizeof(*items));

		if (items == NULL) {
			list->out_of_memory = 1;
			return -1;
		}
		list->items = items;
		list->alloc = alloc;
	}
	list->items[list->count++] = byte_offset;
	list->items[list->count++] = len;
	list->items[list->count++] = flags;
	return 0;
}

/* Learn the class of every ASCII character, then check that segmenting
   with them gives ICU's tokens on each character between letters, digits
   and '_'.  On any difference the fast path stays off: correct, only
   slower.  About a millisecond, once per process. */
static int init_ascii(struct sift_text *text, const char **error_r)
{
	static const char *const around[] = {
		"a#a", "1#1", "a#1", "1#a", "_#_", "a_#", "#_a", "##",
		"a##a", "1##1", "#a", "a#", "1#", "#1", "__#", "#__",
		"a_#_a",
	};
	const size_t n_around = sizeof(around) / sizeof(around[0]);
	struct token_list fast = { NULL, 0, 0, 0 }, icu = { NULL, 0, 0, 0 };
	unsigned char *probe;
	size_t len = 0, i;
	unsigned int c;
	int ret;

	for (c = 0; c < 128; c++) {
		if (learn_ascii_class(text, (unsigned char)c,
				      &text->ascii_wb[c], error_r) < 0)
			return -1;
	}
	/* without memory for the check the fast path just stays off */
	probe = malloc(128 * n_around * 6);
	if (probe == NULL)
		return 0;
	for (c = 0; c < 128; c++) {
		for (i = 0; i < n_around; i++) {
			len += put_pattern(probe + len, around[i],
					   (unsigned char)c);
			probe[len++] = ' ';
		}
	}
	ret = set_window(text, probe, len, error_r);
	if (ret == 0 && emit_tokens(text, probe, len, 0, token_list_cb, &icu,
				    error_r) != 0 && !icu.out_of_memory)
		ret = -1;	/* ICU failed (error_r says how) */
	if (ret == 0 && !icu.out_of_memory &&
	    emit_ascii_tokens(text, probe, len, 0, token_list_cb,
			      &fast) == 0) {
		text->ascii_fast_ok = fast.count == icu.count &&
			memcmp(fast.items, icu.items,
			       fast.count * sizeof(size_t)) == 0;
		text->ascii_fast = text->ascii_fast_ok;
	}
	free(fast.items);
	free(icu.items);
	free(probe);
	return ret;
}

int sift_text_tokenize(struct sift_text *text, const char *in, size_t len,
		       sift_token_callback_t *callback, void *context,
		       const char **error_r)
{
	const unsigned char *p = (const unsigned char *)in;
	size_t pos = 0, avail, wlen, consumed;
	int32_t b;
	int fast, ret;

	while (pos < len) {
		fast = 0;
		avail = len - pos;
		if (avail <= SIFT_WINDOW_SIZE) {
			wlen = consumed = avail;
		} else {
			wlen = window_space_cut(p + pos, avail,
						SIFT_WINDOW_SIZE);
			consumed = wlen;
		}
		if (wlen == 0) {
			/* No space or line break in the whole window.  Keep
			   the part up to ICU's last boundary that is well
			   away from the window's end (so the truncation
			   can't have influenced it) and start the next
			   window there.  Only a single segment spanning the
			   whole window (e.g. 64 KB of letters) is split; a
			   token ending in the last SIFT_WINDOW_MARGIN bytes
			   may be too, if it is the only boundary. */
			wlen = window_char_cut(p + pos, SIFT_WINDOW_SIZE);
			if (set_window(text, p + pos, wlen, error_r) < 0)
				return -1;
			b = ubrk_preceding(text->bi, (int32_t)(wlen -
					   SIFT_WINDOW_MARGIN + 1));
			if (b == UBRK_DONE || b <= 0) {
				/* no boundary that far: take any */
				b = ubrk_preceding(text->bi, (int32_t)wlen);
			}
			consumed = b == UBRK_DONE || b <= 0 ? wlen : (size_t)b;
		} else if (text->ascii_fast && is_ascii(p + pos, wlen)) {
			fast = 1;
		} else if (set_window(text, p + pos, wlen, error_r) < 0) {
			return -1;
		}
		ret = fast ? emit_ascii_tokens(text, p + pos, consumed, pos,
					       callback, context) :
			emit_tokens(text, p + pos, consumed, pos, callback,
				    context, error_r);
		if (ret != 0)
			return ret;
		pos += consumed;
	}
	return 0;
}

int sift_text_ascii_never_in_token(const struct sift_text *text,
				   unsigned char c)
{
	/* Double_Quote joins two Hebrew letters (WB7b/c), which the
	   ASCII probes at init don't see */
	return c < 0x80 && c != '"' && text->ascii_wb[c] == ASCII_WB_OTHER;
}

int sift_text_set_ascii_fast(struct sift_text *text, int enable)
{
	if (!enable)
		text->ascii_fast = 0;
	else if (!text->ascii_fast_ok)
		return 0;
	else
		text->ascii_fast = 1;
	return text->ascii_fast;
}

bool sift_text_utf8_is_one_char(const char *s, size_t len)
{
	unsigned char c;
	size_t n;

	if (len == 0)
		return false;
	c = (unsigned char)s[0];
	n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
	return n == len;
}

size_t sift_text_utf8_truncate(const char *s, size_t len, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t start, seq_len;

	if (len <= max)
		return len;
	/* s[max] is the first byte cut off.  If it continues a multibyte
	   sequence that starts before max, drop that sequence. */
	if ((p[max] & 0xc0) != 0x80)
		return max;
	for (start = max; start > 0 && max - start < 3 &&
	     (p[start] & 0xc0) == 0x80; start--) ;
	if (p[start] >= 0xf0)
		seq_len = 4;
	else if (p[start] >= 0xe0)
		seq_len = 3;
	else if (p[start] >= 0xc0)
		seq_len = 2;
	else
		seq_len = 1;
	/* A stray continuation byte (invalid input) is a character of its
	   own as far as cutting goes. */
	return start + seq_len > max ? start : max;
}

size_t sift_text_fold_accents(const char *in, size_t len, char *out)
{
	size_t i = 0, o = 0;

	while (i < len) {
		unsigned char c = (unsigned char)in[i];

		/* U+0300..U+036F is CC 80..CD AF in UTF-8 */
		if (i + 1 < len &&
		    ((c == 0xcc && ((unsigned char)in[i + 1] & 0xc0) == 0x80) ||
		     (c == 0xcd && (unsigned char)in[i + 1] >= 0x80 &&
		      (unsigned char)in[i + 1] <= 0xaf))) {
			i += 2;
			continue;
		}
		out[o++] = in[i++];
	}
	return o;
}

const char *sift_text_engine_version(void)
{
	static char version[128];
	UVersionInfo icu, unicode;
	char icu_str[U_MAX_VERSION_STRING_LENGTH];
	char unicode_str[U_MAX_VERSION_STRING_LENGTH];

	if (version[0] == '\0') {
		u_getVersion(icu);
		u_getUnicodeVersion(unicode);
		u_versionToString(icu, icu_str);
		u_versionToString(unicode, unicode_str);
		/* what the index's text depends on: ICU's segmentation
		   and mappings, and which characters Dovecot's tables
		   cover (an index of another is rebuilt) */
		(void)snprintf(version, sizeof(version),
			       "icu %s, unicode %s, dovecot unicode %u",
			       icu_str, unicode_str,
			       (unsigned int)SIFT_DOVECOT_UNICODE_MAJOR);
	}
	return version;
}

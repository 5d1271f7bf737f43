/* sift-text: the text pipeline shared by indexing and searching.
   Plain C over ICU's C API; no Dovecot types, so it is unit-tested alone.

   Two steps, always in this order and always identical for mail text and
   for search strings:

   1. sift_text_normalize() maps UTF-8 text to the form Dovecot's own
      search compares (the i;unicode-casemap normalizer,
      uni_utf8_to_decomposed_titlecase()): per code point, the simple
      titlecase mapping, then one level of the Unicode decomposition
      mapping (canonical or compatibility), Hangul syllables decomposed
      algorithmically.  Matching Dovecot exactly is what lets the index
      answer "definitely matches" with the same result as Dovecot's own
      substring search.  Invalid UTF-8 becomes U+FFFD (never repeated).

   2. sift_text_tokenize() splits normalized text into words with ICU's
      word break iterator (UAX #29 plus ICU's dictionaries for Chinese,
      Japanese, Thai, Lao, Khmer and Burmese).  Only segments with a word
      rule status (letters, numbers, kana, ideographs) are tokens;
      spaces, punctuation and symbols are not.  Pure-ASCII text gets the
      same tokens from a small segmenter of its own (see
      sift_text_set_ascii_fast()), as ICU's rule engine is the slowest
      part of indexing ASCII mail.

   Errors: functions returning int give 0, or -1 with *error_r set to a
   message on Dovecot's data stack (the pipeline is plain C over ICU
   otherwise; it needs only Dovecot's lib, initialized).

   Thread safety: a struct sift_text is used by one thread at a time. */
#ifndef SIFT_TEXT_H
#define SIFT_TEXT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct sift_text;

/* Token flags passed to the callback. */
enum sift_token_flags {
	/* The token contains characters of a script that ICU segments by
	   dictionary (Han, Hiragana, Katakana, Thai, Lao, Khmer, Myanmar).
	   Such a token's boundaries depend on wide context, so a search
	   string's segmentation may differ from the text's. */
	SIFT_TOKEN_DICTIONARY = 0x01,
	/* The token contains at least one decimal digit. */
	SIFT_TOKEN_HAS_DIGIT = 0x02,
};

/* Called once per token in text order.  tok is not NUL-terminated and is
   valid only during the call.  byte_offset is the token's offset in the
   input.  Return 0 to continue, non-zero to stop (sift_text_tokenize()
   then returns that value). */
typedef int sift_token_callback_t(void *context, const char *tok, size_t len,
				  size_t byte_offset, unsigned int flags);

/* Returns 0 and *text_r, or -1 with error_r. */
int sift_text_init(struct sift_text **text_r, const char **error_r);
/* Frees everything; sets *text to NULL.  NULL-safe. */
void sift_text_deinit(struct sift_text **text);

/* Normalize len bytes of (possibly invalid) UTF-8.  The result is
   NUL-terminated, owned by the sift_text and valid until the next
   sift_text_normalize() call on it.  Returns 0, or -1 on an internal
   (ICU or allocation) failure with error_r. */
int sift_text_normalize(struct sift_text *text, const char *in, size_t len,
			const char **out_r, size_t *out_len_r,
			const char **error_r);

/* Tokenize len bytes of normalized UTF-8 (the output of
   sift_text_normalize(); other input works but is not what the index
   holds).  Returns 0 when all tokens were delivered, the callback's
   non-zero value if it stopped early, or -1 on an ICU failure with a
   message in error_r.  Any input size works: long input is processed in
   windows cut at whitespace, so memory stays bounded. */
int sift_text_tokenize(struct sift_text *text, const char *in, size_t len,
		       sift_token_callback_t *callback, void *context,
		       const char **error_r);

/* Pure-ASCII text is segmented without ICU, with the same result: on
   unless the check at init found the installed ICU segmenting ASCII in a
   way the fast path doesn't follow.  The unit test turns it off to compare
   the two.  Returns whether it is on now. */
int sift_text_set_ascii_fast(struct sift_text *text, int enable);

/* Can the ASCII character c never be part of a token, in any context?
   (Its word break class, learnt from ICU at init, breaks on both sides
   whatever surrounds it: '-', '/', '(' ..., but not '.', ':', ',', '_',
   or '@' where ICU joins it, nor '"', which joins two Hebrew letters.)
   A term holding such a character is a run, never a word (sift-query.c
   reads only the words for a one-word search). */
int sift_text_ascii_never_in_token(const struct sift_text *text,
				   unsigned char c);

/* Length of the longest prefix of s[0..len) that is at most max bytes and
   ends on a UTF-8 character boundary (used to cap term lengths). */
size_t sift_text_utf8_truncate(const char *s, size_t len, size_t max);

/* Is s[0..len) exactly one UTF-8 character?  (For valid UTF-8, as
   normalized text is; a stray continuation byte is no character.)  The
   writer keeps no body run of one character and a search answers one
   character from the body's characters: both ask this. */
bool sift_text_utf8_is_one_char(const char *s, size_t len);

/* Copy normalized text (the output of sift_text_normalize(), where
   accented letters are decomposed) to out without the combining
   diacritical marks U+0300..U+036F: "CAFE\xcc\x81" -> "CAFE".  out must
   have room for len bytes.  Returns the length written; it equals len
   exactly when there was nothing to remove. */
size_t sift_text_fold_accents(const char *in, size_t len, char *out);

/* The versions of ICU and of the Unicode data that normalization and
   segmentation depend on, e.g. "icu 72.1, unicode 15.0".  Tokens can
   change between ICU versions, so the index records this and is rebuilt
   when it changes. */
const char *sift_text_engine_version(void);

#ifdef __cplusplus
}
#endif
#endif

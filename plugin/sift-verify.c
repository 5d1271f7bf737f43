/* sift-verify.c: headers that the index can't mirror exactly.

   Two places where Dovecot's search and its fts indexing read the same
   header differently:

   - An RFC 2047 encoded-word in a charset Dovecot can't convert: the fts
     plugin passes its bytes on (and the index normalizes them), while the
     search appends them unnormalized, so a case-insensitive search
     doesn't find them (message-header-decode.c, decode_utf8_callback()).
   - An address header whose text the address parser drops (comments,
     trailing garbage, a broken header that swallowed the rest of the
     message): the fts plugin indexes the parsed, rewritten form, while
     TEXT searches the header as written.

   Detecting them costs one pass over the header block, which the fts
   plugin has just read anyway. */
/* memmem() */
#define _GNU_SOURCE
#include "lib.h"
#include "str.h"
#include "istream.h"
#include "charset-utf8.h"
#include "message-address.h"
#include "message-header-decode.h"
#include "message-header-parser.h"
#include "sift-verify.h"

#include <ctype.h>

static bool unknown_charset_cb(const unsigned char *data ATTR_UNUSED,
			       size_t size ATTR_UNUSED, const char *charset,
			       void *context)
{
	bool *unknown = context;
	struct charset_translation *t;

	if (charset == NULL || charset_is_utf8(charset))
		return TRUE;
	if (charset_to_utf8_begin(charset, NULL, &t) < 0) {
		*unknown = TRUE;
		return FALSE;
	}
	charset_to_utf8_end(&t);
	return TRUE;
}

/* Letters and digits (every non-ASCII byte counts: UTF-8 letters). */
static size_t word_chars(const unsigned char *data, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < size; i++) {
		if (data[i] >= 0x80 || i_isalnum(data[i]))
			n++;
	}
	return n;
}

static bool address_text_dropped(const unsigned char *value, size_t size)
{
	struct message_address *addr;
	string_t *decoded, *written;

	decoded = t_str_new(size + 16);
	message_header_decode_utf8(value, size, decoded, NULL);
	addr = message_address_parse(pool_datastack_create(), str_data(decoded),
				     str_len(decoded), UINT_MAX, 0);
	written = t_str_new(str_len(decoded) + 16);
	message_address_write(written, addr);
	return word_chars(str_data(decoded), str_len(decoded)) >
		word_chars(str_data(written), str_len(written));
}

enum sift_verify_result sift_verify_header(struct istream *input)
{
	struct message_header_parser_ctx *parser;
	struct message_header_line *hdr;
	enum sift_verify_result result = 0;
	bool unknown_charset = FALSE;
	int ret;

	parser = message_parse_header_init(input, NULL,
					   MESSAGE_HEADER_PARSER_FLAG_CLEAN_ONELINE);
	while ((ret = message_parse_header_next(parser, &hdr)) > 0) {
		if (hdr->eoh)
			continue;
		if (hdr->continues) {
			hdr->use_full_value = TRUE;
			continue;
		}
		T_BEGIN {
			if (!unknown_charset &&
			    memmem(hdr->full_value, hdr->full_value_len,
				   "=?", 2) != NULL) {
				message_header_decode(hdr->full_value,
						      hdr->full_value_len,
						      unknown_charset_cb,
						      &unknown_charset);
			}
			if ((result & SIFT_VERIFY_ADDRESS_TEXT) == 0 &&
			    message_header_is_address(hdr->name) &&
			    address_text_dropped(hdr->full_value,
						 hdr->full_value_len))
				result |= SIFT_VERIFY_ADDRESS_TEXT;
		} T_END;
	}
	message_parse_header_deinit(&parser);
	if (unknown_charset)
		result |= SIFT_VERIFY_HEADER_CHARSET;
	return result;
}

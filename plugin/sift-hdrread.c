/* sift-hdrread.c: headers as Dovecot's own search reads them.

   Address headers.  Dovecot's FROM/TO/CC/BCC search parses the header as
   written (encoded-words still encoded), with placeholders for missing
   parts (MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING: "me" becomes
   me@MISSING_DOMAIN, "<>" MISSING_MAILBOX@MISSING_DOMAIN, a group's
   broken address SYNTAX_ERROR), writes it out again and only then
   decodes the encoded-words (index-search.c, search_header_arg()).  The
   fts plugin instead hands the backend the header decoded first and
   then parsed, without placeholders (fts-build-mail.c).  The two differ
   whenever a decoded display name holds address punctuation ("Edgar
   <Lee>", "edgar@lee", "Edgar; Lee", "[李]": the parse then splits or
   swallows the neighbouring addresses) and for every malformed address.
   So fts-sift does not use the fts plugin's form at all: it builds
   Dovecot's search form here, from the raw header, with Dovecot's own
   functions in Dovecot's order, and indexes that.  A plain list of
   ASCII mailboxes (most headers of list mail) is written into the same
   bytes without them (address_fast_form(): for such headers Dovecot's
   parser, writer and decoder and the run comparisons were over half of
   this file's instructions, 3 % of indexing's).

   TEXT reads an address header as written (decoded).  Its runs are
   compared with the search form's runs: those the search form lacks
   (comments and garbage the parser drops, names the writer escapes) are
   indexed for TEXT alone; where the search form has runs the header as
   written lacks (placeholders), TEXT lets Dovecot check the message.

   Other differences between the search and the fts plugin's input:

   - An RFC 2047 encoded-word in a charset Dovecot can't convert: the fts
     plugin passes its bytes on (and the index normalizes them), while the
     search appends them unnormalized, so a case-insensitive search
     doesn't find them (message-header-decode.c, decode_utf8_callback()).
   - Headers the fts plugin leaves out (fts_header_excludes): TEXT can't
     be answered for messages that have one; the index still records
     their names (HEADER x "" stays exact).

   Reading the header costs one pass over the header block, which the fts
   plugin has just read anyway; the MIME parts' headers are read (one
   pass over the message) only when a header can be left out. */
/* memmem() */
#define _GNU_SOURCE
#include "lib.h"
#include "str.h"
#include "istream.h"
#include "charset-utf8.h"
#include "message-address.h"
#include "message-header-decode.h"
#include "message-header-parser.h"
#include "message-parser.h"
#include "rfc822-parser.h"
#include "sift-plan.h"
#include "sift-hdrfilter.h"
#include "sift-hdrread.h"

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

static bool is_run_separator(unsigned char c, bool whitespace_only)
{
	if (whitespace_only)
		return sift_is_chunk_separator((char)c);
	return sift_is_address_run_separator((char)c);
}

/* Does every run of a occur somewhere in b?  With missing, append each
   run that doesn't (followed by a space) and go on; without, stop at the
   first. */
static bool runs_occur_in(const unsigned char *a, size_t a_len,
			  const unsigned char *b, size_t b_len,
			  bool whitespace_only, string_t *missing)
{
	const unsigned char *hit;
	size_t i = 0, start, from = 0;
	bool all = TRUE;

	while (i < a_len) {
		while (i < a_len && is_run_separator(a[i], whitespace_only))
			i++;
		start = i;
		while (i < a_len && !is_run_separator(a[i], whitespace_only))
			i++;
		if (i == start)
			continue;
		/* The two forms of a header mostly hold their runs in the
		   same order, so each run is looked for after the previous
		   one's match first and only then in all of b: the same
		   answer (somewhere in b or not), without rescanning b from
		   its start for every run of a long Cc (quadratic in the
		   header: 1.5 % of indexing CPU on list mail). */
		hit = memmem(b + from, b_len - from, a + start, i - start);
		if (hit == NULL && from > 0)
			hit = memmem(b, b_len, a + start, i - start);
		if (hit != NULL)
			from = (size_t)(hit - b) + (i - start);
		else {
			all = FALSE;
			if (missing == NULL)
				break;
			str_append_data(missing, a + start, i - start);
			str_append_c(missing, ' ');
		}
	}
	return all;
}

/* A run of one found in the other lies inside one of its runs (it holds
   no separator), so both directions make every separator-free string
   occur in both or in neither. */
static bool same_runs(const unsigned char *a, size_t a_len,
		      const unsigned char *b, size_t b_len,
		      bool whitespace_only)
{
	return runs_occur_in(a, a_len, b, b_len, whitespace_only, NULL) &&
		runs_occur_in(b, b_len, a, a_len, whitespace_only, NULL);
}

bool sift_hdrread_same_runs(const unsigned char *a, size_t a_len,
			   const unsigned char *b, size_t b_len)
{
	return same_runs(a, a_len, b, b_len, FALSE);
}

bool sift_hdrread_has_encoded_word(const unsigned char *data, size_t size)
{
	const unsigned char *p = data, *end = data + size;

	/* memchr() for the '=' of "=?": the answer of memmem(), which was
	   0.6 % of indexing's instructions (it runs on every header) */
	while ((p = memchr(p, '=', end - p)) != NULL) {
		if (++p < end && *p == '?')
			return TRUE;
	}
	return FALSE;
}

/* The shortcut's bytes: printable ASCII that Dovecot's parser reads as
   atext (rfc822-parser.h; it counts every 8-bit byte as atext too). */
static inline bool fast_atext(unsigned char c)
{
	return c < 0x80 && IS_ATEXT(c);
}

static inline void skip_wsp(const unsigned char *p, size_t size, size_t *i)
{
	while (*i < size && (p[*i] == ' ' || p[*i] == '\t'))
		(*i)++;
}

/* dot-atom-text at *i: atext runs joined by single dots */
static bool scan_dot_atom(const unsigned char *p, size_t size, size_t *i)
{
	size_t start;

	for (;;) {
		start = *i;
		while (*i < size && fast_atext(p[*i]))
			(*i)++;
		if (*i == start)
			return FALSE;
		if (*i + 1 >= size || p[*i] != '.' || !fast_atext(p[*i + 1]))
			return TRUE;
		(*i)++;
	}
}

/* <local@domain> from *i (at the '<'), written as Dovecot writes it (the
   same bytes) */
static bool fast_angle_addr(const unsigned char *p, size_t size, size_t *i,
			    string_t *dest)
{
	size_t start = *i;

	(*i)++;
	if (!scan_dot_atom(p, size, i) || *i == size || p[*i] != '@')
		return FALSE;
	(*i)++;
	if (!scan_dot_atom(p, size, i) || *i == size || p[*i] != '>')
		return FALSE;
	(*i)++;
	str_append_data(dest, p + start, *i - start);
	return TRUE;
}

/* A display name (the phrase's words joined by single spaces, or a quoted
   string's content) as message_address_write() writes it: as it is if it
   is all atext, else quoted.  A name Dovecot escapes (with a '\'') is
   left to the full path: the escape changes its runs. */
static bool fast_name(const unsigned char *words, size_t size, bool quoted,
		      string_t *dest)
{
	bool atext = TRUE, apos = FALSE;
	size_t i;

	for (i = 0; i < size; i++) {
		if (!fast_atext(words[i]))
			atext = FALSE;
		else if (words[i] == '\'')
			apos = TRUE;
	}
	if (atext) {
		str_append_data(dest, words, size);
		return TRUE;
	}
	if (apos)
		return FALSE;
	str_append_c(dest, '"');
	if (quoted)
		str_append_data(dest, words, size);
	else {
		/* words separated by whitespace: one space each, as
		   rfc822_parse_phrase() joins them */
		size_t start = 0;

		for (i = 0; i < size; ) {
			if (words[i] != ' ' && words[i] != '\t') {
				i++;
				continue;
			}
			str_append_data(dest, words + start, i - start);
			str_append_c(dest, ' ');
			skip_wsp(words, size, &i);
			start = i;
		}
		str_append_data(dest, words + start, size - start);
	}
	str_append_c(dest, '"');
	return TRUE;
}

/* The shortcut: Dovecot's parsed and written form of value (without
   "=?", checked by the caller) if value is a list of plain mailboxes
   (FWS: spaces and tabs),

     list     = FWS* mailbox (FWS* "," FWS* mailbox)* FWS*
     mailbox  = addr | [name FWS*] "<" addr ">"
     addr     = dot-atom "@" dot-atom
     name     = word (FWS+ word)* | '"' 1*qtext '"'
     word     = 1*(atext / "."), the first word not starting with "."
     qtext    = printable ASCII but '"' and '\\'
     dot-atom = 1*atext *("." 1*atext)

   where atext is ASCII (no 8-bit byte anywhere, no other control than
   tab).  Dovecot's parser (message-address.c) reads each mailbox of it
   without error, placeholder or comment, and message_address_write()
   writes them joined by ", ", each "<addr>" preceded by its name and a
   space, the name quoted unless it is all atext; a name needing an
   escape falls to the full path.  The written form is ASCII without
   "=?" (its pieces come from value, joined by punctuation that is neither
   '=' nor '?'), so decoding leaves it as it is, and the header as
   written (value, decoded) has exactly its runs: the two differ only in
   separators (spaces, quotes, angle brackets, commas).  So the search
   form is this written form, with no text_extra and nothing for TEXT to
   distrust.  FALSE (dest then holds garbage) for any other value;
   test-sift-hdrread.c compares this with the full path on generated
   headers of every kind. */
static bool address_fast_form(const unsigned char *p, size_t size,
			      string_t *dest)
{
	size_t i = 0, start, name_end, word;
	bool first = TRUE;

	skip_wsp(p, size, &i);
	for (;;) {
		if (i == size)
			return FALSE;
		if (!first)
			str_append(dest, ", ");
		first = FALSE;
		if (p[i] == '"') {
			/* a quoted name, then <addr> */
			start = ++i;
			while (i < size && p[i] != '"') {
				if (p[i] < 0x20 || p[i] >= 0x7f || p[i] == '\\')
					return FALSE;
				i++;
			}
			if (i == start || i == size)
				return FALSE;
			name_end = i++;
			skip_wsp(p, size, &i);
			if (i == size || p[i] != '<' ||
			    !fast_name(p + start, name_end - start, TRUE, dest))
				return FALSE;
			str_append_c(dest, ' ');
			if (!fast_angle_addr(p, size, &i, dest))
				return FALSE;
		} else if (p[i] == '<') {
			if (!fast_angle_addr(p, size, &i, dest))
				return FALSE;
		} else {
			/* a name's first word or an addr */
			start = i;
			if (p[i] == '.')
				return FALSE;
			while (i < size && (fast_atext(p[i]) || p[i] == '.'))
				i++;
			if (i == start)
				return FALSE;
			if (i < size && p[i] == '@') {
				/* addr alone: written as <addr> */
				i = start;
				if (!scan_dot_atom(p, size, &i) || i == size ||
				    p[i] != '@')
					return FALSE;
				i++;
				if (!scan_dot_atom(p, size, &i))
					return FALSE;
				str_append_c(dest, '<');
				str_append_data(dest, p + start, i - start);
				str_append_c(dest, '>');
			} else {
				/* more words up to the '<' (a word ends at
				   whitespace, or at a byte no word has, with
				   which the next "word" is empty) */
				for (;;) {
					name_end = i;
					skip_wsp(p, size, &i);
					if (i < size && p[i] == '<')
						break;
					word = i;
					while (i < size && (fast_atext(p[i]) ||
							    p[i] == '.'))
						i++;
					if (i == word)
						return FALSE;
				}
				if (!fast_name(p + start, name_end - start,
					       FALSE, dest))
					return FALSE;
				str_append_c(dest, ' ');
				if (!fast_angle_addr(p, size, &i, dest))
					return FALSE;
			}
		}
		skip_wsp(p, size, &i);
		if (i == size)
			return TRUE;
		if (p[i] != ',')
			return FALSE;
		i++;
		skip_wsp(p, size, &i);
	}
}

bool sift_hdrread_address_form(const unsigned char *value, size_t size,
			       bool fast, struct sift_hdrread_address *va,
			       bool *text_trusted_r)
{
	struct message_address *addr;
	string_t *written, *search, *decoded, *extra;

	if (fast && !sift_hdrread_has_encoded_word(value, size)) {
		written = t_str_new(size + 32);
		if (address_fast_form(value, size, written)) {
			va->value = str_data(written);
			va->size = str_len(written);
			va->text_extra = uchar_empty_ptr;
			va->text_extra_size = 0;
			*text_trusted_r = TRUE;
			return TRUE;
		}
	}

	addr = message_address_parse(pool_datastack_create(), value, size,
				     UINT_MAX,
				     MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING);
	written = t_str_new(size + 32);
	message_address_write(written, addr);
	search = t_str_new(str_len(written) + 32);
	message_header_decode_utf8(str_data(written), str_len(written),
				   search, NULL);
	va->value = str_data(search);
	va->size = str_len(search);

	/* TEXT reads the header as written (decoded).  Its runs missing from
	   the search form ("Ts'o", which the writer escapes as "Ts\'o", a
	   comment the parser drops) are indexed as text of their own
	   (text_extra); a run of the search form missing from the header as
	   written (a placeholder) would be a wrong TEXT match: the
	   document is flagged. */
	decoded = t_str_new(size + 16);
	message_header_decode_utf8(value, size, decoded, NULL);
	extra = t_str_new(64);
	(void)runs_occur_in(str_data(decoded), str_len(decoded),
			    str_data(search), str_len(search), FALSE, extra);
	va->text_extra = str_data(extra);
	va->text_extra_size = str_len(extra);
	*text_trusted_r = runs_occur_in(str_data(search), str_len(search),
					str_data(decoded), str_len(decoded),
					FALSE, NULL);
	return FALSE;
}

/* One top-level address header: its search form, and whether TEXT (which
   reads it as written) may trust the index's runs of that form. */
static void verify_address(const struct message_header_line *hdr,
			   struct sift_hdrread *v)
{
	struct sift_hdrread_address *va;
	bool text_trusted;

	va = array_append_space(&v->addresses);
	va->name = t_strdup(hdr->name);
	(void)sift_hdrread_address_form(hdr->full_value, hdr->full_value_len,
					TRUE, va, &text_trusted);
	if (!text_trusted)
		v->result |= SIFT_HDRREAD_ADDRESS_TEXT;
}

static void verify_top_header(const struct message_header_line *hdr,
			      const struct sift_hdrfilter *filter,
			      bool *unknown_charset, struct sift_hdrread *v)
{
	if (!*unknown_charset &&
	    sift_hdrread_has_encoded_word(hdr->full_value,
					  hdr->full_value_len)) {
		message_header_decode(hdr->full_value, hdr->full_value_len,
				      unknown_charset_cb, unknown_charset);
	}
	if (v->date == NULL && strcasecmp(hdr->name, "Date") == 0) {
		/* a C string, as mail_get_first_header() gives it (cut at a
		   NUL, which index_mail_cache_sent_date() measures with
		   strlen()) */
		const char *date = t_strndup(hdr->full_value,
					     hdr->full_value_len);

		v->date = (const unsigned char *)date;
		v->date_size = strlen(date);
	}
	if (!sift_hdrfilter_wants(filter, hdr->name)) {
		const char *name = t_strdup(hdr->name);

		array_push_back(&v->excluded, &name);
		v->result |= SIFT_HDRREAD_EXCLUDED;
	} else if (message_header_is_address(hdr->name)) {
		verify_address(hdr, v);
	}
}

static void init_result(struct sift_hdrread *v)
{
	i_zero(v);
	t_array_init(&v->addresses, 8);
	t_array_init(&v->excluded, 4);
}

/* The top-level header only (a header stream). */
static void verify_header_only(struct istream *input,
			       const struct sift_hdrfilter *filter,
			       bool *unknown_charset, struct sift_hdrread *v)
{
	struct message_header_parser_ctx *parser;
	struct message_header_line *hdr;

	parser = message_parse_header_init(input, NULL,
					   MESSAGE_HEADER_PARSER_FLAG_CLEAN_ONELINE);
	while (message_parse_header_next(parser, &hdr) > 0) {
		if (hdr->eoh)
			continue;
		if (hdr->continues) {
			hdr->use_full_value = TRUE;
			continue;
		}
		verify_top_header(hdr, filter, unknown_charset, v);
	}
	message_parse_header_deinit(&parser);
}

/* How the whole message is parsed here (verify_whole_message(),
   sift_hdrread_content_types()): headers unfolded to one line. */
static const struct message_parser_settings whole_message_set = {
	.hdr_flags = MESSAGE_HEADER_PARSER_FLAG_CLEAN_ONELINE,
};

/* A Content-Type header hdr of part: does its media type differ from
   the first one's of the part (kept in *part, *first)?  See
   sift_hdrread_content_type(). */
static bool content_type_differs(const struct message_header_line *hdr,
				 const struct message_part *part,
				 const struct message_part **cur_part,
				 const char **first)
{
	const char *type;

	type = sift_hdrread_content_type(hdr->full_value, hdr->full_value_len);
	if (*cur_part != part) {
		*cur_part = part;
		*first = type;
		return FALSE;
	}
	return *first == NULL || type == NULL || strcmp(*first, type) != 0;
}

/* The whole message: the top-level header as above, and the headers of
   every MIME part for what filter leaves out. */
static void verify_whole_message(struct istream *input,
				 const struct sift_hdrfilter *filter,
				 bool *unknown_charset, struct sift_hdrread *v)
{
	struct message_parser_ctx *parser;
	struct message_block block;
	struct message_part *parts;
	const struct message_part *ctype_part = NULL;
	const char *ctype_first = NULL;
	bool ctype_wanted = sift_hdrfilter_wants(filter, "Content-Type");
	const char *error;

	parser = message_parser_init(pool_datastack_create(), input,
				     &whole_message_set);
	while (message_parser_parse_next_block(parser, &block) > 0) {
		struct message_header_line *hdr = block.hdr;

		if (hdr == NULL || hdr->eoh)
			continue;
		if (hdr->continues) {
			hdr->use_full_value = TRUE;
			continue;
		}
		/* the fts plugin's test for the message's own header */
		if (block.part->physical_pos == 0) {
			verify_top_header(hdr, filter, unknown_charset, v);
		} else if (!sift_hdrfilter_wants(filter, hdr->name)) {
			v->result |= SIFT_HDRREAD_EXCLUDED;
		}
		/* the backend sees a second Content-Type in a part only if
		   the fts plugin hands Content-Type over (fts-backend-sift.c) */
		if (!ctype_wanted && strcasecmp(hdr->name, "Content-Type") == 0 &&
		    content_type_differs(hdr, block.part, &ctype_part,
					 &ctype_first))
			v->result |= SIFT_HDRREAD_BODY;
	}
	(void)message_parser_deinit_from_parts(&parser, &parts, &error);
}

/* The parsers return -1 at the end of the input and on a read error;
   only the stream tells which. */
static int input_result(struct istream *input, const char **error_r)
{
	if (input->stream_errno == 0)
		return 0;
	*error_r = t_strdup_printf("read(%s) failed: %s",
				   i_stream_get_name(input),
				   i_stream_get_error(input));
	return -1;
}

int sift_hdrread_message(struct istream *input, bool whole_message,
			 const struct sift_hdrfilter *filter,
			 struct sift_hdrread *v, const char **error_r)
{
	bool unknown_charset = FALSE;

	init_result(v);
	if (whole_message)
		verify_whole_message(input, filter, &unknown_charset, v);
	else
		verify_header_only(input, filter, &unknown_charset, v);
	if (unknown_charset)
		v->result |= SIFT_HDRREAD_HEADER_CHARSET;
	return input_result(input, error_r);
}

int sift_hdrread_part_addresses(struct istream *input,
				const struct sift_hdrfilter *filter,
				ARRAY_TYPE(sift_hdrread_address) *dest,
				const char **error_r)
{
	struct message_header_parser_ctx *parser;
	struct message_header_line *hdr;
	struct sift_hdrread_address *va;
	string_t *decoded;

	parser = message_parse_header_init(input, NULL,
					   MESSAGE_HEADER_PARSER_FLAG_CLEAN_ONELINE);
	while (message_parse_header_next(parser, &hdr) > 0) {
		/* (the parser would go on into the body) */
		if (hdr->eoh)
			break;
		if (hdr->continues) {
			hdr->use_full_value = TRUE;
			continue;
		}
		if (!message_header_is_address(hdr->name) ||
		    !sift_hdrfilter_wants(filter, hdr->name))
			continue;
		decoded = t_str_new(hdr->full_value_len + 16);
		message_header_decode_utf8(hdr->full_value, hdr->full_value_len,
					   decoded, NULL);
		va = array_append_space(dest);
		va->name = t_strdup(hdr->name);
		va->value = str_data(decoded);
		va->size = str_len(decoded);
	}
	message_parse_header_deinit(&parser);
	return input_result(input, error_r);
}

const char *sift_hdrread_content_type(const unsigned char *value,
				      size_t size)
{
	struct rfc822_parser_context parser;
	string_t *type;

	if (size > 1000 || sift_hdrread_has_encoded_word(value, size))
		return NULL;
	for (size_t i = 0; i < size; i++) {
		if (value[i] >= 0x80)
			return NULL;
	}
	/* as fts-build-mail.c and message-search.c parse it */
	rfc822_parser_init(&parser, value, size, NULL);
	rfc822_skip_lwsp(&parser);
	type = t_str_new(64);
	(void)rfc822_parse_content_type(&parser, type);
	rfc822_parser_deinit(&parser);
	return str_lcase(str_c_modifiable(type));
}

int sift_hdrread_content_types(struct istream *input, bool *differ_r,
			       const char **error_r)
{
	struct message_parser_ctx *parser;
	struct message_block block;
	struct message_part *parts;
	const struct message_part *ctype_part = NULL;
	const char *ctype_first = NULL, *error;

	*differ_r = FALSE;
	parser = message_parser_init(pool_datastack_create(), input,
				     &whole_message_set);
	while (message_parser_parse_next_block(parser, &block) > 0) {
		struct message_header_line *hdr = block.hdr;

		if (hdr == NULL || hdr->eoh ||
		    strcasecmp(hdr->name, "Content-Type") != 0)
			continue;
		if (hdr->continues) {
			hdr->use_full_value = TRUE;
			continue;
		}
		if (content_type_differs(hdr, block.part, &ctype_part,
					 &ctype_first))
			*differ_r = TRUE;
	}
	(void)message_parser_deinit_from_parts(&parser, &parts, &error);
	return input_result(input, error_r);
}

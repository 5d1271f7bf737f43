/* sift-hdrread: read a message's headers as Dovecot's own search reads
   them.  This gives the index the address headers in the form FROM, TO,
   CC and BCC compare, and finds the messages whose headers Dovecot's
   search reads differently from what the fts plugin hands to the index:
   their documents are flagged so that searches let Dovecot check them
   instead of trusting the index. */
#ifndef SIFT_HDRREAD_H
#define SIFT_HDRREAD_H

#include "array.h"

struct istream;
struct sift_hdrfilter;

enum sift_hdrread_result {
	/* an encoded-word in a charset Dovecot can't convert: header
	   searches and TEXT can't trust the index */
	SIFT_HDRREAD_HEADER_CHARSET = 0x01,
	/* TEXT reads an address header as written, the index holds its
	   parsed form (sift_hdrread.addresses), which has runs the header as
	   written lacks (a placeholder): TEXT can't trust the index */
	SIFT_HDRREAD_ADDRESS_TEXT = 0x02,
	/* a header of the message or of a part that the fts plugin doesn't
	   index (fts_header_excludes): TEXT can't trust the index */
	SIFT_HDRREAD_EXCLUDED = 0x04,
	/* a part with two Content-Type headers of different media types
	   (sift_hdrread_content_types_agree()) whose Content-Type the fts
	   plugin doesn't hand over (so the backend can't see them): BODY and
	   TEXT can't trust the index */
	SIFT_HDRREAD_BODY = 0x08,
};

struct sift_hdrread_address {
	const char *name;
	/* what Dovecot's FROM/TO/CC/BCC search compares, before
	   normalization: the header as written, parsed with placeholders
	   for missing parts (MISSING_DOMAIN, ...), written again, then
	   RFC 2047 decoded (index-search.c, search_header_arg()) */
	const unsigned char *value;
	size_t size;
	/* the runs (see sift_hdrread_same_runs()) of the header as written,
	   decoded, that value lacks, each followed by a space: TEXT reads
	   them, FROM/TO/CC/BCC don't */
	const unsigned char *text_extra;
	size_t text_extra_size;
};
ARRAY_DEFINE_TYPE(sift_hdrread_address, struct sift_hdrread_address);

struct sift_hdrread {
	enum sift_hdrread_result result;
	/* the message's address headers that filter lets through, in their
	   search form (allocated from the data stack) */
	ARRAY_TYPE(sift_hdrread_address) addresses;
	/* names of the message's headers that filter leaves out */
	ARRAY_TYPE(const_string) excluded;
	/* the value of the first top-level Date: header, unfolded, as
	   Dovecot's mail_get_date() parses it (data stack); NULL if the
	   message has none */
	const unsigned char *date;
	size_t date_size;
};

/* Read a message from input: its top-level header only, or with
   whole_message also the headers of its MIME parts (needed only when
   filter leaves some header out).  Fills v (data stack; the caller holds
   a T_BEGIN frame).  Returns 0, or -1 with error_r if input failed:
   then v holds only what was read before, and nothing it says can be
   trusted to be complete (the caller lets Dovecot check the message). */
int sift_hdrread_message(struct istream *input, bool whole_message,
			 const struct sift_hdrfilter *filter,
			 struct sift_hdrread *v, const char **error_r);

/* The header of an attached message (a message/rfc822 part), read from
   input's current offset: its address headers that filter lets through,
   decoded as TEXT reads them (the fts plugin hands them over parsed and
   written again, which drops comments and adds punctuation).  Appended
   to dest (data stack).  Returns 0, or -1 with error_r if input failed
   (dest may then lack some). */
int sift_hdrread_part_addresses(struct istream *input,
				const struct sift_hdrfilter *filter,
				ARRAY_TYPE(sift_hdrread_address) *dest,
				const char **error_r);

/* Runs of text: maximal pieces without address punctuation
   (SIFT_ADDRESS_RUN_SEPARATORS).  Does every run of a occur in b and
   every run of b in a?  Then a string without that punctuation occurs
   in one exactly when it occurs in the other. */
bool sift_hdrread_same_runs(const unsigned char *a, size_t a_len,
			   const unsigned char *b, size_t b_len);

/* A part's Content-Type headers: the fts plugin indexes the part by the
   first (fts-build-mail.c) and Dovecot's own search reads its body by
   the last (message-search.c decides text or not from each Content-Type
   header it sees); the MIME structure and the charset both take from the
   same code (message-parser.c, message-decoder.c: the first).  Both read
   only the media type rfc822_parse_content_type() gives, whatever it
   returns.  So a second header changes nothing when its media type is
   the first's, case aside.  The media type of value (lower case, data
   stack), or NULL when it is not compared: a value over 1,000 bytes, or
   with 8-bit bytes or "=?" (a precaution: both of Dovecot's readers
   parse the header as written, but the fts plugin hands the backend its
   value decoded, so the backend compares the message as written, see
   sift_hdrread_content_types()). */
const char *sift_hdrread_content_type(const unsigned char *value,
				      size_t size);

/* Read the whole message from input: *differ_r = whether a part of it has
   Content-Type headers of different media types (as written, compared
   with sift_hdrread_content_type()).  Returns 0, or -1 with error_r if
   input failed. */
int sift_hdrread_content_types(struct istream *input, bool *differ_r,
			       const char **error_r);

/* The search form of one address header's value (va's value and
   text_extra) and whether TEXT may trust the index's runs of it (FALSE:
   the form has a run the header as written lacks).  With fast, a value
   of the plain kind most mail has (see address_fast_form()) is written
   without Dovecot's parser, into the same bytes; TRUE if that was done.
   Data stack.  (For sift_hdrread_message() and the tests, which compare
   the two ways.) */
bool sift_hdrread_address_form(const unsigned char *value, size_t size,
			       bool fast, struct sift_hdrread_address *va,
			       bool *text_trusted_r);

/* Does data hold "=?" (the start of an RFC 2047 encoded-word)? */
bool sift_hdrread_has_encoded_word(const unsigned char *data, size_t size);

#endif

/* sift-terms: the term scheme, in one place.  Which terms indexing makes
   of each field (sift-doc-builder.c, fts-backend-sift.c) and which term
   families a search of each field reads (sift-search-args.c,
   sift-query.c) are both decided here, so a new field is taught to this
   file only.  Plain C (no Xapian, no mailbox); unit-tested on its own
   (tests/unit/test-sift-terms.c).

   All text is normalized and segmented by sift-text exactly as for
   search strings, so a term is a word in the form Dovecot's own search
   compares.  A short prefix says where the word came from; no prefix is
   the beginning of another one, which lets a dictionary scan walk exactly
   one field:

     B<word>             body of a text or message part
     M<word>             header names and values of MIME parts (TEXT only)
     N<NAME>             name of a top-level header (HEADER x "", TEXT)
     Hsubject:<word>     Subject (SUBJECT, HEADER Subject): the keyed
                         headers (sift_header_is_keyed())
     A<name>:<run>       address headers (From, To, Cc, ...; <name> in
                         lowercase), as Dovecot writes them:
                         "Name <local@domain>", split only at spaces and
                         address punctuation.  A run is a whole address,
                         domain or name word; every token of the header
                         lies inside one run, so runs serve FROM/TO/CC/BCC
                         exactly and also serve as the header's words.
                         Two runs with exactly one space between them
                         are a term too ("viresh kumar", wdf 0), for
                         display names (SIFT_PLAN_RUN_PAIR).
     K<key>:<word>       every other top-level header (X-Mailer, List-Id,
                         ...) whose value holds no opaque token (see
                         below), keyed by <key>, four characters of a hash
                         of the normalized name (sift_header_key_prefix()),
                         with runs and phrase filters like Subject: a
                         HEADER search of it is answered exactly, but for
                         the messages that also hold another header name
                         with the same key (found from the N terms) and
                         the pooled instances below.  The name itself
                         would be repeated in every term; the key costs
                         four bytes.
     P<word>             the opaque part of such a header instance
                         whose value holds an opaque token or run (long
                         with a digit: X-Mailer with a build id, ...;
                         its other words and runs stay K<key>:, and
                         the instance is flagged ZK<key>), a header whose
                         name can't be a key, and every instance of the
                         id and trace headers (sift_header_is_trace():
                         Date, Message-ID, Received, DKIM-Signature,
                         ...), pooled: their
                         words are mostly unique ids, which would be
                         repeated per key; a HEADER search reads them as
                         candidates that Dovecot then checks.  Whether an
                         instance is keyed or pooled is decided from its
                         value alone, so it never changes what a search
                         returns, only what Dovecot checks
     C<char>             each distinct non-ASCII character of a body
                         (BODY searches of one character; the ASCII ones
                         are a bitmap in value slot SIFT_VALUE_BODY_ASCII)
     ZR                  flag: a body part is searched by Dovecot in a form
                         that is not indexed (converted by fts_decoder),
                         or the body's text past fts_sift_max_doc_terms
                         was not indexed: matches found stay certain
     ZD                  flag: besides ZR, the body's text past
                         fts_sift_max_doc_terms is all that ZR is for,
                         and value slot SIFT_VALUE_BOUNDED_TEXT holds the
                         body's whole normalized text: a search rules the
                         message out where a string is not in it (an
                         index without ZD reads as ZR alone: exact)
     ZH                  flag: a body part is HTML source (sift-html.c),
                         whose runs are split at '<' and '>'
     ZL                  flag: a term was cut at Xapian's length limit
     ZK<key>             flag: an instance of a hashed header of this key
                         had its opaque part pooled (P, opaque file)
     ZUB, ZUH, ZUT       flags: Dovecot's search reads this message's
                         body, headers, or TEXT differently from what was
                         indexed (sift-hdrread.c; two Content-Type headers
                         in one part)

   Changing any of this changes what an index holds: raise
   SIFT_FORMAT_VERSION (sift-index.h) so old indexes are rebuilt. */
#ifndef SIFT_TERMS_H
#define SIFT_TERMS_H

#include <stdbool.h>
#include "sift-termfiles.h"

#define SIFT_PREFIX_BODY "B"
#define SIFT_PREFIX_MIME "M"
#define SIFT_PREFIX_HDR_NAME "N"
#define SIFT_PREFIX_HDR "H"
#define SIFT_PREFIX_ADDR_RUN "A"
#define SIFT_PREFIX_HDR_POOL "P"
#define SIFT_PREFIX_HDR_KEY "K"
/* the length of a K key (sift_header_key_prefix()) */
#define SIFT_HEADER_KEY_LEN 4
/* one term per non-ASCII character a message's body text holds (BODY
   searches of one character) */
#define SIFT_PREFIX_BODY_CHAR "C"
/* Value slot of the body's ASCII characters: SIFT_BODY_ASCII_BYTES bytes,
   character c is bit (1 << c % 8) of byte c / 8; no value: none. */
#define SIFT_VALUE_BODY_ASCII 0
#define SIFT_BODY_ASCII_BYTES 16
/* Value slot of the text Dovecot's fts plugin extracted from the
   message's attachments (SIFT_FIELD_KIND_DECODED), normalized, the parts
   separated by NUL; no value: none.  Searches find strings in it that
   the terms can't settle (phrases). */
#define SIFT_VALUE_DECODED 1
/* Value slot: the dates Dovecot's search compares (received, sent and
   the sender's offset), sift-dates.h; no value: not known (indexed
   before dates were kept), Dovecot reads them. */
#define SIFT_VALUE_DATES 2
/* Value slot of a document flagged ZD: the normalized text of every
   field that is body text to Dovecot's search (bodies, decoded
   attachments, MIME part headers), the fields separated by NUL, without
   accents with fts_sift_fold_accents (sift-doc-builder.c,
   doc_body_text()).  Kept only for a document past
   fts_sift_max_doc_terms, whose terms stop at the bound. */
#define SIFT_VALUE_BOUNDED_TEXT 3
/* Flag terms: the body holds text Dovecot searches in a form that is not
   indexed (a part converted by an fts_decoder or Tika), or a term had to
   be truncated. */
#define SIFT_FLAG_RAW_BODY "ZR"
#define SIFT_FLAG_TRUNCATED "ZL"
/* Flag term: ZR is there only for the body's text past the bound, which
   SIFT_VALUE_BOUNDED_TEXT holds. */
#define SIFT_FLAG_BOUNDED_TEXT "ZD"
/* Flag term: the body holds HTML source, whose runs are not kept across
   '<' or '>' (see doc_chunks() in sift-doc-builder.c). */
#define SIFT_FLAG_HTML "ZH"
/* Dovecot's own search reads part of the message differently from what
   was indexed: ZUB its body (BODY, TEXT), ZUH its headers (every header
   search, TEXT), ZUT only the text TEXT sees. */
#define SIFT_FLAG_UNTRUSTED_BODY "ZUB"
#define SIFT_FLAG_UNTRUSTED_HEADERS "ZUH"
#define SIFT_FLAG_UNTRUSTED_TEXT "ZUT"
/* Flag term ZK<key>: an instance of a hashed header with this key was
   pooled (its value holds an opaque token or run): a search of the
   header finds its pooled instances among these messages only. */
#define SIFT_FLAG_POOLED_KEY "ZK"

/* How a top-level header's words are indexed. */
enum sift_header_class {
	/* P<word>, with every other such header: a HEADER search on it
	   gets candidates only (a name that can't be a key, or an id or
	   trace header, sift_header_is_trace()) */
	SIFT_HEADER_POOLED,
	/* K<key>:<word> (and runs), or P<word> for an instance with opaque
	   tokens: answered exactly where keyed */
	SIFT_HEADER_HASHED,
	/* H<name>:<word> (and runs): answered exactly */
	SIFT_HEADER_KEYED,
	/* A<name>:<run>, as Dovecot writes the addresses */
	SIFT_HEADER_ADDRESS,
};

/* Does the index keep header name's words under their own prefix
   (H<name>:)?  Other headers are pooled (P) or, for address headers,
   indexed as runs (A<name>:). */
bool sift_header_is_keyed(const char *name);
/* Is it a header of ids, dates, trace lines or signatures (Date,
   Message-ID, References, Received, DKIM-Signature, ...)?  Those are
   pooled (SIFT_HEADER_POOLED) although their names could be keys. */
bool sift_header_is_trace(const char *name);
/* Is it one of the headers Dovecot's fts plugin hands over in address
   form (From, To, Cc, Bcc, Sender, Reply-To, ...)? */
bool sift_header_is_address(const char *name);
/* The class of a top-level header (NULL or a name that can't be a key,
   sift_header_name_is_keyable(): pooled). */
enum sift_header_class sift_header_class(const char *name);
/* The prefix of a keyed or address header's terms ("Hsubject:",
   "Afrom:"); NULL for a pooled one.  Allocated from the data stack. */
const char *sift_header_prefix(const char *name);
/* The prefix of a hashed header's terms, "K<key>:", from its normalized
   name (sift_text_normalize(): the N term's rest).  Allocated from the
   data stack. */
const char *sift_header_key_prefix(const char *norm_name, size_t len);
/* The prefix of a header's address runs ("Afrom:"), which FROM, TO, CC
   and BCC read whatever the header (Dovecot makes them for address
   headers only).  Allocated from the data stack. */
const char *sift_header_run_prefix(const char *name);

/* The term families a search reads (struct sift_termfiles_prefix: the terms
   starting with prefix whose rest follows it, or follows the first sep
   after it). */
enum sift_families {
	/* BODY: bodies */
	SIFT_FAMILIES_BODY,
	/* TEXT: every field (bodies, MIME headers, header names, keyed,
	   hashed and address headers, pooled headers) */
	SIFT_FAMILIES_TEXT,
	/* TEXT's fields other than the bodies: the headers, top-level and
	   MIME (a TEXT phrase in a body is narrowed by its gap filters,
	   SIFT_STEP_TEXT_PHRASE) */
	SIFT_FAMILIES_TEXT_HEADERS,
	/* the fields of TEXT that hold runs (see SIFT_PLAN_CHUNK) */
	SIFT_FAMILIES_TEXT_RUNS,
	/* the same without address runs (for a string with address
	   punctuation, which no address run holds) */
	SIFT_FAMILIES_TEXT_RUNS_NO_ADDR,
	/* every address header's runs */
	SIFT_FAMILIES_ADDR_RUNS,
	/* the pooled headers */
	SIFT_FAMILIES_POOL,
	/* every hashed header's K<key>:<word> (and runs) */
	SIFT_FAMILIES_HDR_KEYS,
	/* top-level header names */
	SIFT_FAMILIES_HDR_NAMES,
	/* a body's non-ASCII characters */
	SIFT_FAMILIES_BODY_CHARS,
	/* the flag terms (exact matches of SIFT_FLAG_*) */
	SIFT_FAMILIES_FLAGS,

	SIFT_FAMILIES_COUNT
};
void sift_families_get(enum sift_families families,
		       const struct sift_termfiles_prefix **prefixes_r,
		       unsigned int *count_r);

#endif

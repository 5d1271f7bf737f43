/* sift-verify: find messages whose headers Dovecot's own search reads
   differently from what the fts plugin hands to the index.  Their
   documents are flagged so that searches let Dovecot check them instead
   of trusting the index. */
#ifndef SIFT_VERIFY_H
#define SIFT_VERIFY_H

struct istream;

enum sift_verify_result {
	/* an encoded-word in a charset Dovecot can't convert: header
	   searches and TEXT can't trust the index */
	SIFT_VERIFY_HEADER_CHARSET = 0x01,
	/* an address header has text its parsed form drops: TEXT can't
	   trust the index (FROM/TO/... compare the parsed form, as the index
	   does) */
	SIFT_VERIFY_ADDRESS_TEXT = 0x02,
};

/* Read a message's top-level header from input and say where the index
   can't answer exactly (0: everywhere it can; also when the header
   can't be read). */
enum sift_verify_result sift_verify_header(struct istream *input);

#endif

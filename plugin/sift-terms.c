/* sift-terms.c: the term scheme (see sift-terms.h). */
#include "lib.h"
#include "message-address.h"
#include "sift-plan.h"
#include "sift-terms.h"

bool sift_header_is_keyed(const char *name)
{
	return strcasecmp(name, "Subject") == 0;
}

bool sift_header_is_address(const char *name)
{
	/* the same set Dovecot's fts plugin writes in address form */
	return message_header_is_address(name);
}

/* Headers whose values are ids, dates, trace lines or signatures by
   their definition: an instance without an opaque token is rare (on
   30,000 list messages: In-Reply-To and References in 4 of 49,000, the
   others never), so hashed they were pooled anyway and each message got
   a ZK<key> flag posting that said only "this header is here", which its
   N term says too: 204,000 postings, 1.5% of the index's.  Pooled from
   the start, a search of one reads the pool and the N term, as it did. */
static const char *const sift_trace_headers[] = {
	"Date", "Resent-Date", "Message-ID", "Resent-Message-ID",
	"In-Reply-To", "References", "Received", "X-Received",
	"DKIM-Signature", "X-Google-DKIM-Signature", "ARC-Seal",
	"ARC-Message-Signature", "X-Gm-Message-State",
	"X-Google-Smtp-Source",
};

bool sift_header_is_trace(const char *name)
{
	for (unsigned int i = 0; i < N_ELEMENTS(sift_trace_headers); i++) {
		if (strcasecmp(name, sift_trace_headers[i]) == 0)
			return TRUE;
	}
	return FALSE;
}

enum sift_header_class sift_header_class(const char *name)
{
	if (name == NULL || !sift_header_name_is_keyable(name, strlen(name)))
		return SIFT_HEADER_POOLED;
	if (sift_header_is_address(name))
		return SIFT_HEADER_ADDRESS;
	if (sift_header_is_keyed(name))
		return SIFT_HEADER_KEYED;
	if (sift_header_is_trace(name))
		return SIFT_HEADER_POOLED;
	return SIFT_HEADER_HASHED;
}

const char *sift_header_prefix(const char *name)
{
	switch (sift_header_class(name)) {
	case SIFT_HEADER_POOLED:
	case SIFT_HEADER_HASHED:
		return NULL;
	case SIFT_HEADER_KEYED:
		return t_strconcat(SIFT_PREFIX_HDR, t_str_lcase(name), ":",
				   NULL);
	case SIFT_HEADER_ADDRESS:
		return sift_header_run_prefix(name);
	}
	i_unreached();
}

/* 64 characters, none of them ':' (the family's separator) */
static const char sift_key_chars[] =
	"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_";

const char *sift_header_key_prefix(const char *norm_name, size_t len)
{
	/* FNV-1a: fixed, so that indexes and searches of any build agree
	   (a change of it is a change of SIFT_FORMAT_VERSION).  24 bits:
	   two names of one message rarely share a key, and a search
	   checks that case (sift-query.c) */
	uint32_t h = 2166136261U;
	char *p = t_malloc0(1 + SIFT_HEADER_KEY_LEN + 2);

	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)norm_name[i];
		h *= 16777619U;
	}
	p[0] = SIFT_PREFIX_HDR_KEY[0];
	for (unsigned int i = 0; i < SIFT_HEADER_KEY_LEN; i++) {
		p[1 + i] = sift_key_chars[h & 63];
		h >>= 6;
	}
	p[1 + SIFT_HEADER_KEY_LEN] = ':';
	return p;
}

const char *sift_header_run_prefix(const char *name)
{
	return t_strconcat(SIFT_PREFIX_ADDR_RUN, t_str_lcase(name), ":",
			   NULL);
}

static const struct sift_termfiles_prefix body_families[] = {
	{ SIFT_PREFIX_BODY, '\0' },
};
/* The order is what the slices below rely on: bodies first
   (SIFT_FAMILIES_TEXT_HEADERS leaves them out), the pool last
   (SIFT_FAMILIES_TEXT_RUNS leaves it out) and address runs just before
   it (SIFT_FAMILIES_TEXT_RUNS_NO_ADDR leaves them out too). */
static const struct sift_termfiles_prefix text_families[] = {
	{ SIFT_PREFIX_BODY, '\0' },
	{ SIFT_PREFIX_MIME, '\0' },
	{ SIFT_PREFIX_HDR_NAME, '\0' },
	/* every H<name>:<word>, K<key>:<word> and A<name>:<run> */
	{ SIFT_PREFIX_HDR, ':' },
	{ SIFT_PREFIX_HDR_KEY, ':' },
	{ SIFT_PREFIX_ADDR_RUN, ':' },
	{ SIFT_PREFIX_HDR_POOL, '\0' },
};
static const struct sift_termfiles_prefix addr_run_families[] = {
	{ SIFT_PREFIX_ADDR_RUN, ':' },
};
static const struct sift_termfiles_prefix pool_families[] = {
	{ SIFT_PREFIX_HDR_POOL, '\0' },
};
static const struct sift_termfiles_prefix hdr_key_families[] = {
	{ SIFT_PREFIX_HDR_KEY, ':' },
};
static const struct sift_termfiles_prefix hdr_name_families[] = {
	{ SIFT_PREFIX_HDR_NAME, '\0' },
};
static const struct sift_termfiles_prefix body_char_families[] = {
	{ SIFT_PREFIX_BODY_CHAR, '\0' },
};
/* flag terms are matched whole (SIFT_MATCH_EXACT) */
static const struct sift_termfiles_prefix flag_families[] = {
	{ "", '\0' },
};

void sift_families_get(enum sift_families families,
		       const struct sift_termfiles_prefix **prefixes_r,
		       unsigned int *count_r)
{
#define SIFT_FAMILIES(arr) \
	*prefixes_r = arr; *count_r = N_ELEMENTS(arr); return
	switch (families) {
	case SIFT_FAMILIES_BODY:
		SIFT_FAMILIES(body_families);
	case SIFT_FAMILIES_TEXT:
		SIFT_FAMILIES(text_families);
	case SIFT_FAMILIES_TEXT_HEADERS:
		*prefixes_r = text_families + 1;
		*count_r = N_ELEMENTS(text_families) - 1;
		return;
	case SIFT_FAMILIES_TEXT_RUNS:
		*prefixes_r = text_families;
		*count_r = N_ELEMENTS(text_families) - 1;
		return;
	case SIFT_FAMILIES_TEXT_RUNS_NO_ADDR:
		*prefixes_r = text_families;
		*count_r = N_ELEMENTS(text_families) - 2;
		return;
	case SIFT_FAMILIES_ADDR_RUNS:
		SIFT_FAMILIES(addr_run_families);
	case SIFT_FAMILIES_POOL:
		SIFT_FAMILIES(pool_families);
	case SIFT_FAMILIES_HDR_KEYS:
		SIFT_FAMILIES(hdr_key_families);
	case SIFT_FAMILIES_HDR_NAMES:
		SIFT_FAMILIES(hdr_name_families);
	case SIFT_FAMILIES_BODY_CHARS:
		SIFT_FAMILIES(body_char_families);
	case SIFT_FAMILIES_FLAGS:
		SIFT_FAMILIES(flag_families);
	case SIFT_FAMILIES_COUNT:
		break;
	}
#undef SIFT_FAMILIES
	i_unreached();
}

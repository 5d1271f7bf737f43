/* sift-termfiles.c: the "terms" and "opaque" files next to an index (see
   sift-termfiles.h for what they hold and why they are safe). */
/* memmem() and memrchr() */
#define _GNU_SOURCE
#include "lib.h"
#include "array.h"
#include "str.h"
#include "read-full.h"
#include "write-full.h"
#include "sift-file.h"
#include "sift-termfiles.h"

/* see sift_termfiles_writer_add_terms() */
#define SIFT_TERMS_APPEND_CHUNK (4 * 1024 * 1024)
#include "sift-record.h"
#include "sift-uids.h"
#include "sift-gramfilter.h"

#include <stdio.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

struct sift_termfiles {
	char *dir;
	struct sift_rfile terms, opaque;
	bool terms_complete;
	/* a file failed its check when it was first scanned */
	char *damage;
	/* a read of a file failed (not damage; the scan's result is
	   incomplete and must not be used) */
	char *read_error;
	/* to log once (sift_termfiles_grams_warning()) */
	char *grams_warning;
};

struct sift_termfiles_writer {
	char *dir;
	mode_t mode;
	struct sift_wfile *terms, *opaque;
	bool terms_complete;
};

/* terms are rewritten in records of about this size */
#define TERMS_RECORD_SIZE (256 * 1024)

int sift_termfiles_open(const char *dir, const struct sift_files_state *st,
		   struct sift_termfiles **dict_r, const char **error_r)
{
	struct sift_termfiles *dict = i_new(struct sift_termfiles, 1);
	int ret;

	*dict_r = NULL;
	/* The terms file is only read when it is complete.  Headers and
	   sizes are checked now, the records when a search first scans
	   them (a word search needs neither file). */
	ret = !st->terms_complete ? 1 :
		sift_rfile_open(t_strconcat(dir, "/"SIFT_TERMS_FILE, NULL),
				SIFT_TERMS_FILE, &st->terms, FALSE,
				&dict->terms, error_r);
	if (ret > 0) {
		ret = sift_rfile_open(t_strconcat(dir, "/"SIFT_OPAQUE_FILE,
						  NULL), SIFT_OPAQUE_FILE,
				      &st->opaque, FALSE, &dict->opaque,
				      error_r);
	}
	if (ret <= 0) {
		sift_termfiles_close(&dict);
		return ret;
	}
	dict->terms_complete = st->terms_complete;
	dict->dir = i_strdup(dir);
	*dict_r = dict;
	return 1;
}

void sift_termfiles_close(struct sift_termfiles **_dict)
{
	struct sift_termfiles *dict = *_dict;

	if (dict == NULL)
		return;
	*_dict = NULL;
	sift_rfile_close(&dict->terms);
	sift_rfile_close(&dict->opaque);
	i_free(dict->dir);
	i_free(dict->damage);
	i_free(dict->read_error);
	i_free(dict->grams_warning);
	i_free(dict);
}

const char *sift_termfiles_damage(const struct sift_termfiles *dict)
{
	return dict->damage;
}

const char *sift_termfiles_read_error(const struct sift_termfiles *dict)
{
	return dict->read_error;
}

static void sift_termfiles_read_failed(struct sift_termfiles *dict,
				       struct sift_rfile *file)
{
	const char *error = sift_rfile_error(file);

	if (dict->read_error == NULL)
		dict->read_error = i_strdup(error != NULL ? error :
			t_strdup_printf("%s: read past its committed length",
					file->path));
}

/* Before the first scan of file: verify it. */
static bool sift_termfiles_check(struct sift_termfiles *dict, struct sift_rfile *file)
{
	const char *error;

	if (dict->damage != NULL || dict->read_error != NULL)
		return FALSE;
	if (!sift_rfile_check(file, &error)) {
		if (sift_rfile_error(file) != NULL)
			sift_termfiles_read_failed(dict, file);
		else
			dict->damage = i_strdup(error);
		return FALSE;
	}
	return TRUE;
}

const char *sift_termfiles_grams_warning(struct sift_termfiles *dict)
{
	const char *warning;

	if (dict->grams_warning == NULL)
		return NULL;
	warning = t_strdup(dict->grams_warning);
	i_free(dict->grams_warning);
	return warning;
}

bool sift_termfiles_terms_complete(const struct sift_termfiles *dict)
{
	return dict->terms_complete;
}

/* Start of the line holding pos (lines begin at begin or after '\n'). */
static const char *line_start(const char *begin, const char *pos)
{
	const char *p = memrchr(begin, '\n', pos - begin);

	return p == NULL ? begin : p + 1;
}

/* The rest of the term [ls, le) in family p, or NULL if it is not one. */
static const char *
term_rest(const struct sift_termfiles_prefix *p, const char *ls, const char *le)
{
	size_t prefix_len = strlen(p->prefix);
	const char *rest;

	if ((size_t)(le - ls) < prefix_len ||
	    memcmp(ls, p->prefix, prefix_len) != 0)
		return NULL;
	rest = ls + prefix_len;
	if (p->sep != '\0') {
		rest = memchr(rest, p->sep, le - rest);
		if (rest == NULL)
			return NULL;
		rest++;
	}
	return rest;
}

/* One record's lines of terms. */
static void
match_terms_in(const char *begin, const char *end,
	       const struct sift_termfiles_prefix *prefixes,
	       unsigned int prefix_count, const char *needle,
	       size_t needle_len, ARRAY_TYPE(sift_termfiles_term) *terms_r)
{
	const char *pos = begin, *hit;

	while (pos < end &&
	       (hit = memmem(pos, end - pos, needle, needle_len)) != NULL) {
		const char *ls = line_start(begin, hit);
		const char *le = memchr(hit, '\n', end - hit);

		if (le == NULL)
			le = end;
		pos = le + 1;
		for (unsigned int i = 0; i < prefix_count; i++) {
			const char *rest = term_rest(&prefixes[i], ls, le);

			/* the hit may have been in the prefix: look again
			   in the rest only */
			if (rest == NULL || (hit < rest &&
			     memmem(rest, le - rest, needle,
				    needle_len) == NULL))
				continue;
			struct sift_termfiles_term *term =
				array_append_space(terms_r);
			/* (copied: the window moves on) */
			term->str = t_strndup(ls, le - ls);
			term->len = le - ls;
			break;
		}
	}
}

/* Does the terms file hold rec (sift_gramfilter_import())?  Only the
   record's 8-byte header is read, straight from the file: through the
   window each would read a window's worth (the whole file in all). */
static bool gram_record_ok(void *context, const struct sift_gram_record *rec)
{
	struct sift_termfiles *dict = context;
	unsigned char hdr[SIFT_RECORD_HEADER_SIZE];
	uint32_t len, sum;
	ssize_t ret;

	if (rec->offset > dict->terms.len ||
	    dict->terms.len - rec->offset < sizeof(hdr) ||
	    dict->terms.map.fd == -1)
		return FALSE;
	ret = pread(dict->terms.map.fd, hdr, sizeof(hdr), rec->offset);
	if (ret != (ssize_t)sizeof(hdr))
		return FALSE;
	/* the record header: length, checksum (sift-record.h) */
	memcpy(&len, hdr, sizeof(len));
	memcpy(&sum, hdr + sizeof(len), sizeof(sum));
	return len == rec->len && sum == rec->sum;
}

/* Load the filters the writer saved with the terms file into the empty
   filter, if they are of this file (sift-gramfilter.h); else leave it
   to the searches to build. */
static void sift_termfiles_load_grams(struct sift_termfiles *dict,
				      struct sift_gramfilter *filter)
{
	const char *path = t_strconcat(dict->dir, "/"SIFT_GRAMS_FILE, NULL);
	const char *error;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd == -1)
		return;
	/* (only its header and tables are read here, its filters' slices
	   as searches need them: the filter keeps the fd) */
	if (!sift_gramfilter_import(filter, dict->terms.gen, dict->terms.len,
				    &fd, gram_record_ok, dict, &error)) {
		/* a stale or damaged cache: the filters are built as
		   before */
		if (sift_rfile_error(&dict->terms) != NULL)
			sift_termfiles_read_failed(dict, &dict->terms);
	}
	if (fd != -1)
		i_close_fd(&fd);
}

/* With saved filters: verify the terms records after theirs (once per
   process and length). */
static bool sift_termfiles_check_tail(struct sift_termfiles *dict,
				      struct sift_gramfilter *filter)
{
	const char *error;

	if (sift_gramfilter_tail_checked(filter) >= dict->terms.len)
		return TRUE;
	if (!sift_rfile_check_after(&dict->terms,
				    sift_gramfilter_tail_checked(filter),
				    &error)) {
		if (sift_rfile_error(&dict->terms) != NULL)
			sift_termfiles_read_failed(dict, &dict->terms);
		else
			dict->damage = i_strdup(error);
		return FALSE;
	}
	sift_gramfilter_set_tail_checked(filter, dict->terms.len);
	return TRUE;
}

/* A record of the terms file didn't verify when first read (or the read
   failed). */
static void sift_termfiles_record_damaged(struct sift_termfiles *dict,
					  uint64_t record)
{
	if (sift_rfile_error(&dict->terms) != NULL)
		sift_termfiles_read_failed(dict, &dict->terms);
	else if (dict->damage == NULL) {
		dict->damage = i_strdup_printf(
			"%s is damaged: checksum mismatch at %llu",
			dict->terms.path, (unsigned long long)record);
	}
}

void sift_termfiles_match_terms(struct sift_termfiles *dict,
			   const struct sift_termfiles_prefix *prefixes,
			   unsigned int prefix_count,
			   const char *needle, size_t needle_len,
			   ARRAY_TYPE(sift_termfiles_term) *terms_r)
{
	struct sift_gramfilter *filter;
	struct sift_gram_query query;
	const char *families[8];
	const unsigned char *data;
	uint64_t pos = 0, offset, block_offset, budget;
	uint32_t len, block_len;
	unsigned int iter = 0, damaged;

	if (needle_len == 0 || dict->damage != NULL || dict->read_error != NULL)
		return;
	/* the blocks the trigram filters leave (sift-gramfilter.h), then
	   the records they don't cover yet */
	filter = sift_gramfilter_get(&dict->terms.st, dict->terms.gen);
	if (sift_gramfilter_covered(filter) == 0 &&
	    sift_gramfilter_want_import(filter)) {
		sift_termfiles_load_grams(dict, filter);
		if (dict->read_error != NULL)
			return;
	}
	/* verified before use: the whole file, or with saved filters the
	   records after theirs now, and their blocks (or a record of
	   theirs a scan below reads) as they are read */
	if (!sift_gramfilter_loaded(filter) ?
	    !sift_termfiles_check(dict, &dict->terms) :
	    !sift_termfiles_check_tail(dict, filter))
		return;
	for (unsigned int i = 0; i < prefix_count && i < N_ELEMENTS(families);
	     i++)
		families[i] = prefixes[i].prefix;
	sift_gram_query_init(&query, families, prefix_count, needle,
			     needle_len);
	while (sift_gramfilter_next(filter, &query, dict->terms.len, &iter,
				    &block_offset, &block_len)) {
		const char *block;

		block = (const char *)
			sift_rfile_get_span(&dict->terms, block_offset,
					    block_len);
		if (block == NULL) {
			sift_termfiles_read_failed(dict, &dict->terms);
			return;
		}
		/* a loaded block: its bytes checked against the saved
		   filters' checksum of them before they are trusted (the
		   filters' own checksum and the records' headers tie that
		   to this terms file, sift_gramfilter_import()) */
		if (sift_gramfilter_block_unverified(filter, iter - 1) &&
		    !sift_gramfilter_verify_block(
			filter, iter - 1, (const unsigned char *)block)) {
			sift_termfiles_record_damaged(dict, block_offset);
			return;
		}
		match_terms_in(block, block + block_len, prefixes,
			       prefix_count, needle, needle_len, terms_r);
	}
	/* (once per filter, i.e. per process and terms file) */
	damaged = sift_gramfilter_take_damage_report(filter);
	if (damaged > 0) {
		i_free(dict->grams_warning);
		dict->grams_warning = i_strdup_printf(
			"%s/"SIFT_GRAMS_FILE": %u group(s) of its filters "
			"failed their checksum or could not be read; searches "
			"read the parts of the terms file they cover instead "
			"(the file is a cache: it is written again when the "
			"index is compacted, e.g. by doveadm fts optimize)",
			dict->dir, damaged);
	}
	pos = sift_gramfilter_resume(filter, dict->terms.len);
	budget = I_MAX(SIFT_GRAM_BUILD_MIN, dict->terms.len / 4);
	while (sift_rfile_next(&dict->terms, &pos, &offset, &data, &len)) {
		uint64_t record;

		/* (a reader of an older snapshot than the one the saved
		   filters were loaded for reads some of their records
		   here) */
		if (sift_gramfilter_unverified(filter, offset, &record)) {
			if (!sift_rfile_verify(&dict->terms, record)) {
				sift_termfiles_record_damaged(dict, record);
				return;
			}
			sift_gramfilter_set_verified(filter, record);
			/* (the window moved: read the record again) */
			pos = offset;
			if (!sift_rfile_next(&dict->terms, &pos, &offset,
					     &data, &len))
				break;
		}
		match_terms_in((const char *)data, (const char *)data + len,
			       prefixes, prefix_count, needle, needle_len,
			       terms_r);
		/* a quarter of the file per search at most: building costs
		   about four scans, so that no search costs much more than
		   the scan it replaces; a session's first searches build
		   the filters */
		if (budget > 0 &&
		    sift_gramfilter_add_record(filter, offset, pos, data, len))
			budget -= I_MIN(budget, (uint64_t)len);
	}
	if (sift_rfile_error(&dict->terms) != NULL)
		sift_termfiles_read_failed(dict, &dict->terms);
}

/* ---- opaque records ----------------------------------------------------
   One record per message: its uid (native-endian uint32), a mode byte
   and its tokens separated by single spaces (the text).  Mode 0: the
   text as it is.  Mode 1 + pad (pad 0 to 2): the text packed, each 3
   characters of OPAQUE_ALPHABET as one 16-bit unit (little-endian)
   c0 * 1600 + c1 * 40 + c2, the last unit padded with pad spaces.
   Opaque tokens are case-folded signature and id fragments (base64 and
   hex pieces, host names, addresses), so nearly every message's text is
   in the alphabet, and 3 bytes become 2; a text with any other byte is
   kept as it is.  A search finds a needle in the packed text without
   unpacking it: see opaque_needle_init(). */

#define OPAQUE_ALPHABET " ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.@_"
#define OPAQUE_CODES 40
#define OPAQUE_UNITS (OPAQUE_CODES * OPAQUE_CODES * OPAQUE_CODES)
#define OPAQUE_HDR_SIZE (sizeof(uint32_t) + 1)
#define OPAQUE_MODE_RAW 0
#define OPAQUE_MODE_PACKED 1

/* code of each byte, or -1 outside the alphabet */
static int8_t opaque_code[256];
static bool opaque_tables_ready;

static void opaque_tables_init(void)
{
	unsigned int c;

	if (opaque_tables_ready)
		return;
	memset(opaque_code, -1, sizeof(opaque_code));
	for (c = 0; c < OPAQUE_CODES; c++)
		opaque_code[(unsigned char)OPAQUE_ALPHABET[c]] = (int8_t)c;
	opaque_tables_ready = TRUE;
}

/* Character k (0 to 2) of unit v; '\0' for values no writer makes, so
   that they match no needle. */
static inline char opaque_char(unsigned int v, unsigned int k)
{
	if (v >= OPAQUE_UNITS)
		return '\0';
	return OPAQUE_ALPHABET[k == 0 ? v / 1600 : k == 1 ? v / 40 % 40 :
			       v % 40];
}

static inline unsigned int opaque_unit(const unsigned char *p)
{
	return p[0] | ((unsigned int)p[1] << 8);
}

/* The record payload of uid's text (see above) in dest. */
static void opaque_record_build(string_t *dest, uint32_t uid,
				const char *text, size_t len)
{
	size_t i;
	unsigned char mode = OPAQUE_MODE_PACKED;

	opaque_tables_init();
	for (i = 0; i < len; i++) {
		if (opaque_code[(unsigned char)text[i]] < 0) {
			mode = OPAQUE_MODE_RAW;
			break;
		}
	}
	if (mode == OPAQUE_MODE_PACKED)
		mode += (3 - len % 3) % 3;
	str_append_data(dest, &uid, sizeof(uid));
	str_append_c(dest, mode);
	if (mode == OPAQUE_MODE_RAW) {
		str_append_data(dest, text, len);
		return;
	}
	for (i = 0; i < len; i += 3) {
		unsigned int v = opaque_code[(unsigned char)text[i]] * 1600;
		unsigned char u[2];

		/* (padded with code 0, a space) */
		if (i + 1 < len)
			v += opaque_code[(unsigned char)text[i + 1]] * 40;
		if (i + 2 < len)
			v += opaque_code[(unsigned char)text[i + 2]];
		u[0] = v & 0xff;
		u[1] = v >> 8;
		str_append_data(dest, u, sizeof(u));
	}
}

/* A needle prepared for packed texts: the units an occurrence of it
   must have.  An occurrence starting at text offset s has a unit
   boundary at needle offset a = (3 - s % 3) % 3.  If needle[a..a+3) is
   inside the needle, the unit starting there holds exactly those 3
   characters; else (a needle of at most 4 characters) the occurrence
   starts in a unit whose characters from s % 3 = (3 - a) % 3 on are the
   needle's first ones.  Every unit of either kind, for a = 0, 1, 2, is
   marked in a table: a scan tests each unit of a text against it, and
   at a marked unit i compares the needle with the text at the offset
   each a gives (3i - a, or 3i + (3 - a) % 3).  So every occurrence is
   found (its unit is marked, and its offset is one of those compared),
   and a found one is real (the text there is the needle). */
struct opaque_needle {
	const char *str;
	size_t len;
	/* every character in the alphabet: else no packed text holds it */
	bool packable;
	/* for a = 0, 1, 2: does needle[a..a+3) fit in the needle */
	bool whole[3];
	/* 1 for a marked unit (a byte each: testing a bit costs the scan
	   a third more CPU) */
	unsigned char *units;
};

static void opaque_needle_mark(struct opaque_needle *n, unsigned int v)
{
	n->units[v] = 1;
}

static void opaque_needle_init(struct opaque_needle *n, const char *needle,
			       size_t len)
{
	unsigned int a, q, v, lo[3], hi[3], c0, c1, c2;
	size_t i, k;

	opaque_tables_init();
	i_zero(n);
	n->str = needle;
	n->len = len;
	n->packable = TRUE;
	for (i = 0; i < len; i++) {
		if (opaque_code[(unsigned char)needle[i]] < 0)
			n->packable = FALSE;
	}
	if (!n->packable)
		return;
	n->units = i_malloc(65536);
	for (a = 0; a < 3; a++) {
		if (a + 3 <= len) {
			n->whole[a] = TRUE;
			v = opaque_code[(unsigned char)needle[a]] * 1600 +
				opaque_code[(unsigned char)needle[a + 1]] * 40 +
				opaque_code[(unsigned char)needle[a + 2]];
			opaque_needle_mark(n, v);
			continue;
		}
		/* every unit with needle[0..k) at q..q+k, any characters
		   elsewhere */
		q = (3 - a) % 3;
		k = I_MIN(3 - q, len);
		for (i = 0; i < 3; i++) {
			lo[i] = 0;
			hi[i] = OPAQUE_CODES - 1;
			if (i >= q && i < q + k) {
				lo[i] = hi[i] =
					opaque_code[(unsigned char)needle[i - q]];
			}
		}
		for (c0 = lo[0]; c0 <= hi[0]; c0++) {
			for (c1 = lo[1]; c1 <= hi[1]; c1++) {
				for (c2 = lo[2]; c2 <= hi[2]; c2++)
					opaque_needle_mark(n, c0 * 1600 +
							   c1 * 40 + c2);
			}
		}
	}
}

/* Is the unit at p marked (1) or not (0)? */
static inline unsigned int
opaque_unit_marked(const struct opaque_needle *n, const unsigned char *p)
{
	return n->units[opaque_unit(p)];
}

/* Is the needle at character offset s of a packed text of chars
   characters? */
static bool opaque_packed_at(const struct opaque_needle *n,
			     const unsigned char *data, size_t chars, size_t s)
{
	size_t j;

	if (s + n->len > chars)
		return FALSE;
	for (j = 0; j < n->len; j++) {
		size_t c = s + j;

		if (opaque_char(opaque_unit(data + 2 * (c / 3)), c % 3) !=
		    n->str[j])
			return FALSE;
	}
	return TRUE;
}

/* Does the text of an opaque record (its payload after the uid) hold
   the needle? */
static bool opaque_text_match(const struct opaque_needle *n,
			      const unsigned char *data, size_t len)
{
	unsigned int mode, pad, a;
	size_t units, chars, i;

	if (len == 0)
		return FALSE;
	mode = data[0];
	data++;
	len--;
	if (mode == OPAQUE_MODE_RAW)
		return memmem(data, len, n->str, n->len) != NULL;
	if (!n->packable || mode > OPAQUE_MODE_PACKED + 2 || len % 2 != 0)
		return FALSE;
	pad = mode - OPAQUE_MODE_PACKED;
	units = len / 2;
	if (units * 3 < pad)
		return FALSE;
	chars = units * 3 - pad;
	for (i = 0; i < units; i++) {
		if (i + 4 <= units) {
			/* four units at a time: a marked unit is rare */
			if (likely((opaque_unit_marked(n, data + 2 * i) |
				    opaque_unit_marked(n, data + 2 * i + 2) |
				    opaque_unit_marked(n, data + 2 * i + 4) |
				    opaque_unit_marked(n, data + 2 * i + 6)) ==
				   0)) {
				i += 3;
				continue;
			}
		}
		if (opaque_unit_marked(n, data + 2 * i) == 0)
			continue;
		for (a = 0; a < 3; a++) {
			if (n->whole[a] ? 3 * i >= a &&
			    opaque_packed_at(n, data, chars, 3 * i - a) :
			    opaque_packed_at(n, data, chars,
					     3 * i + (3 - a) % 3))
				return TRUE;
		}
	}
	return FALSE;
}

void sift_termfiles_match_opaque(struct sift_termfiles *dict, const char *needle,
			    size_t needle_len, ARRAY_TYPE(seq_range) *uids)
{
	struct opaque_needle n;
	const unsigned char *data;
	uint64_t pos = 0, offset;
	uint32_t len, uid;

	if (needle_len == 0 || !sift_termfiles_check(dict, &dict->opaque))
		return;
	opaque_needle_init(&n, needle, needle_len);
	while (sift_rfile_next(&dict->opaque, &pos, &offset, &data, &len)) {
		if (len < OPAQUE_HDR_SIZE)
			continue;
		memcpy(&uid, data, sizeof(uid));
		if (uid > 0 &&
		    opaque_text_match(&n, data + sizeof(uid),
				      len - sizeof(uid)))
			seq_range_array_add(uids, uid);
	}
	i_free(n.units);
	if (sift_rfile_error(&dict->opaque) != NULL)
		sift_termfiles_read_failed(dict, &dict->opaque);
}

/* ---- writer ------------------------------------------------------------- */

int sift_termfiles_writer_open(const char *dir, const struct sift_files_state *st,
			  mode_t mode, struct sift_termfiles_writer **writer_r,
			  const char **error_r)
{
	struct sift_termfiles_writer *writer;
	struct sift_file_state none = { 0, 0 };
	int ret;

	*writer_r = NULL;
	writer = i_new(struct sift_termfiles_writer, 1);
	writer->dir = i_strdup(dir);
	writer->mode = mode;

	ret = sift_wfile_open(t_strconcat(dir, "/"SIFT_OPAQUE_FILE, NULL),
			      SIFT_OPAQUE_FILE, mode, &st->opaque,
			      &writer->opaque, error_r);
	if (ret > 0) {
		/* An incomplete terms file is never read: start it afresh
		   (complete only if the database is empty). */
		ret = sift_wfile_open(t_strconcat(dir, "/"SIFT_TERMS_FILE,
						  NULL), SIFT_TERMS_FILE,
				      mode, st->terms_complete ? &st->terms :
				      &none, &writer->terms, error_r);
	}
	if (ret <= 0) {
		sift_termfiles_writer_close(&writer);
		return ret;
	}
	writer->terms_complete = st->terms_complete ||
		(st->terms.gen == 0 && st->opaque.gen == 0);
	*writer_r = writer;
	return 1;
}

void sift_termfiles_writer_close(struct sift_termfiles_writer **_writer)
{
	struct sift_termfiles_writer *writer = *_writer;

	if (writer == NULL)
		return;
	*_writer = NULL;
	sift_wfile_close(&writer->terms);
	sift_wfile_close(&writer->opaque);
	i_free(writer->dir);
	i_free(writer);
}

bool sift_termfiles_writer_terms_complete(const struct sift_termfiles_writer *writer)
{
	return writer->terms_complete;
}

void sift_termfiles_writer_set_incomplete(struct sift_termfiles_writer *writer)
{
	/* readers learn it from the next commit's SIFT_META_FILES, the
	   same commit that adds documents the file lacks */
	writer->terms_complete = FALSE;
}

int sift_termfiles_writer_add_terms(struct sift_termfiles_writer *writer,
			       const char *lines, size_t len,
			       const char **error_r)
{
	/* one record each at most SIFT_TERMS_APPEND_CHUNK, cut after a
	   line: a message with millions of new words would otherwise
	   exceed SIFT_RECORD_MAX_SIZE */
	while (len > 0) {
		size_t chunk = len;

		if (chunk > SIFT_TERMS_APPEND_CHUNK) {
			const char *nl = memrchr(lines, '\n',
						 SIFT_TERMS_APPEND_CHUNK);

			chunk = nl == NULL ? SIFT_TERMS_APPEND_CHUNK :
				(size_t)(nl - lines) + 1;
		}
		if (sift_wfile_append(writer->terms, lines, chunk, NULL, 0,
				      error_r) < 0)
			return -1;
		lines += chunk;
		len -= chunk;
	}
	return 0;
}

int sift_termfiles_writer_add_opaque(struct sift_termfiles_writer *writer, uint32_t uid,
				const char *tokens, size_t len,
				const char **error_r)
{
	string_t *text, *record;

	if (len == 0)
		return 0;
	/* the tokens separated by spaces (see "opaque records") */
	text = t_str_new(len);
	for (size_t i = 0; i < len; i++)
		str_append_c(text, tokens[i] == '\n' ? ' ' : tokens[i]);
	str_truncate(text, str_len(text) - (tokens[len-1] == '\n' ? 1 : 0));
	record = t_str_new(str_len(text) + OPAQUE_HDR_SIZE);
	opaque_record_build(record, uid, str_c(text), str_len(text));
	return sift_wfile_append(writer->opaque, str_data(record),
				 str_len(record), NULL, 0, error_r);
}

int sift_termfiles_writer_sync(struct sift_termfiles_writer *writer, bool do_fsync,
			  const char **error_r)
{
	if (sift_wfile_sync(writer->terms, do_fsync, error_r) < 0 ||
	    sift_wfile_sync(writer->opaque, do_fsync, error_r) < 0)
		return -1;
	return 0;
}

void sift_termfiles_writer_state(const struct sift_termfiles_writer *writer,
			    struct sift_files_state *st)
{
	sift_wfile_state(writer->terms, &st->terms);
	sift_wfile_state(writer->opaque, &st->opaque);
	st->terms_complete = writer->terms_complete;
}

struct terms_write_ctx {
	struct sift_wfile *file;
	buffer_t *buf;
	const char *error;
	/* the filters of the records written, streamed to the grams
	   file's temporary path as they are made (sift-gramfilter.h);
	   NULL if it couldn't be created */
	struct sift_gramfile_writer *grams;
	const char *grams_tmp;
};

static int terms_write_flush(struct terms_write_ctx *ctx)
{
	struct sift_file_state before, after;

	if (ctx->buf->used == 0)
		return 0;
	sift_wfile_state(ctx->file, &before);
	if (sift_wfile_append(ctx->file, ctx->buf->data, ctx->buf->used,
			      NULL, 0, &ctx->error) < 0)
		return -1;
	sift_wfile_state(ctx->file, &after);
	if (ctx->grams != NULL) {
		(void)sift_gramfile_writer_add_record(ctx->grams, before.len,
			after.len, ctx->buf->data, ctx->buf->used,
			sift_record_checksum(after.gen, before.len,
					     ctx->buf->data, ctx->buf->used));
	}
	buffer_set_used_size(ctx->buf, 0);
	return 0;
}

/* Start the grams file of the terms file being written to dest_dir
   (an optional cache, sift-gramfilter.h: a failure only leaves the
   filters to the searches to build). */
static void terms_write_grams_begin(struct terms_write_ctx *ctx,
				    const char *dest_dir, mode_t mode)
{
	const char *error;

	ctx->grams_tmp = t_strconcat(dest_dir, "/"SIFT_GRAMS_FILE".tmp",
				     NULL);
	if (sift_gramfile_writer_open(ctx->grams_tmp, mode, &ctx->grams,
				      &error) < 0) {
		i_warning("fts-sift: Couldn't save the trigram filters "
			  "(searches build them instead): %s", error);
		ctx->grams = NULL;
	}
}

/* Finish the grams file and put it in place if ok (a file left over from
   an earlier terms file is of another generation, and ignored). */
static void terms_write_grams_end(struct terms_write_ctx *ctx,
				  const char *dest_dir, bool ok)
{
	const char *path = t_strconcat(dest_dir, "/"SIFT_GRAMS_FILE, NULL);
	struct sift_file_state st;
	const char *error;
	bool empty;

	if (ctx->grams == NULL)
		return;
	if (!ok) {
		sift_gramfile_writer_abort(&ctx->grams);
		i_unlink_if_exists(ctx->grams_tmp);
		return;
	}
	sift_wfile_state(ctx->file, &st);
	if (sift_gramfile_writer_finish(&ctx->grams, st.gen, &empty,
					&error) < 0) {
		i_warning("fts-sift: Couldn't save %s (searches build the "
			  "filters instead): %s", path, error);
		i_unlink_if_exists(ctx->grams_tmp);
	} else if (empty) {
		i_unlink_if_exists(ctx->grams_tmp);
		i_unlink_if_exists(path);
	} else if (rename(ctx->grams_tmp, path) < 0) {
		i_warning("fts-sift: Couldn't save %s (searches build the "
			  "filters instead): rename(%s) failed: %m", path,
			  ctx->grams_tmp);
		i_unlink_if_exists(ctx->grams_tmp);
	}
}

static int terms_write_cb(void *context, const char *term, size_t len)
{
	struct terms_write_ctx *ctx = context;

	buffer_append(ctx->buf, term, len);
	buffer_append_c(ctx->buf, '\n');
	if (ctx->buf->used >= TERMS_RECORD_SIZE)
		return terms_write_flush(ctx);
	return 0;
}

int sift_termfiles_write_terms(struct sift_termfiles_writer *writer,
			  struct sift_xdb *db, const char *dest_dir,
			  struct sift_file_state *st_r, const char **error_r)
{
	const char *path = t_strconcat(dest_dir, "/"SIFT_TERMS_FILE,
				       NULL);
	struct terms_write_ctx ctx;
	const char *error;
	bool ok = TRUE;
	int cb_ret;

	i_zero(&ctx);
	if (sift_wfile_replace_begin(path, SIFT_TERMS_FILE, writer->mode,
				     &ctx.file, error_r) < 0)
		return -1;
	ctx.buf = buffer_create_dynamic(default_pool, TERMS_RECORD_SIZE + 1024);
	terms_write_grams_begin(&ctx, dest_dir, writer->mode);
	if (sift_xdb_each_term(db, terms_write_cb, &ctx, &cb_ret,
			       &error) != SIFT_X_OK) {
		*error_r = t_strdup_printf("Listing terms failed: %s",
					   error);
		ok = FALSE;
	} else if (cb_ret != 0 || terms_write_flush(&ctx) < 0) {
		*error_r = ctx.error;
		ok = FALSE;
	}
	buffer_free(&ctx.buf);
	if (sift_wfile_replace_end(ctx.file, ok, error_r) < 0) {
		terms_write_grams_end(&ctx, dest_dir, FALSE);
		sift_wfile_close(&ctx.file);
		return -1;
	}
	sift_wfile_state(ctx.file, st_r);
	/* after the terms file is in place: a reader seeing the new
	   filters finds the file they describe (or an older one, of
	   another generation, and ignores them) */
	terms_write_grams_end(&ctx, dest_dir, ok);
	if (strcmp(dest_dir, writer->dir) == 0) {
		/* continue appending to the new file */
		sift_wfile_close(&writer->terms);
		writer->terms = ctx.file;
		writer->terms_complete = TRUE;
	} else {
		sift_wfile_close(&ctx.file);
	}
	return 0;
}

int sift_termfiles_write_opaque(struct sift_termfiles_writer *writer,
			   const struct sift_uids *keep, const char *dest_dir,
			   struct sift_file_state *st_r, const char **error_r)
{
	const char *path = t_strconcat(dest_dir, "/"SIFT_OPAQUE_FILE,
				       NULL);
	struct sift_file_state src_st;
	struct sift_rfile src;
	struct sift_wfile *dest;
	const unsigned char *data;
	uint64_t rpos = 0, offset;
	uint32_t uid, len;
	bool ok = TRUE;
	int ret;

	sift_wfile_state(writer->opaque, &src_st);
	ret = sift_rfile_open(sift_wfile_path(writer->opaque),
			      SIFT_OPAQUE_FILE, &src_st, TRUE, &src,
			      error_r);
	if (ret <= 0)
		return -1;
	if (sift_wfile_replace_begin(path, SIFT_OPAQUE_FILE, writer->mode,
				     &dest, error_r) < 0) {
		sift_rfile_close(&src);
		return -1;
	}
	while (ok && sift_rfile_next(&src, &rpos, &offset, &data, &len)) {
		if (!sift_rfile_verify(&src, offset)) {
			*error_r = t_strdup_printf("%s is damaged: checksum "
				"mismatch at %llu", sift_wfile_path(writer->opaque),
				(unsigned long long)offset);
			ok = FALSE;
			break;
		}
		/* one message's record (see "opaque records") */
		if (len < OPAQUE_HDR_SIZE)
			continue;
		memcpy(&uid, data, sizeof(uid));
		if (sift_uids_contain(keep, uid) &&
		    sift_wfile_append(dest, data, len, NULL, 0, error_r) < 0)
			ok = FALSE;
	}
	if (ok && sift_rfile_error(&src) != NULL) {
		*error_r = t_strdup(sift_rfile_error(&src));
		ok = FALSE;
	}
	sift_rfile_close(&src);
	ret = sift_wfile_replace_end(dest, ok, error_r);
	if (ret == 0)
		sift_wfile_state(dest, st_r);
	sift_wfile_close(&dest);
	return ok && ret == 0 ? 0 : -1;
}

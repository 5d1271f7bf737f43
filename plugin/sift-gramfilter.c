/* sift-gramfilter.c: n-gram Bloom filters over blocks of the terms file
   (see sift-gramfilter.h). */
#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "sift-record.h"
#include "sift-gramfilter.h"

struct gram_block {
	/* file offset and length of the block's lines */
	uint64_t offset;
	uint32_t len;
	/* where its filter starts in filter->bits */
	uint32_t bits_pos;
	/* end of the record holding the block */
	uint64_t record_next;
	/* the filter's size in bits (a multiple of 64); 0: no filter (the
	   block is always read) */
	uint32_t nbits;
};
ARRAY_DEFINE_TYPE(gram_block, struct gram_block);

/* a record covered by loaded filters */
struct gram_saved_record {
	uint64_t offset, next;
	bool verified;
};

struct sift_gramfilter {
	dev_t dev;
	ino_t ino;
	uint64_t gen;
	/* the offset after the last covered record; 0: none */
	uint64_t covered;
	unsigned int last_used;
	/* SIFT_GRAM_MAX_BYTES reached: no more records are covered */
	bool full;
	/* loading the saved filters was tried */
	bool import_tried;
	/* the records the loaded filters cover, in file order (empty if
	   none were loaded), and up to where the records after them are
	   verified */
	ARRAY(struct gram_saved_record) saved;
	uint64_t tail_checked;
	ARRAY_TYPE(gram_block) blocks;
	buffer_t *bits;
};

static struct sift_gramfilter *gram_cache[SIFT_GRAM_CACHE_FILES];
static unsigned int gram_clock;

/* Filter bits per byte of a block, with three probes.  A 16 KB block of
   list mail's sorted terms has about 3,300 distinct trigrams: about 5
   bits each, about 10% false positives per trigram, and a string of n
   bytes has n-2 trigrams, all of which a block must have (a 6-byte
   string's four: 1 block in 10,000).  The filters take an eighth of the
   terms file's size: they count in the process's address space beside
   the side files' mappings, which Dovecot's vsz_limit bounds (see the
   README, "Search cost"). */
#define GRAM_BITS_PER_BYTE 1
/* blocks beyond this size (a line longer than any term) get no filter */
#define GRAM_MAX_FILTERED_BLOCK (48 * 1024)

/* A trigram tagged with its line's family byte, hashed (one multiply:
   building the filters costs one of these per byte of the terms file). */
static inline uint64_t gram_key(unsigned char family, uint32_t trigram)
{
	uint64_t h = ((uint64_t)family << 24 | trigram) *
		0x9e3779b97f4a7c15ULL;

	return h ^ (h >> 29);
}

/* three bit positions below nbits from the key's hash (multiply-shift:
   any nbits, no division) */
static inline void gram_positions(uint64_t h, uint32_t nbits,
				  uint32_t pos_r[3])
{
	pos_r[0] = (uint32_t)(((h & 0x1fffff) * nbits) >> 21);
	pos_r[1] = (uint32_t)((((h >> 21) & 0x1fffff) * nbits) >> 21);
	pos_r[2] = (uint32_t)((((h >> 42) & 0x1fffff) * nbits) >> 21);
}

static void gramfilter_free(struct sift_gramfilter **_filter)
{
	struct sift_gramfilter *filter = *_filter;

	if (filter == NULL)
		return;
	*_filter = NULL;
	array_free(&filter->blocks);
	if (array_is_created(&filter->saved))
		array_free(&filter->saved);
	buffer_free(&filter->bits);
	i_free(filter);
}

static struct sift_gramfilter *gramfilter_alloc(size_t bits_size)
{
	struct sift_gramfilter *filter = i_new(struct sift_gramfilter, 1);

	i_array_init(&filter->blocks, 64);
	filter->bits = buffer_create_dynamic(default_pool, bits_size);
	return filter;
}

struct sift_gramfilter *
sift_gramfilter_get(const struct stat *st, uint64_t gen)
{
	struct sift_gramfilter *filter;
	unsigned int i, victim = 0;

	gram_clock++;
	for (i = 0; i < SIFT_GRAM_CACHE_FILES; i++) {
		filter = gram_cache[i];
		if (filter != NULL && filter->gen == gen &&
		    filter->dev == st->st_dev && filter->ino == st->st_ino) {
			filter->last_used = gram_clock;
			return filter;
		}
	}
	for (i = 0; i < SIFT_GRAM_CACHE_FILES; i++) {
		if (gram_cache[i] == NULL) {
			victim = i;
			break;
		}
		if (gram_cache[i]->last_used <
		    gram_cache[victim]->last_used)
			victim = i;
	}
	gramfilter_free(&gram_cache[victim]);
	/* sized for the file as it is: a doubling buffer would reserve
	   up to twice the filters' size */
	filter = gramfilter_alloc(
		(size_t)st->st_size * GRAM_BITS_PER_BYTE / 8 + 4096);
	filter->dev = st->st_dev;
	filter->ino = st->st_ino;
	filter->gen = gen;
	filter->last_used = gram_clock;
	gram_cache[victim] = filter;
	return filter;
}

struct sift_gramfilter *sift_gramfilter_new(void)
{
	return gramfilter_alloc(64 * 1024);
}

void sift_gramfilter_free(struct sift_gramfilter **filter)
{
	gramfilter_free(filter);
}

bool sift_gramfilter_want_import(struct sift_gramfilter *filter)
{
	if (filter->import_tried)
		return FALSE;
	filter->import_tried = TRUE;
	return TRUE;
}

void sift_gramfilter_forget_all(void)
{
	for (unsigned int i = 0; i < SIFT_GRAM_CACHE_FILES; i++)
		gramfilter_free(&gram_cache[i]);
}

uint64_t sift_gramfilter_covered(const struct sift_gramfilter *filter)
{
	return filter->covered;
}

size_t sift_gramfilter_memory(const struct sift_gramfilter *filter)
{
	return filter->bits->used +
		array_count(&filter->blocks) * sizeof(struct gram_block);
}

static void gram_add_block(struct sift_gramfilter *filter, uint64_t offset,
			   const unsigned char *start, const unsigned char *end,
			   uint64_t record_next)
{
	struct gram_block *block;
	const unsigned char *line, *le, *p;
	unsigned char *bits;
	uint32_t nbits, pos[3];

	block = array_append_space(&filter->blocks);
	block->offset = offset;
	block->len = end - start;
	block->record_next = record_next;
	block->bits_pos = filter->bits->used;
	if (block->len > GRAM_MAX_FILTERED_BLOCK)
		return;

	/* sized by the block's bytes, not by its distinct trigrams:
	   counting those (a hash table per block) cost ten times the
	   filter */
	nbits = (block->len * GRAM_BITS_PER_BYTE + 63) / 64 * 64;
	if (nbits == 0)
		nbits = 64;
	block->nbits = nbits;
	bits = buffer_append_space_unsafe(filter->bits, nbits / 8);
	memset(bits, 0, nbits / 8);
	for (line = start; line < end; line = le + 1) {
		uint32_t tri;

		le = memchr(line, '\n', end - line);
		if (le == NULL)
			le = end;
		if (le - line < 3)
			continue;
		tri = (uint32_t)line[0] << 8 | line[1];
		for (p = line + 2; p < le; p++) {
			tri = (tri << 8 | *p) & 0xffffff;
			gram_positions(gram_key(line[0], tri), nbits, pos);
			bits[pos[0] / 8] |= 1 << (pos[0] % 8);
			bits[pos[1] / 8] |= 1 << (pos[1] % 8);
			bits[pos[2] / 8] |= 1 << (pos[2] % 8);
		}
	}
}

bool sift_gramfilter_add_record(struct sift_gramfilter *filter,
				uint64_t offset, uint64_t next,
				const unsigned char *data, uint32_t len)
{
	const unsigned char *pos, *end = data + len, *p, *nl;
	unsigned int saved_blocks;
	size_t saved_bits;

	if (filter->full ||
	    (filter->covered != 0 && offset != filter->covered))
		return FALSE;
	saved_blocks = array_count(&filter->blocks);
	saved_bits = filter->bits->used;

	/* the payload ends at next: its offset in the file is next - len */
	for (pos = data; pos < end; pos = p) {
		p = pos;
		while (p < end && (size_t)(p - pos) < SIFT_GRAM_BLOCK_SIZE) {
			nl = memchr(p, '\n', end - p);
			p = nl == NULL ? end : nl + 1;
		}
		gram_add_block(filter, next - len + (pos - data), pos, p,
			       next);
	}
	if (sift_gramfilter_memory(filter) > SIFT_GRAM_MAX_BYTES) {
		/* over the limit: this record is scanned as before, and
		   so is everything after it */
		array_delete(&filter->blocks, saved_blocks,
			     array_count(&filter->blocks) - saved_blocks);
		buffer_set_used_size(filter->bits, saved_bits);
		filter->full = TRUE;
		return FALSE;
	}
	filter->covered = next;
	return TRUE;
}

void sift_gram_query_init(struct sift_gram_query *q,
			  const char *const family_prefixes[],
			  unsigned int family_count,
			  const char *needle, size_t needle_len)
{
	const unsigned char *n = (const unsigned char *)needle;
	unsigned int count, i, f;

	i_zero(q);
	if (needle_len < 3 || family_count > N_ELEMENTS(q->families) ||
	    memchr(needle, '\n', needle_len) != NULL)
		return;
	for (f = 0; f < family_count; f++) {
		if (family_prefixes[f][0] == '\0')
			return;
		q->families[f] = (unsigned char)family_prefixes[f][0];
	}
	/* at most N_ELEMENTS(keys[0]) trigrams, spread over the needle */
	count = needle_len - 2;
	if (count > N_ELEMENTS(q->keys[0]))
		count = N_ELEMENTS(q->keys[0]);
	for (f = 0; f < family_count; f++) {
		for (i = 0; i < count; i++) {
			size_t at = count == 1 ? 0 :
				(size_t)i * (needle_len - 3) / (count - 1);
			uint32_t tri = (uint32_t)n[at] << 16 |
				(uint32_t)n[at + 1] << 8 | n[at + 2];

			q->keys[f][i] = gram_key(q->families[f], tri);
		}
	}
	q->family_count = family_count;
	q->key_count = count;
	q->usable = TRUE;
}

static bool gram_block_may_hold(const struct sift_gramfilter *filter,
				const struct gram_block *block,
				const struct sift_gram_query *q)
{
	const unsigned char *bits;
	uint32_t pos[3];
	unsigned int f, i;

	if (!q->usable || block->nbits == 0)
		return TRUE;
	bits = CONST_PTR_OFFSET(filter->bits->data, block->bits_pos);
	for (f = 0; f < q->family_count; f++) {
		for (i = 0; i < q->key_count; i++) {
			gram_positions(q->keys[f][i], block->nbits, pos);
			if ((bits[pos[0] / 8] & (1 << (pos[0] % 8))) == 0 ||
			    (bits[pos[1] / 8] & (1 << (pos[1] % 8))) == 0 ||
			    (bits[pos[2] / 8] & (1 << (pos[2] % 8))) == 0)
				break;
		}
		if (i == q->key_count)
			return TRUE;
	}
	return FALSE;
}

bool sift_gramfilter_next(const struct sift_gramfilter *filter,
			  const struct sift_gram_query *q, uint64_t limit,
			  unsigned int *iter, uint64_t *offset_r,
			  uint32_t *len_r)
{
	const struct gram_block *blocks;
	unsigned int count;

	blocks = array_get(&filter->blocks, &count);
	for (; *iter < count; (*iter)++) {
		const struct gram_block *block = &blocks[*iter];

		if (block->record_next > limit)
			break;
		if (gram_block_may_hold(filter, block, q)) {
			*offset_r = block->offset;
			*len_r = block->len;
			(*iter)++;
			return TRUE;
		}
	}
	*iter = count;
	return FALSE;
}

uint64_t sift_gramfilter_resume(const struct sift_gramfilter *filter,
				uint64_t limit)
{
	const struct gram_block *blocks;
	unsigned int lo = 0, hi;

	/* the last block whose record ends at or before limit (record ends
	   ascend with the blocks) */
	blocks = array_get(&filter->blocks, &hi);
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (blocks[mid].record_next <= limit)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? 0 : blocks[lo - 1].record_next;
}

/* ---- the saved filters (SIFT_GRAMS_FILE) -------------------------------- */

/* The file: this header, the covered terms records (struct
   sift_gram_record), the blocks (struct gram_block, native layout like
   the other side files) and the filter bits.  The magic names the
   filters' construction: any change to gram_key(), gram_positions(),
   GRAM_BITS_PER_BYTE or the block cutting must change it, or a reader
   would trust filters that mean something else (false negatives). */
#define GRAM_FILE_MAGIC "SIFTGRM1"

struct gram_file_header {
	char magic[8];
	uint64_t terms_gen;
	/* the terms file's offset after the last covered record */
	uint64_t covered;
	uint64_t bits_size;
	uint32_t record_count;
	uint32_t block_count;
	/* sizeof(struct gram_block), a layout check */
	uint32_t block_struct_size;
	/* gram_file_sum() (the last field) */
	uint32_t sum;
};

/* The header's fields before sum, then everything after the header. */
static uint32_t gram_file_sum(const struct gram_file_header *hdr,
			      const void *body, size_t body_len)
{
	uint32_t seed = sift_record_sum(0, hdr,
		offsetof(struct gram_file_header, sum));

	return sift_record_sum(seed, body, body_len);
}

void sift_gramfilter_export(const struct sift_gramfilter *filter,
			    uint64_t gen,
			    const ARRAY_TYPE(sift_gram_record) *records,
			    buffer_t *dest)
{
	struct gram_file_header hdr;
	size_t start = dest->used;
	unsigned char *p;

	i_zero(&hdr);
	memcpy(hdr.magic, GRAM_FILE_MAGIC, sizeof(hdr.magic));
	hdr.terms_gen = gen;
	hdr.covered = filter->covered;
	hdr.bits_size = filter->bits->used;
	hdr.record_count = array_count(records);
	hdr.block_count = array_count(&filter->blocks);
	hdr.block_struct_size = sizeof(struct gram_block);
	buffer_append(dest, &hdr, sizeof(hdr));
	if (hdr.record_count > 0) {
		buffer_append(dest, array_front(records),
			      hdr.record_count * sizeof(struct sift_gram_record));
	}
	if (hdr.block_count > 0) {
		buffer_append(dest, array_front(&filter->blocks),
			      hdr.block_count * sizeof(struct gram_block));
	}
	buffer_append(dest, filter->bits->data, filter->bits->used);
	hdr.sum = gram_file_sum(&hdr, CONST_PTR_OFFSET(dest->data,
						      start + sizeof(hdr)),
				dest->used - start - sizeof(hdr));
	p = buffer_get_space_unsafe(dest, start, sizeof(hdr));
	memcpy(p + offsetof(struct gram_file_header, sum), &hdr.sum,
	       sizeof(hdr.sum));
}

bool sift_gramfilter_import(struct sift_gramfilter *filter, uint64_t gen,
			    uint64_t limit, buffer_t **_buf,
			    bool (*record_ok)(void *context,
					      const struct sift_gram_record *rec),
			    void *context, const char **error_r)
{
	buffer_t *buf = *_buf;
	const void *data = buf->data;
	size_t size = buf->used;
	struct gram_file_header hdr;
	const struct sift_gram_record *recs;
	const struct gram_block *blocks;
	uint64_t expect, pos, end;
	unsigned int i;
	uint32_t sum;

	i_assert(filter->covered == 0 && array_count(&filter->blocks) == 0);
	if (size < sizeof(hdr)) {
		*error_r = "too short";
		return FALSE;
	}
	memcpy(&hdr, data, sizeof(hdr));
	if (memcmp(hdr.magic, GRAM_FILE_MAGIC, sizeof(hdr.magic)) != 0 ||
	    hdr.block_struct_size != sizeof(struct gram_block)) {
		*error_r = "another version";
		return FALSE;
	}
	expect = sizeof(hdr) +
		(uint64_t)hdr.record_count * sizeof(struct sift_gram_record) +
		(uint64_t)hdr.block_count * sizeof(struct gram_block);
	if (hdr.bits_size > size || expect + hdr.bits_size != size) {
		*error_r = "wrong size";
		return FALSE;
	}
	sum = gram_file_sum(&hdr, CONST_PTR_OFFSET(data, sizeof(hdr)),
			    size - sizeof(hdr));
	if (sum != hdr.sum) {
		*error_r = "checksum mismatch";
		return FALSE;
	}
	if (hdr.terms_gen != gen) {
		*error_r = "of another terms file";
		return FALSE;
	}
	if (hdr.covered > limit || hdr.covered == 0 ||
	    hdr.record_count == 0) {
		*error_r = "covers uncommitted bytes";
		return FALSE;
	}
	/* the records chain from the terms file's header up to covered */
	recs = CONST_PTR_OFFSET(data, sizeof(hdr));
	pos = SIFT_RECORD_FILE_HEADER_SIZE;
	for (i = 0; i < hdr.record_count; i++) {
		if (recs[i].offset != pos) {
			*error_r = "records don't chain";
			return FALSE;
		}
		pos += SIFT_RECORD_HEADER_SIZE + recs[i].len;
	}
	if (pos != hdr.covered) {
		*error_r = "records don't chain";
		return FALSE;
	}
	/* the blocks lie in order inside the covered records, their bits
	   inside the file */
	blocks = CONST_PTR_OFFSET(recs,
		hdr.record_count * sizeof(struct sift_gram_record));
	end = SIFT_RECORD_FILE_HEADER_SIZE;
	for (i = 0; i < hdr.block_count; i++) {
		const struct gram_block *b = &blocks[i];

		if (b->offset < end || b->offset + b->len > b->record_next ||
		    b->record_next > hdr.covered || b->nbits % 64 != 0 ||
		    (b->nbits > 0 && (b->len > GRAM_MAX_FILTERED_BLOCK ||
		     (uint64_t)b->bits_pos + b->nbits / 8 > hdr.bits_size))) {
			*error_r = "a block out of bounds";
			return FALSE;
		}
		end = b->offset + b->len;
	}
	/* and the terms file holds those very records */
	for (i = 0; i < hdr.record_count; i++) {
		if (!record_ok(context, &recs[i])) {
			*error_r = "a record differs from the terms file's";
			return FALSE;
		}
	}
	if (hdr.block_count > 0)
		array_append(&filter->blocks, blocks, hdr.block_count);
	if (!array_is_created(&filter->saved))
		i_array_init(&filter->saved, hdr.record_count);
	for (i = 0; i < hdr.record_count; i++) {
		struct gram_saved_record *r = array_append_space(&filter->saved);

		r->offset = recs[i].offset;
		r->next = recs[i].offset + SIFT_RECORD_HEADER_SIZE +
			recs[i].len;
	}
	/* the bits stay where they were read (moved to the buffer's
	   start): a copy would fault in as many fresh pages again, the
	   larger part of loading them */
	{
		unsigned char *p = buffer_get_modifiable_data(buf, NULL);

		memmove(p, p + (size - hdr.bits_size), hdr.bits_size);
		buffer_set_used_size(buf, hdr.bits_size);
		buffer_free(&filter->bits);
		filter->bits = buf;
		*_buf = NULL;
	}
	filter->covered = hdr.covered;
	filter->tail_checked = hdr.covered;
	return TRUE;
}

bool sift_gramfilter_loaded(const struct sift_gramfilter *filter)
{
	return array_is_created(&filter->saved) &&
		array_count(&filter->saved) > 0;
}

static struct gram_saved_record *
gram_saved_find(struct sift_gramfilter *filter, uint64_t offset)
{
	struct gram_saved_record *r;
	unsigned int lo = 0, hi;

	if (!array_is_created(&filter->saved))
		return NULL;
	r = array_get_modifiable(&filter->saved, &hi);
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (offset < r[mid].offset)
			hi = mid;
		else if (offset >= r[mid].next)
			lo = mid + 1;
		else
			return &r[mid];
	}
	return NULL;
}

bool sift_gramfilter_unverified(const struct sift_gramfilter *filter,
				uint64_t offset, uint64_t *record_r)
{
	/* (only reads it) */
	const struct gram_saved_record *r =
		gram_saved_find((struct sift_gramfilter *)filter, offset);

	if (r == NULL || r->verified)
		return FALSE;
	*record_r = r->offset;
	return TRUE;
}

void sift_gramfilter_set_verified(struct sift_gramfilter *filter,
				  uint64_t record)
{
	struct gram_saved_record *r = gram_saved_find(filter, record);

	if (r != NULL)
		r->verified = TRUE;
}

uint64_t sift_gramfilter_tail_checked(const struct sift_gramfilter *filter)
{
	return filter->tail_checked;
}

void sift_gramfilter_set_tail_checked(struct sift_gramfilter *filter,
				      uint64_t upto)
{
	if (upto > filter->tail_checked)
		filter->tail_checked = upto;
}

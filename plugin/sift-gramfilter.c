/* sift-gramfilter.c: n-gram Bloom filters over blocks of the terms file
   (see sift-gramfilter.h). */
#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "write-full.h"
#include "sift-record.h"
#include "sift-gramfilter.h"

#include <fcntl.h>
#include <unistd.h>

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
	/* saved filters: gram_block_sum() of the block's bytes as the
	   writer wrote them, so that a search verifies the block it reads
	   instead of the whole record holding it (0 in-process: the
	   records those blocks were made of were verified first) */
	uint32_t sum;
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
	/* the loaded blocks, one bit each: set once the block's bytes
	   matched its sum (blocks added in the process are past the end,
	   verified with their records) */
	buffer_t *block_verified;
	unsigned int loaded_blocks;
	ARRAY_TYPE(gram_block) blocks;
	buffer_t *bits;
};

static struct sift_gramfilter *gram_cache[SIFT_GRAM_CACHE_FILES];
static unsigned int gram_clock;
/* SIFT_GRAM_MAX_BYTES (tests set a smaller one) */
static size_t gram_budget = SIFT_GRAM_MAX_BYTES;

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
	buffer_free(&filter->block_verified);
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

bool sift_gramfilter_reserve(struct sift_gramfilter *filter, size_t bytes)
{
	size_t others;
	unsigned int i, victim;

	if (sift_gramfilter_memory(filter) + bytes > gram_budget)
		return FALSE;
	for (;;) {
		others = 0;
		victim = SIFT_GRAM_CACHE_FILES;
		for (i = 0; i < SIFT_GRAM_CACHE_FILES; i++) {
			if (gram_cache[i] == NULL || gram_cache[i] == filter)
				continue;
			others += sift_gramfilter_memory(gram_cache[i]);
			if (victim == SIFT_GRAM_CACHE_FILES ||
			    gram_cache[i]->last_used <
			    gram_cache[victim]->last_used)
				victim = i;
		}
		if (others + sift_gramfilter_memory(filter) + bytes <=
		    gram_budget)
			return TRUE;
		i_assert(victim < SIFT_GRAM_CACHE_FILES);
		gramfilter_free(&gram_cache[victim]);
	}
}

bool sift_gramfilter_want_import(struct sift_gramfilter *filter)
{
	if (filter->import_tried)
		return FALSE;
	filter->import_tried = TRUE;
	return TRUE;
}

void sift_gramfilter_set_budget(size_t bytes)
{
	gram_budget = bytes == 0 ? SIFT_GRAM_MAX_BYTES : bytes;
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

/* The filter's size in bits of a block of len bytes (0: none: the block
   is always read).  Sized by the block's bytes, not by its distinct
   trigrams: counting those (a hash table per block) cost ten times the
   filter. */
static uint32_t gram_block_nbits(size_t len)
{
	uint32_t nbits;

	if (len > GRAM_MAX_FILTERED_BLOCK)
		return 0;
	nbits = (len * GRAM_BITS_PER_BYTE + 63) / 64 * 64;
	return nbits == 0 ? 64 : nbits;
}

/* Set in bits (nbits / 8 bytes, zeroed by the caller) the filter of the
   lines of [start, end). */
static void gram_block_fill(const unsigned char *start,
			    const unsigned char *end, uint32_t nbits,
			    unsigned char *bits)
{
	const unsigned char *line, *le, *p;
	uint32_t pos[3];

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

/* The end of the block starting at pos in a record's payload ending at
   end: whole lines up to SIFT_GRAM_BLOCK_SIZE (one longer line is a block
   of its own).  The in-process filters and the writer's saved ones cut
   blocks with this same function, so both mean the same. */
static const unsigned char *
gram_block_end(const unsigned char *pos, const unsigned char *end)
{
	const unsigned char *p = pos, *nl;

	while (p < end && (size_t)(p - pos) < SIFT_GRAM_BLOCK_SIZE) {
		nl = memchr(p, '\n', end - p);
		p = nl == NULL ? end : nl + 1;
	}
	return p;
}

/* The checksum of a block's bytes at offset in the terms file (seeded
   with the offset and length, so that bytes that moved or a block cut
   elsewhere don't match). */
static uint32_t gram_block_sum(uint64_t offset, const unsigned char *start,
			       size_t len)
{
	return sift_record_sum(offset ^ ((uint64_t)len << 40), start, len);
}

static void gram_add_block(struct sift_gramfilter *filter, uint64_t offset,
			   const unsigned char *start, const unsigned char *end,
			   uint64_t record_next)
{
	struct gram_block *block;
	unsigned char *bits;

	block = array_append_space(&filter->blocks);
	block->offset = offset;
	block->len = end - start;
	block->record_next = record_next;
	block->bits_pos = filter->bits->used;
	block->nbits = gram_block_nbits(block->len);
	if (block->nbits == 0)
		return;
	bits = buffer_append_space_unsafe(filter->bits, block->nbits / 8);
	memset(bits, 0, block->nbits / 8);
	gram_block_fill(start, end, block->nbits, bits);
}

bool sift_gramfilter_add_record(struct sift_gramfilter *filter,
				uint64_t offset, uint64_t next,
				const unsigned char *data, uint32_t len)
{
	const unsigned char *pos, *end = data + len, *p;
	unsigned int saved_blocks;
	size_t saved_bits;

	if (filter->full ||
	    (filter->covered != 0 && offset != filter->covered))
		return FALSE;
	saved_blocks = array_count(&filter->blocks);
	saved_bits = filter->bits->used;

	/* the payload ends at next: its offset in the file is next - len */
	for (pos = data; pos < end; pos = p) {
		p = gram_block_end(pos, end);
		gram_add_block(filter, next - len + (pos - data), pos, p,
			       next);
	}
	if (!sift_gramfilter_reserve(filter, 0)) {
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

/* The file: this header, the filter bits, the covered terms records
   (struct sift_gram_record) and the blocks (struct gram_block, native
   layout like the other side files).  The bits come first so that the
   writer streams them to the file as it makes them (only the records and
   blocks, a few hundred KB at 300,000 messages, wait in memory for the
   end), and a reader's buffer already holds them at its start, less a
   header.  The magic names the filters' construction and the layout: any
   change to gram_key(), gram_positions(), GRAM_BITS_PER_BYTE, the block
   cutting or the checksum must change it, or a reader would trust
   filters that mean something else (false negatives).  (SIFTGRM1, the
   records and blocks before the bits with one checksum over the body,
   made the writer hold all the bits: such files are refused as "another
   version" and the filters built by the searches until the next
   rewrite.) */
#define GRAM_FILE_MAGIC "SIFTGRM3"
/* the bits are summed in pieces of this size, so that the writer needs
   no more of them in memory (the records and blocks, one piece each) */
#define GRAM_SUM_CHUNK (64 * 1024)

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

/* The checksum: that of each GRAM_SUM_CHUNK piece of the bits (the first
   from seed 0), of the records and of the blocks, each seeding the next,
   and last of the header's fields before sum (known only at the end). */
static uint32_t gram_sum_next(uint32_t sum, const void *data, size_t len)
{
	return sift_record_sum(sum, len == 0 ? "" : data, len);
}

static uint32_t gram_sum_tail(uint32_t bits_sum,
			      const struct gram_file_header *hdr,
			      const void *records, const void *blocks)
{
	uint32_t sum;

	sum = gram_sum_next(bits_sum, records, (size_t)hdr->record_count *
			    sizeof(struct sift_gram_record));
	sum = gram_sum_next(sum, blocks, (size_t)hdr->block_count *
			    sizeof(struct gram_block));
	return gram_sum_next(sum, hdr,
			     offsetof(struct gram_file_header, sum));
}

static uint32_t gram_file_sum(const struct gram_file_header *hdr,
			      const unsigned char *bits, const void *records,
			      const void *blocks)
{
	uint32_t sum = 0;
	uint64_t pos;

	for (pos = 0; pos < hdr->bits_size; pos += GRAM_SUM_CHUNK) {
		sum = gram_sum_next(sum, bits + pos,
				    I_MIN(GRAM_SUM_CHUNK,
					  hdr->bits_size - pos));
	}
	return gram_sum_tail(sum, hdr, records, blocks);
}

struct sift_gramfile_writer {
	int fd;
	char *path;
	uint64_t covered;
	/* bits written so far (the file holds the header's space, then
	   these), and the checksum of the pieces written */
	uint64_t bits_size;
	uint32_t sum;
	/* set: bits_size passed SIFT_GRAM_MAX_BYTES, no more records are
	   covered (searches cover the rest, as with an in-process
	   filter) */
	bool full;
	/* a write failed (errno kept in error) */
	bool failed;
	const char *error;
	ARRAY_TYPE(sift_gram_record) records;
	ARRAY_TYPE(gram_block) blocks;
	/* the piece of bits being filled (written when GRAM_SUM_CHUNK
	   long), and one block's bits */
	unsigned char chunk[GRAM_SUM_CHUNK];
	size_t chunk_used;
	unsigned char block_bits[GRAM_MAX_FILTERED_BLOCK / 8 + 8];
};

static void gramfile_write(struct sift_gramfile_writer *w, const void *data,
			   size_t len, uint64_t offset)
{
	if (w->failed)
		return;
	if (pwrite_full(w->fd, data, len, offset) < 0) {
		w->failed = TRUE;
		w->error = t_strdup_printf("write(%s) failed: %m", w->path);
	}
}

static void gramfile_flush_chunk(struct sift_gramfile_writer *w)
{
	if (w->chunk_used == 0)
		return;
	w->sum = gram_sum_next(w->sum, w->chunk, w->chunk_used);
	gramfile_write(w, w->chunk, w->chunk_used,
		       sizeof(struct gram_file_header) + w->bits_size -
		       w->chunk_used);
	w->chunk_used = 0;
}

static void gramfile_append_bits(struct sift_gramfile_writer *w,
				 const unsigned char *bits, size_t len)
{
	while (len > 0) {
		size_t n = I_MIN(len, sizeof(w->chunk) - w->chunk_used);

		memcpy(w->chunk + w->chunk_used, bits, n);
		w->chunk_used += n;
		w->bits_size += n;
		bits += n;
		len -= n;
		if (w->chunk_used == sizeof(w->chunk))
			gramfile_flush_chunk(w);
	}
}

int sift_gramfile_writer_open(const char *path, mode_t mode,
			      struct sift_gramfile_writer **writer_r,
			      const char **error_r)
{
	struct sift_gramfile_writer *w;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	w = i_new(struct sift_gramfile_writer, 1);
	w->fd = fd;
	w->path = i_strdup(path);
	i_array_init(&w->records, 64);
	i_array_init(&w->blocks, 256);
	*writer_r = w;
	return 0;
}

bool sift_gramfile_writer_add_record(struct sift_gramfile_writer *w,
				     uint64_t offset, uint64_t next,
				     const unsigned char *data, uint32_t len,
				     uint32_t sum)
{
	const unsigned char *pos, *end = data + len, *p;
	uint64_t bits_size = 0;
	unsigned int blocks = 0;
	struct sift_gram_record *rec;
	struct gram_block *block;

	if (w->full || (w->covered != 0 && offset != w->covered))
		return FALSE;
	/* the budget a reader loads the whole file within (the record's
	   bits first, without making them) */
	for (pos = data; pos < end; pos = p) {
		p = gram_block_end(pos, end);
		bits_size += gram_block_nbits(p - pos) / 8;
		blocks++;
	}
	if (sizeof(struct gram_file_header) + w->bits_size + bits_size +
	    (array_count(&w->blocks) + blocks) * sizeof(struct gram_block) +
	    (array_count(&w->records) + 1) * sizeof(struct sift_gram_record) >
	    gram_budget) {
		w->full = TRUE;
		return FALSE;
	}
	for (pos = data; pos < end; pos = p) {
		p = gram_block_end(pos, end);
		block = array_append_space(&w->blocks);
		block->offset = next - len + (pos - data);
		block->len = p - pos;
		block->record_next = next;
		block->bits_pos = w->bits_size;
		block->nbits = gram_block_nbits(block->len);
		block->sum = gram_block_sum(block->offset, pos, block->len);
		if (block->nbits == 0)
			continue;
		memset(w->block_bits, 0, block->nbits / 8);
		gram_block_fill(pos, p, block->nbits, w->block_bits);
		gramfile_append_bits(w, w->block_bits, block->nbits / 8);
	}
	rec = array_append_space(&w->records);
	rec->offset = offset;
	rec->len = len;
	rec->sum = sum;
	w->covered = next;
	return TRUE;
}

/* Close and free w; *ret_r: -1 if a write or the close failed
   (*error_r why), else 0. */
static void gramfile_writer_free(struct sift_gramfile_writer *w, int *ret_r,
				 const char **error_r)
{
	if (close(w->fd) < 0 && !w->failed) {
		w->failed = TRUE;
		w->error = t_strdup_printf("close(%s) failed: %m", w->path);
	}
	*ret_r = w->failed ? -1 : 0;
	if (w->failed)
		*error_r = w->error;
	array_free(&w->records);
	array_free(&w->blocks);
	i_free(w->path);
	i_free(w);
}

int sift_gramfile_writer_finish(struct sift_gramfile_writer **_w,
				uint64_t gen, bool *empty_r,
				const char **error_r)
{
	struct sift_gramfile_writer *w = *_w;
	struct gram_file_header hdr;
	uint64_t pos;
	size_t rec_size, block_size;
	int ret;

	*_w = NULL;
	*empty_r = array_count(&w->records) == 0;
	gramfile_flush_chunk(w);
	rec_size = array_count(&w->records) * sizeof(struct sift_gram_record);
	block_size = array_count(&w->blocks) * sizeof(struct gram_block);
	pos = sizeof(hdr) + w->bits_size;
	if (rec_size > 0)
		gramfile_write(w, array_front(&w->records), rec_size, pos);
	if (block_size > 0) {
		gramfile_write(w, array_front(&w->blocks), block_size,
			       pos + rec_size);
	}
	i_zero(&hdr);
	memcpy(hdr.magic, GRAM_FILE_MAGIC, sizeof(hdr.magic));
	hdr.terms_gen = gen;
	hdr.covered = w->covered;
	hdr.bits_size = w->bits_size;
	hdr.record_count = array_count(&w->records);
	hdr.block_count = array_count(&w->blocks);
	hdr.block_struct_size = sizeof(struct gram_block);
	/* the bits' pieces were summed as written */
	hdr.sum = gram_sum_tail(w->sum, &hdr, rec_size == 0 ? NULL :
				array_front(&w->records), block_size == 0 ?
				NULL : array_front(&w->blocks));
	gramfile_write(w, &hdr, sizeof(hdr), 0);
	gramfile_writer_free(w, &ret, error_r);
	return ret;
}

void sift_gramfile_writer_abort(struct sift_gramfile_writer **_w)
{
	struct sift_gramfile_writer *w = *_w;
	const char *error;
	int ret;

	*_w = NULL;
	if (w != NULL)
		gramfile_writer_free(w, &ret, &error);
}

bool sift_gramfilter_import(struct sift_gramfilter *filter, uint64_t gen,
			    uint64_t limit, buffer_t **_buf,
			    bool (*record_ok)(void *context,
					      const struct sift_gram_record *rec),
			    void *context, const char **error_r)
{
	buffer_t *buf = *_buf;
	const unsigned char *data = buf->data;
	size_t size = buf->used;
	struct gram_file_header hdr;
	const struct sift_gram_record *recs;
	const struct gram_block *blocks;
	uint64_t expect, pos, end;
	unsigned int i;

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
	if (hdr.bits_size > size || hdr.bits_size % 8 != 0 ||
	    expect + hdr.bits_size != size) {
		*error_r = "wrong size";
		return FALSE;
	}
	recs = CONST_PTR_OFFSET(data, sizeof(hdr) + hdr.bits_size);
	blocks = CONST_PTR_OFFSET(recs,
		hdr.record_count * sizeof(struct sift_gram_record));
	if (gram_file_sum(&hdr, data + sizeof(hdr), recs, blocks) != hdr.sum) {
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
	/* the bits stay where they were read, after the header: no copy
	   and no move of the filter's bulk (the larger part of loading it
	   was faulting in pages, and moving them faulted nothing new but
	   touched all again) */
	{
		struct gram_block *b;

		array_foreach_modifiable(&filter->blocks, b)
			b->bits_pos += sizeof(hdr);
	}
	filter->loaded_blocks = hdr.block_count;
	filter->block_verified = buffer_create_dynamic(default_pool,
		(hdr.block_count + 7) / 8);
	buffer_append_zero(filter->block_verified, (hdr.block_count + 7) / 8);
	if (!array_is_created(&filter->saved))
		i_array_init(&filter->saved, hdr.record_count);
	for (i = 0; i < hdr.record_count; i++) {
		struct gram_saved_record *r = array_append_space(&filter->saved);

		r->offset = recs[i].offset;
		r->next = recs[i].offset + SIFT_RECORD_HEADER_SIZE +
			recs[i].len;
	}
	buffer_set_used_size(buf, sizeof(hdr) + hdr.bits_size);
	buffer_free(&filter->bits);
	filter->bits = buf;
	*_buf = NULL;
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

bool sift_gramfilter_block_unverified(const struct sift_gramfilter *filter,
				      unsigned int block_idx)
{
	const unsigned char *v;

	if (block_idx >= filter->loaded_blocks)
		return FALSE;
	v = filter->block_verified->data;
	return (v[block_idx / 8] & (1 << (block_idx % 8))) == 0;
}

bool sift_gramfilter_verify_block(struct sift_gramfilter *filter,
				  unsigned int block_idx,
				  const unsigned char *data)
{
	const struct gram_block *b;
	unsigned char *v;

	i_assert(block_idx < filter->loaded_blocks);
	b = array_idx(&filter->blocks, block_idx);
	if (gram_block_sum(b->offset, data, b->len) != b->sum)
		return FALSE;
	v = buffer_get_modifiable_data(filter->block_verified, NULL);
	v[block_idx / 8] |= 1 << (block_idx % 8);
	return TRUE;
}

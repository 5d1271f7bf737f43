/* sift-gramfilter.c: n-gram Bloom filters over blocks of the terms file
   (see sift-gramfilter.h). */
#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "read-full.h"
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
	/* the loaded blocks' filters stay in the grams file (SIFTGRM4,
	   bit-sliced: below), read a slice at a time; NULL if none */
	struct gram_slices *slices;
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
   the side files' mappings, which Dovecot's vsz_limit bounds (see
   doc/measurements.md, "Search cost"). */
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

static void gram_slices_free(struct gram_slices **slices);
static size_t gram_slices_memory(const struct gram_slices *slices);
static void gram_slices_match(struct sift_gramfilter *filter,
			      const struct sift_gram_query *q);
static bool gram_slices_may_hold(const struct sift_gramfilter *filter,
				 unsigned int block_idx);

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
	gram_slices_free(&filter->slices);
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
		array_count(&filter->blocks) * sizeof(struct gram_block) +
		(filter->block_verified == NULL ? 0 :
		 filter->block_verified->used) +
		gram_slices_memory(filter->slices);
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
				unsigned int block_idx,
				const struct gram_block *block,
				const struct sift_gram_query *q)
{
	const unsigned char *bits;
	uint32_t pos[3];
	unsigned int f, i;

	if (!q->usable || block->nbits == 0)
		return TRUE;
	/* a loaded block: the query's slices of the grams file decided
	   (gram_slices_match()) */
	if (block_idx < filter->loaded_blocks)
		return gram_slices_may_hold(filter, block_idx);
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

bool sift_gramfilter_next(struct sift_gramfilter *filter,
			  const struct sift_gram_query *q, uint64_t limit,
			  unsigned int *iter, uint64_t *offset_r,
			  uint32_t *len_r)
{
	const struct gram_block *blocks;
	unsigned int count;

	/* the loaded blocks come first: a new iteration reads the query's
	   slices and keeps which of them may hold it */
	if (*iter == 0 && filter->loaded_blocks > 0 && q->usable)
		gram_slices_match(filter, q);
	blocks = array_get(&filter->blocks, &count);
	for (; *iter < count; (*iter)++) {
		const struct gram_block *block = &blocks[*iter];

		if (block->record_next > limit)
			break;
		if (gram_block_may_hold(filter, *iter, block, q)) {
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

/* The file (SIFTGRM4): this header, the covered terms records (struct
   sift_gram_record), the blocks (struct gram_file_block: each block's
   length and checksum; their offsets follow from the records, which the
   blocks cut into whole lines one after the other), then the filters,
   bit-sliced: every saved block has a filter of slice_count bits, and
   slice s holds bit s of every block's filter (block b: byte b / 8, bit
   b % 8 of the slice's slice_bytes).  A query's trigram has the same
   three bit positions in every block, so a search reads three slices per
   trigram (block_count / 8 bytes each: about 1 KB at 300,000 messages)
   instead of the whole file (17.6 MB), and keeps those it read in a small
   cache (GRAM_SLICE_CACHE_BYTES).  The slices are stored in groups of
   group_slices (one slice each when a slice has GRAM_MIN_GROUP_BYTES or
   more: a small file would otherwise be mostly checksums), each group
   after a checksum of its own, verified when it is read: a damaged group
   (or one that can't be read) counts as all bits set, its blocks are
   read.  The header's checksum covers its fields and through tables_sum
   the records and blocks; a group's is seeded with the header's
   checksum, the generation and the group's number, so that a group of
   another file or at another place doesn't verify.

   slice_count is GRAM_FILE_SLICES (about one bit per byte of a full
   block, like GRAM_BITS_PER_BYTE) for a terms file with full blocks, a
   smaller power of two for a file whose blocks are all short (a small
   mailbox: its file stays small).  The writer makes every block's filter
   with GRAM_FILE_SLICES bits and folds it: with gram_positions()'
   multiply-shift, the position of a key among m / 2^k bits is exactly
   its position among m bits shifted right by k, so bit s of the folded
   filter is the OR of bits s << k .. (s + 1) << k - 1.

   The magic names the filters' construction and the layout: any change
   to gram_key(), gram_positions(), the block cutting or a checksum must
   change it, or a reader would trust filters that mean something else
   (false negatives).  Older files (SIFTGRM1-3: one checksum over the
   whole file, read whole into the heap) are refused as "another
   version", and the searches build the filters in the process until the
   next rewrite of the terms file writes a SIFTGRM4 one. */
#define GRAM_FILE_MAGIC "SIFTGRM4"
#define GRAM_FILE_SLICES (SIFT_GRAM_BLOCK_SIZE * GRAM_BITS_PER_BYTE)
#define GRAM_MIN_SLICES 256
#define GRAM_ROW_BYTES (GRAM_FILE_SLICES / 8)
/* the bytes of slices under one checksum at least */
#define GRAM_MIN_GROUP_BYTES 64
/* the saved file's filters may take this many times the budget (a
   reader holds only the tables, about 2 % of the file, and the cache) */
#define GRAM_FILE_BUDGET_FACTOR 8
/* groups of slices a reader keeps, in bytes (a query of 16 trigrams
   reads 48 slices) */
#define GRAM_SLICE_CACHE_BYTES (1024 * 1024)
/* the writer's groups made per pass over its rows, in bytes */
#define GRAM_TRANSPOSE_BYTES (2 * 1024 * 1024)
/* rows read at a time by the writer */
#define GRAM_TRANSPOSE_ROWS 64
/* a group that didn't verify (or couldn't be read): all its bits are
   taken as set */
#define GRAM_SLOT_BAD 0xffff

struct gram_file_header {
	char magic[8];
	uint64_t terms_gen;
	/* the terms file's offset after the last covered record */
	uint64_t covered;
	uint32_t record_count;
	uint32_t block_count;
	/* the filters' bits (a power of two, GRAM_MIN_SLICES to
	   GRAM_FILE_SLICES), the slices per checksum (a power of two, at
	   most slice_count), and the bytes of a slice (block_count / 8
	   rounded up) */
	uint32_t slice_count;
	uint32_t group_slices;
	uint32_t slice_bytes;
	/* sizeof(struct gram_file_block), a layout check */
	uint32_t block_entry_size;
	/* the checksum of the records, then the blocks */
	uint32_t tables_sum;
	/* of the fields before it */
	uint32_t sum;
};

struct gram_file_block {
	uint32_t len;
	/* gram_block_sum() of its bytes */
	uint32_t sum;
};

/* a group in the file: its checksum, then its slices */
#define GRAM_GROUP_HEADER 4

struct gram_slices {
	int fd;
	uint64_t slices_off;
	uint32_t slice_count, group_slices, slice_bytes, group_bytes;
	uint32_t stride, groups;
	uint64_t gen;
	uint32_t hdr_sum;
	/* per group: its cache slot + 1, 0 if not cached, or
	   GRAM_SLOT_BAD */
	uint16_t *slot_of;
	unsigned int slots, slots_used, victim;
	uint32_t *slot_group;
	unsigned char *cache, *readbuf;
	/* the blocks that may hold the current query's string, and one
	   family's (slice_bytes each) */
	unsigned char *cand, *acc;
	unsigned int reads, damaged;
	/* damaged was reported (sift_gramfilter_take_damage_report()) */
	bool damage_reported;
};

static size_t gram_slice_cache_bytes = GRAM_SLICE_CACHE_BYTES;

void sift_gramfilter_set_slice_cache(size_t bytes)
{
	gram_slice_cache_bytes = bytes == 0 ? GRAM_SLICE_CACHE_BYTES : bytes;
}

static uint32_t gram_group_sum(uint32_t hdr_sum, uint64_t gen, uint32_t g,
			       const unsigned char *bits, size_t len)
{
	return sift_record_sum(((uint64_t)hdr_sum << 32 | g) ^
			       (gen * 0x9e3779b97f4a7c15ULL), bits, len);
}

static unsigned int gram_cache_slots(uint32_t group_bytes)
{
	size_t slots = gram_slice_cache_bytes / I_MAX(group_bytes, 1);

	return I_MAX(1, I_MIN(slots, GRAM_SLOT_BAD - 1));
}

static size_t gram_slices_size(const struct gram_file_header *hdr)
{
	size_t group_bytes = (size_t)hdr->group_slices * hdr->slice_bytes;
	size_t slots = gram_cache_slots(group_bytes);

	return sizeof(struct gram_slices) +
		(hdr->slice_count / hdr->group_slices) * sizeof(uint16_t) +
		slots * (group_bytes + sizeof(uint32_t)) +
		GRAM_GROUP_HEADER + group_bytes + 2 * hdr->slice_bytes;
}

static size_t gram_slices_memory(const struct gram_slices *sl)
{
	size_t slots;

	if (sl == NULL)
		return 0;
	slots = sl->slots;
	return sizeof(*sl) + sl->groups * sizeof(uint16_t) +
		slots * (sl->group_bytes + sizeof(uint32_t)) + sl->stride +
		2 * sl->slice_bytes;
}

static void gram_slices_free(struct gram_slices **_sl)
{
	struct gram_slices *sl = *_sl;

	if (sl == NULL)
		return;
	*_sl = NULL;
	i_close_fd(&sl->fd);
	i_free(sl->slot_of);
	i_free(sl->slot_group);
	i_free(sl->cache);
	i_free(sl->readbuf);
	i_free(sl->cand);
	i_free(sl->acc);
	i_free(sl);
}

/* Slice s's bits (slice_bytes), its group read and verified if not
   cached; NULL if the group is damaged or couldn't be read (every bit
   counts as set: blocks are read, never skipped). */
static const unsigned char *gram_slice_get(struct gram_slices *sl,
					   uint32_t s)
{
	uint32_t g = s / sl->group_slices, sum;
	unsigned int slot = sl->slot_of[g];
	unsigned char *dest;

	if (slot == GRAM_SLOT_BAD)
		return NULL;
	if (slot == 0) {
		sl->reads++;
		if (pread_full(sl->fd, sl->readbuf, sl->stride,
			       sl->slices_off + (uint64_t)g * sl->stride) <= 0) {
			sl->slot_of[g] = GRAM_SLOT_BAD;
			sl->damaged++;
			return NULL;
		}
		memcpy(&sum, sl->readbuf, sizeof(sum));
		if (gram_group_sum(sl->hdr_sum, sl->gen, g,
				   sl->readbuf + GRAM_GROUP_HEADER,
				   sl->group_bytes) != sum) {
			sl->slot_of[g] = GRAM_SLOT_BAD;
			sl->damaged++;
			return NULL;
		}
		/* a free slot, else the oldest one (first in, first out) */
		if (sl->slots_used < sl->slots)
			slot = sl->slots_used++;
		else {
			slot = sl->victim;
			sl->victim = (sl->victim + 1) % sl->slots;
			sl->slot_of[sl->slot_group[slot]] = 0;
		}
		sl->slot_group[slot] = g;
		memcpy(sl->cache + (size_t)slot * sl->group_bytes,
		       sl->readbuf + GRAM_GROUP_HEADER, sl->group_bytes);
		slot++;
		sl->slot_of[g] = slot;
	}
	dest = sl->cache + (size_t)(slot - 1) * sl->group_bytes;
	return dest + (size_t)(s % sl->group_slices) * sl->slice_bytes;
}

/* Which loaded blocks may hold q's string (cand): those that, in one of
   its families, have all three bits of each of its trigrams. */
static void gram_slices_match(struct sift_gramfilter *filter,
			      const struct sift_gram_query *q)
{
	struct gram_slices *sl = filter->slices;
	unsigned int f, i, j, w, n;
	uint32_t pos[3];

	if (sl == NULL)
		return;
	n = sl->slice_bytes;
	memset(sl->cand, 0, n);
	for (f = 0; f < q->family_count; f++) {
		unsigned char any = 0xff;

		memset(sl->acc, 0xff, n);
		for (i = 0; i < q->key_count && any != 0; i++) {
			gram_positions(q->keys[f][i], sl->slice_count, pos);
			for (j = 0; j < 3 && any != 0; j++) {
				const unsigned char *bits =
					gram_slice_get(sl, pos[j]);

				if (bits == NULL)
					continue;
				any = 0;
				for (w = 0; w < n; w++) {
					sl->acc[w] &= bits[w];
					any |= sl->acc[w];
				}
			}
		}
		for (w = 0; w < n; w++)
			sl->cand[w] |= sl->acc[w];
	}
}

static bool gram_slices_may_hold(const struct sift_gramfilter *filter,
				 unsigned int block_idx)
{
	const unsigned char *cand = filter->slices->cand;

	return (cand[block_idx / 8] & (1 << (block_idx % 8))) != 0;
}

void sift_gramfilter_slice_stats(const struct sift_gramfilter *filter,
				 unsigned int *reads_r,
				 unsigned int *damaged_r)
{
	*reads_r = filter->slices == NULL ? 0 : filter->slices->reads;
	*damaged_r = filter->slices == NULL ? 0 : filter->slices->damaged;
}

unsigned int sift_gramfilter_take_damage_report(struct sift_gramfilter *filter)
{
	struct gram_slices *sl = filter->slices;

	if (sl == NULL || sl->damaged == 0 || sl->damage_reported)
		return 0;
	sl->damage_reported = TRUE;
	return sl->damaged;
}

struct sift_gramfile_writer {
	int fd, rows_fd;
	char *path;
	uint64_t covered;
	/* the longest block with a filter */
	uint32_t max_block;
	/* set: the file reached its budget, no more records are covered
	   (searches cover the rest, as with an in-process filter) */
	bool full;
	/* a write failed (errno kept in error) */
	bool failed;
	const char *error;
	ARRAY_TYPE(sift_gram_record) records;
	ARRAY(struct gram_file_block) blocks;
	/* the blocks' filters (GRAM_FILE_SLICES bits each) are written
	   one after the other (rows) to an unlinked temporary file as they
	   are made, and sliced at the end (held whole they would take an
	   eighth of the terms file) */
	unsigned char row[GRAM_ROW_BYTES];
};

static void gramfile_pwrite(struct sift_gramfile_writer *w, int fd,
			    const void *data, size_t len, uint64_t offset)
{
	if (w->failed)
		return;
	if (pwrite_full(fd, data, len, offset) < 0) {
		w->failed = TRUE;
		w->error = t_strdup_printf("write(%s) failed: %m", w->path);
	}
}

int sift_gramfile_writer_open(const char *path, mode_t mode,
			      struct sift_gramfile_writer **writer_r,
			      const char **error_r)
{
	struct sift_gramfile_writer *w;
	const char *rows_path = t_strconcat(path, ".rows", NULL);
	int fd, rows_fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		return -1;
	}
	rows_fd = open(rows_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (rows_fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", rows_path);
		i_close_fd(&fd);
		return -1;
	}
	i_unlink(rows_path);
	w = i_new(struct sift_gramfile_writer, 1);
	w->fd = fd;
	w->rows_fd = rows_fd;
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
	unsigned int blocks = 0;
	struct sift_gram_record *rec;
	struct gram_file_block *block;
	uint64_t block_offset;

	if (w->full || (w->covered != 0 && offset != w->covered))
		return FALSE;
	if (next != offset + SIFT_RECORD_HEADER_SIZE + len ||
	    (w->covered == 0 && offset != SIFT_RECORD_FILE_HEADER_SIZE)) {
		/* (not the terms file's framing: a reader couldn't place
		   the blocks) */
		w->full = TRUE;
		return FALSE;
	}
	for (pos = data; pos < end; pos = gram_block_end(pos, end))
		blocks++;
	if ((uint64_t)(array_count(&w->blocks) + blocks) * GRAM_ROW_BYTES >
	    (uint64_t)gram_budget * GRAM_FILE_BUDGET_FACTOR) {
		w->full = TRUE;
		return FALSE;
	}
	for (pos = data; pos < end; pos = p) {
		p = gram_block_end(pos, end);
		block_offset = next - len + (pos - data);
		memset(w->row, 0, sizeof(w->row));
		/* (a block too long for a filter is always read: its
		   filter stays empty, the reader knows it by its length) */
		if ((size_t)(p - pos) <= GRAM_MAX_FILTERED_BLOCK) {
			gram_block_fill(pos, p, GRAM_FILE_SLICES, w->row);
			w->max_block = I_MAX(w->max_block, p - pos);
		}
		gramfile_pwrite(w, w->rows_fd, w->row, sizeof(w->row),
				(uint64_t)array_count(&w->blocks) *
				GRAM_ROW_BYTES);
		block = array_append_space(&w->blocks);
		block->len = p - pos;
		block->sum = gram_block_sum(block_offset, pos, block->len);
	}
	rec = array_append_space(&w->records);
	rec->offset = offset;
	rec->len = len;
	rec->sum = sum;
	w->covered = next;
	return TRUE;
}

/* The 8x8 bit matrix x (byte k: row k, bit j: column j) transposed
   (byte j: column j, bit k: row k). */
static uint64_t gram_transpose8(uint64_t x)
{
	uint64_t t;

	t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAULL;
	x = x ^ t ^ (t << 7);
	t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCULL;
	x = x ^ t ^ (t << 14);
	t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ULL;
	return x ^ t ^ (t << 28);
}

/* Write the groups of slices of the rows: a pass per
   GRAM_TRANSPOSE_BYTES of groups, each reading all the rows (folded from
   GRAM_FILE_SLICES to hdr->slice_count bits). */
static void gramfile_write_slices(struct sift_gramfile_writer *w,
				  const struct gram_file_header *hdr,
				  uint64_t slices_off)
{
	uint32_t block_count = hdr->block_count, sb = hdr->slice_bytes;
	uint32_t G = hdr->group_slices, groups = hdr->slice_count / G;
	size_t stride = GRAM_GROUP_HEADER + (size_t)G * sb;
	unsigned int per_pass, g0, g1, g, i, r, n, shift = 0;
	unsigned char *strip, *rows;
	uint32_t b0, sum, t0, t1;

	while ((hdr->slice_count << shift) < GRAM_FILE_SLICES)
		shift++;
	per_pass = I_MAX(1, I_MIN(GRAM_TRANSPOSE_BYTES / stride, groups));
	strip = i_malloc(per_pass * stride);
	rows = i_malloc(GRAM_TRANSPOSE_ROWS * GRAM_ROW_BYTES);
	for (g0 = 0; g0 < groups && !w->failed; g0 = g1) {
		g1 = I_MIN(g0 + per_pass, groups);
		/* the rows' bits [t0, t1) fold into these groups */
		t0 = (g0 * G) << shift;
		t1 = (g1 * G) << shift;
		memset(strip, 0, (g1 - g0) * stride);
		for (b0 = 0; b0 < block_count && !w->failed; b0 += n) {
			n = I_MIN(GRAM_TRANSPOSE_ROWS, block_count - b0);
			if (pread_full(w->rows_fd, rows, n * GRAM_ROW_BYTES,
				       (uint64_t)b0 * GRAM_ROW_BYTES) <= 0) {
				w->failed = TRUE;
				w->error = t_strdup_printf(
					"read(%s.rows) failed: %m", w->path);
				break;
			}
			/* eight rows at a time: the same byte of each slice
			   (an 8x8 bit transpose per byte of the rows) */
			if (n % 8 != 0) {
				memset(rows + n * GRAM_ROW_BYTES, 0,
				       (8 - n % 8) * GRAM_ROW_BYTES);
			}
			for (r = 0; r < n; r += 8) {
				size_t at = GRAM_GROUP_HEADER + (b0 + r) / 8;

				for (i = t0 / 8; i < (t1 + 7) / 8; i++) {
					uint64_t x = 0;
					unsigned int k;

					for (k = 0; k < 8; k++) {
						x |= (uint64_t)rows[(r + k) *
							GRAM_ROW_BYTES + i] <<
							(8 * k);
					}
					if (x == 0)
						continue;
					x = gram_transpose8(x);
					for (k = 0; k < 8; k++, x >>= 8) {
						uint32_t t = i * 8 + k, s;

						if ((x & 0xff) == 0 ||
						    t < t0 || t >= t1)
							continue;
						s = t >> shift;
						strip[(s / G - g0) * stride +
						      (s % G) * sb + at] |=
							x & 0xff;
					}
				}
			}
		}
		for (g = g0; g < g1; g++) {
			unsigned char *group = strip + (g - g0) * stride;

			sum = gram_group_sum(hdr->sum, hdr->terms_gen, g,
					     group + GRAM_GROUP_HEADER,
					     stride - GRAM_GROUP_HEADER);
			memcpy(group, &sum, sizeof(sum));
		}
		gramfile_pwrite(w, w->fd, strip, (g1 - g0) * stride,
				slices_off + (uint64_t)g0 * stride);
	}
	i_free(strip);
	i_free(rows);
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
	i_close_fd(&w->rows_fd);
	*ret_r = w->failed ? -1 : 0;
	if (w->failed)
		*error_r = w->error;
	array_free(&w->records);
	array_free(&w->blocks);
	i_free(w->path);
	i_free(w);
}

static uint32_t gram_tables_sum(uint64_t gen, const void *records,
				size_t rec_size, const void *blocks,
				size_t block_size)
{
	uint32_t sum;

	sum = sift_record_sum(gen, rec_size == 0 ? "" : records, rec_size);
	return sift_record_sum(sum, block_size == 0 ? "" : blocks,
			       block_size);
}

static uint64_t gram_slices_offset(const struct gram_file_header *hdr)
{
	uint64_t off = sizeof(*hdr) +
		(uint64_t)hdr->record_count * sizeof(struct sift_gram_record) +
		(uint64_t)hdr->block_count * sizeof(struct gram_file_block);

	return (off + 7) / 8 * 8;
}

/* The size the file must have. */
static uint64_t gram_file_size(const struct gram_file_header *hdr)
{
	if (hdr->block_count == 0)
		return gram_slices_offset(hdr);
	return gram_slices_offset(hdr) +
		(uint64_t)(hdr->slice_count / hdr->group_slices) *
		(GRAM_GROUP_HEADER +
		 (uint64_t)hdr->group_slices * hdr->slice_bytes);
}

static bool gram_power_of_two(uint32_t n)
{
	return n != 0 && (n & (n - 1)) == 0;
}

int sift_gramfile_writer_finish(struct sift_gramfile_writer **_w,
				uint64_t gen, bool *empty_r,
				const char **error_r)
{
	struct sift_gramfile_writer *w = *_w;
	struct gram_file_header hdr;
	size_t rec_size, block_size;
	const void *recs, *blocks;
	int ret;

	*_w = NULL;
	*empty_r = array_count(&w->records) == 0;
	rec_size = array_count(&w->records) * sizeof(struct sift_gram_record);
	block_size = array_count(&w->blocks) * sizeof(struct gram_file_block);
	recs = rec_size == 0 ? NULL : array_front(&w->records);
	blocks = block_size == 0 ? NULL : array_front(&w->blocks);
	i_zero(&hdr);
	memcpy(hdr.magic, GRAM_FILE_MAGIC, sizeof(hdr.magic));
	hdr.terms_gen = gen;
	hdr.covered = w->covered;
	hdr.record_count = array_count(&w->records);
	hdr.block_count = array_count(&w->blocks);
	/* as many bits as the longest block has bytes, in powers of two
	   (GRAM_FILE_SLICES for full blocks) */
	hdr.slice_count = GRAM_MIN_SLICES;
	while (hdr.slice_count < GRAM_FILE_SLICES &&
	       hdr.slice_count < (uint64_t)w->max_block * GRAM_BITS_PER_BYTE)
		hdr.slice_count *= 2;
	hdr.slice_bytes = (hdr.block_count + 7) / 8;
	/* a slice is whole bytes: with one to three blocks the slices
	   would take up to 8 times their bits; such a file is a few
	   blocks a search reads anyway: fewer bits, at most twice theirs */
	while (hdr.slice_count > GRAM_MIN_SLICES &&
	       (uint64_t)hdr.slice_count * hdr.slice_bytes >
	       2 * (uint64_t)hdr.block_count * GRAM_ROW_BYTES)
		hdr.slice_count /= 2;
	hdr.group_slices = 1;
	while (hdr.group_slices < hdr.slice_count &&
	       hdr.group_slices * hdr.slice_bytes < GRAM_MIN_GROUP_BYTES)
		hdr.group_slices *= 2;
	hdr.block_entry_size = sizeof(struct gram_file_block);
	hdr.tables_sum = gram_tables_sum(gen, recs, rec_size, blocks,
					 block_size);
	hdr.sum = sift_record_sum(0, &hdr,
				  offsetof(struct gram_file_header, sum));
	if (rec_size > 0)
		gramfile_pwrite(w, w->fd, recs, rec_size, sizeof(hdr));
	if (block_size > 0) {
		gramfile_pwrite(w, w->fd, blocks, block_size,
				sizeof(hdr) + rec_size);
	}
	if (hdr.block_count > 0)
		gramfile_write_slices(w, &hdr, gram_slices_offset(&hdr));
	else if (!w->failed &&
		 ftruncate(w->fd, gram_slices_offset(&hdr)) < 0) {
		w->failed = TRUE;
		w->error = t_strdup_printf("ftruncate(%s) failed: %m",
					   w->path);
	}
	/* the header last */
	gramfile_pwrite(w, w->fd, &hdr, sizeof(hdr), 0);
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
			    uint64_t limit, int *_fd,
			    bool (*record_ok)(void *context,
					      const struct sift_gram_record *rec),
			    void *context, const char **error_r)
{
	struct gram_file_header hdr;
	const struct sift_gram_record *recs;
	const struct gram_file_block *fblocks;
	struct gram_slices *sl;
	struct stat st;
	buffer_t *tables;
	uint64_t pos, payload_end;
	size_t rec_size, block_size, need;
	unsigned int i, b;
	int fd = *_fd, ret;

	i_assert(filter->covered == 0 && array_count(&filter->blocks) == 0);
	if (fstat(fd, &st) < 0) {
		*error_r = t_strdup_printf("fstat() failed: %m");
		return FALSE;
	}
	ret = pread_full(fd, &hdr, sizeof(hdr), 0);
	if (ret < 0) {
		*error_r = t_strdup_printf("read() failed: %m");
		return FALSE;
	}
	if (ret == 0) {
		*error_r = "too short";
		return FALSE;
	}
	if (memcmp(hdr.magic, GRAM_FILE_MAGIC, sizeof(hdr.magic)) != 0 ||
	    hdr.block_entry_size != sizeof(struct gram_file_block)) {
		*error_r = "another version";
		return FALSE;
	}
	if (sift_record_sum(0, &hdr, offsetof(struct gram_file_header, sum)) !=
	    hdr.sum) {
		*error_r = "checksum mismatch";
		return FALSE;
	}
	if (!gram_power_of_two(hdr.slice_count) ||
	    hdr.slice_count < GRAM_MIN_SLICES ||
	    hdr.slice_count > GRAM_FILE_SLICES ||
	    !gram_power_of_two(hdr.group_slices) ||
	    hdr.group_slices > hdr.slice_count ||
	    hdr.slice_bytes != (hdr.block_count + 7) / 8 ||
	    (uint64_t)st.st_size != gram_file_size(&hdr)) {
		*error_r = "wrong size";
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
	/* what the filter will hold: the blocks, the records, the
	   verified bits and the slices' cache */
	need = (size_t)hdr.block_count * sizeof(struct gram_block) +
		(size_t)hdr.record_count * sizeof(struct gram_saved_record) +
		(hdr.block_count + 7) / 8 +
		(hdr.block_count == 0 ? 0 : gram_slices_size(&hdr));
	if (!sift_gramfilter_reserve(filter, need)) {
		*error_r = "over the filters' budget";
		return FALSE;
	}
	rec_size = (size_t)hdr.record_count * sizeof(struct sift_gram_record);
	block_size = (size_t)hdr.block_count * sizeof(struct gram_file_block);
	tables = buffer_create_dynamic(default_pool, rec_size + block_size + 1);
	ret = pread_full(fd, buffer_append_space_unsafe(tables,
							rec_size + block_size),
			 rec_size + block_size, sizeof(hdr));
	if (ret <= 0) {
		*error_r = ret < 0 ? t_strdup_printf("read() failed: %m") :
			"too short";
		buffer_free(&tables);
		return FALSE;
	}
	recs = tables->data;
	fblocks = CONST_PTR_OFFSET(tables->data, rec_size);
	if (gram_tables_sum(gen, recs, rec_size, fblocks, block_size) !=
	    hdr.tables_sum) {
		*error_r = "checksum mismatch";
		buffer_free(&tables);
		return FALSE;
	}
	/* the records chain from the terms file's header up to covered,
	   and the blocks cut each record's payload, in order */
	pos = SIFT_RECORD_FILE_HEADER_SIZE;
	b = 0;
	for (i = 0; i < hdr.record_count; i++) {
		if (recs[i].offset != pos)
			break;
		pos += SIFT_RECORD_HEADER_SIZE;
		payload_end = pos + recs[i].len;
		while (pos < payload_end && b < hdr.block_count &&
		       fblocks[b].len > 0 &&
		       fblocks[b].len <= payload_end - pos)
			pos += fblocks[b++].len;
		if (pos != payload_end)
			break;
	}
	if (i < hdr.record_count || pos != hdr.covered ||
	    b != hdr.block_count) {
		*error_r = "records don't chain";
		buffer_free(&tables);
		return FALSE;
	}
	/* and the terms file holds those very records */
	for (i = 0; i < hdr.record_count; i++) {
		if (!record_ok(context, &recs[i])) {
			*error_r = "a record differs from the terms file's";
			buffer_free(&tables);
			return FALSE;
		}
	}

	b = 0;
	if (!array_is_created(&filter->saved))
		i_array_init(&filter->saved, hdr.record_count);
	for (i = 0; i < hdr.record_count; i++) {
		struct gram_saved_record *r = array_append_space(&filter->saved);

		r->offset = recs[i].offset;
		r->next = recs[i].offset + SIFT_RECORD_HEADER_SIZE +
			recs[i].len;
		pos = r->offset + SIFT_RECORD_HEADER_SIZE;
		while (pos < r->next) {
			struct gram_block *block =
				array_append_space(&filter->blocks);

			block->offset = pos;
			block->len = fblocks[b].len;
			block->record_next = r->next;
			block->sum = fblocks[b].sum;
			/* (a block too long for a filter is always read) */
			block->nbits = block->len > GRAM_MAX_FILTERED_BLOCK ?
				0 : hdr.slice_count;
			pos += block->len;
			b++;
		}
	}
	buffer_free(&tables);
	/* (the buffer sift_gramfilter_get() sized for filters of the
	   whole file: only records appended later need one now) */
	buffer_free(&filter->bits);
	filter->bits = buffer_create_dynamic(default_pool, 4096);
	filter->loaded_blocks = hdr.block_count;
	filter->block_verified = buffer_create_dynamic(default_pool,
		(hdr.block_count + 7) / 8 + 1);
	buffer_append_zero(filter->block_verified, (hdr.block_count + 7) / 8);
	if (hdr.block_count > 0) {
		sl = i_new(struct gram_slices, 1);
		sl->fd = fd;
		*_fd = -1;
		sl->slices_off = gram_slices_offset(&hdr);
		sl->slice_count = hdr.slice_count;
		sl->group_slices = hdr.group_slices;
		sl->slice_bytes = hdr.slice_bytes;
		sl->group_bytes = hdr.group_slices * hdr.slice_bytes;
		sl->stride = GRAM_GROUP_HEADER + sl->group_bytes;
		sl->groups = hdr.slice_count / hdr.group_slices;
		sl->gen = hdr.terms_gen;
		sl->hdr_sum = hdr.sum;
		sl->slot_of = i_new(uint16_t, sl->groups);
		sl->slots = gram_cache_slots(sl->group_bytes);
		sl->slot_group = i_new(uint32_t, sl->slots);
		sl->cache = i_malloc((size_t)sl->slots * sl->group_bytes);
		sl->readbuf = i_malloc(sl->stride);
		sl->cand = i_malloc(sl->slice_bytes);
		sl->acc = i_malloc(sl->slice_bytes);
		filter->slices = sl;
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

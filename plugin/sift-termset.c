/* sift-termset.c: an open-addressing hash map from byte strings to counts
   that is cleared in constant time (see sift-termset.h). */
#include "lib.h"
#include "array.h"
#include "buffer.h"
#include "sift-termset.h"

struct termset_slot {
	uint64_t hash;
	/* index into entries */
	uint32_t entry;
	/* the slot is used if gen == the set's gen */
	uint32_t gen;
};

struct termset_entry {
	uint32_t offset, len;
	uint32_t wdf;
};

struct sift_termset {
	struct termset_slot *slots;
	size_t cap;		/* a power of two */
	uint32_t gen;
	/* the terms in the order they were added; their bytes back to back
	   in bytes */
	ARRAY(struct termset_entry) entries;
	buffer_t *bytes;
};

/* FNV-1a, folded.  Only this process's table uses it: nothing stored
   depends on it, the terms come out of the set in the order they were
   added.  (A hash of eight bytes at a time was tried: it took more
   instructions for these short terms, doc/measurements.md, "Indexing
   CPU".) */
uint64_t sift_termset_hash(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h ^ (h >> 29);
}

struct sift_termset *sift_termset_new(void)
{
	struct sift_termset *set = i_new(struct sift_termset, 1);

	set->cap = 1024;
	set->slots = i_new(struct termset_slot, set->cap);
	set->gen = 1;
	i_array_init(&set->entries, 512);
	set->bytes = buffer_create_dynamic(default_pool, 16384);
	return set;
}

void sift_termset_free(struct sift_termset **_set)
{
	struct sift_termset *set = *_set;

	if (set == NULL)
		return;
	*_set = NULL;
	buffer_free(&set->bytes);
	array_free(&set->entries);
	i_free(set->slots);
	i_free(set);
}

/* Slots kept across documents; a larger table (grown for one big
   message) is given back at the next clear, as every later lookup would
   otherwise probe a table too large for the CPU's caches. */
#define TERMSET_KEEP_CAP 8192

void sift_termset_clear(struct sift_termset *set)
{
	if (set->cap > TERMSET_KEEP_CAP) {
		i_free(set->slots);
		set->cap = 1024;
		set->slots = i_new(struct termset_slot, set->cap);
		set->gen = 1;
		array_free(&set->entries);
		i_array_init(&set->entries, 512);
		buffer_free(&set->bytes);
		set->bytes = buffer_create_dynamic(default_pool, 16384);
		return;
	}
	array_clear(&set->entries);
	buffer_set_used_size(set->bytes, 0);
	if (++set->gen == 0) {
		/* wrapped after 4 billion documents: really clear */
		memset(set->slots, 0, set->cap * sizeof(*set->slots));
		set->gen = 1;
	}
}

static struct termset_slot *
termset_find(struct sift_termset *set, uint64_t hash, const void *data,
	     size_t len)
{
	size_t idx = hash & (set->cap - 1);
	struct termset_slot *slot;
	const struct termset_entry *entry;

	for (;; idx = (idx + 1) & (set->cap - 1)) {
		slot = &set->slots[idx];
		if (slot->gen != set->gen)
			return slot;
		if (slot->hash != hash)
			continue;
		entry = array_idx(&set->entries, slot->entry);
		if (entry->len == len &&
		    memcmp(CONST_PTR_OFFSET(set->bytes->data, entry->offset),
			   data, len) == 0)
			return slot;
	}
}

static void termset_grow(struct sift_termset *set)
{
	struct termset_slot *old = set->slots;
	size_t old_cap = set->cap;

	set->cap *= 2;
	set->slots = i_new(struct termset_slot, set->cap);
	for (size_t i = 0; i < old_cap; i++) {
		size_t idx;

		if (old[i].gen != set->gen)
			continue;
		for (idx = old[i].hash & (set->cap - 1);
		     set->slots[idx].gen == set->gen;
		     idx = (idx + 1) & (set->cap - 1)) ;
		set->slots[idx] = old[i];
	}
	i_free(old);
}

bool sift_termset_add(struct sift_termset *set, const void *data, size_t len,
		      unsigned int wdf)
{
	uint64_t hash = sift_termset_hash(data, len);
	struct termset_slot *slot;
	struct termset_entry *entry;

	slot = termset_find(set, hash, data, len);
	if (slot->gen == set->gen) {
		entry = array_idx_modifiable(&set->entries, slot->entry);
		/* saturate rather than wrap (4 billion repeats of a word
		   can't fit in a message Dovecot indexes anyway) */
		if (entry->wdf <= (uint32_t)-1 - wdf)
			entry->wdf += wdf;
		return FALSE;
	}
	if ((array_count(&set->entries) + 1) * 2 > set->cap) {
		termset_grow(set);
		slot = termset_find(set, hash, data, len);
	}
	slot->hash = hash;
	slot->entry = array_count(&set->entries);
	slot->gen = set->gen;
	entry = array_append_space(&set->entries);
	entry->offset = set->bytes->used;
	entry->len = len;
	entry->wdf = wdf;
	buffer_append(set->bytes, data, len);
	return TRUE;
}

unsigned int sift_termset_count(const struct sift_termset *set)
{
	return array_count(&set->entries);
}

size_t sift_termset_bytes(const struct sift_termset *set)
{
	return set->bytes->used;
}

void sift_termset_get(const struct sift_termset *set, unsigned int idx,
		      const void **data_r, size_t *len_r,
		      unsigned int *wdf_r)
{
	const struct termset_entry *entry = array_idx(&set->entries, idx);

	*data_r = CONST_PTR_OFFSET(set->bytes->data, entry->offset);
	*len_r = entry->len;
	*wdf_r = entry->wdf;
}

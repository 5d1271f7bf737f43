/* sift-termset.c: an open-addressing hash set of byte strings that is
   cleared in constant time (see sift-termset.h). */
#include "lib.h"
#include "buffer.h"
#include "sift-termset.h"

struct termset_slot {
	uint64_t hash;
	uint32_t offset, len;
	/* the slot is used if gen == the set's gen */
	uint32_t gen;
};

struct sift_termset {
	struct termset_slot *slots;
	size_t cap, count;	/* cap: a power of two */
	uint32_t gen;
	buffer_t *bytes;	/* the terms, back to back */
};

static uint64_t termset_hash(const unsigned char *p, size_t len)
{
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
	i_free(set->slots);
	i_free(set);
}

void sift_termset_clear(struct sift_termset *set)
{
	set->count = 0;
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

	for (;; idx = (idx + 1) & (set->cap - 1)) {
		slot = &set->slots[idx];
		if (slot->gen != set->gen)
			return slot;
		if (slot->hash == hash && slot->len == len &&
		    memcmp(CONST_PTR_OFFSET(set->bytes->data, slot->offset),
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

bool sift_termset_add(struct sift_termset *set, const void *data, size_t len)
{
	uint64_t hash = termset_hash(data, len);
	struct termset_slot *slot;

	slot = termset_find(set, hash, data, len);
	if (slot->gen == set->gen)
		return FALSE;
	if ((set->count + 1) * 2 > set->cap) {
		termset_grow(set);
		slot = termset_find(set, hash, data, len);
	}
	slot->hash = hash;
	slot->offset = set->bytes->used;
	slot->len = len;
	slot->gen = set->gen;
	buffer_append(set->bytes, data, len);
	set->count++;
	return TRUE;
}

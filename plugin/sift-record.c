/* sift-record.c: checksummed records of the side files (see
   sift-record.h for the format and why a reader can trust it). */
#include "lib.h"
#include "str.h"
#include "randgen.h"
#include "write-full.h"
#include "sift-record.h"

#include <fcntl.h>
#include <unistd.h>
#include <sys/stat.h>

#define FILE_MAGIC "SIFTREC1"

#define H_P1 0x9E3779B185EBCA87ULL
#define H_P2 0xC2B2AE3D27D4EB4FULL
#define H_P3 0x165667B19E3779F9ULL
#define H_P4 0x85EBCA77C2B2AE63ULL

struct file_header {
	char magic[8];
	char kind[8];
	uint64_t gen;
	uint32_t reserved;
	uint32_t sum;
};

struct record_header {
	uint32_t len;
	uint32_t sum;
};

struct sift_wfile {
	char *path;
	char kind[8];
	mode_t mode;
	int fd;
	uint64_t gen, len;
	/* a replacement being written to path.tmp */
	bool replacing;
};

/* Up to where a file has verified in this process, so that searches
   don't hash an unchanged file again, nor the records of a file that
   only grew.  Writers only append to a generation (and cut off
   uncommitted bytes beyond the committed length, which is never
   verified), so a larger file of the same inode and generation keeps its
   verified records: only what was appended is hashed.  A change of ctime
   at the same size (damage written in place) or a smaller file is
   verified again from the start.  (Damage written in place and then
   grown by an append, with no search of this process in between, is
   found by the next process or the next writer, which checks every
   file when it opens the index.) */
struct verified {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec ctime;
	uint64_t gen, upto;
};
#define VERIFIED_CACHE_SIZE 16
static struct verified verified_cache[VERIFIED_CACHE_SIZE];
static unsigned int verified_next;

/* ---- state --------------------------------------------------------------- */

static bool parse_file_state(const char *item, const char *name,
			     struct sift_file_state *st, const char **rest_r)
{
	size_t nlen = strlen(name);
	const char *p, *colon;
	char *end;

	if (strncmp(item, name, nlen) != 0 || item[nlen] != ':')
		return FALSE;
	p = item + nlen + 1;
	colon = strchr(p, ':');
	if (colon == NULL)
		return FALSE;
	errno = 0;
	st->gen = strtoull(t_strdup_until(p, colon), &end, 16);
	if (errno != 0 || *end != '\0')
		return FALSE;
	p = colon + 1;
	if (str_parse_uint64(p, &st->len, rest_r) < 0)
		return FALSE;
	return TRUE;
}

int sift_files_state_parse(const char *str, struct sift_files_state *st_r)
{
	const char *const *items = t_strsplit_spaces(str, " ");
	const char *rest;

	i_zero(st_r);
	if (str_array_length(items) != 3 ||
	    !parse_file_state(items[0], "terms", &st_r->terms, &rest) ||
	    (strcmp(rest, ":0") != 0 && strcmp(rest, ":1") != 0))
		return -1;
	st_r->terms_complete = rest[1] == '1';
	if (!parse_file_state(items[1], "opaque", &st_r->opaque, &rest) ||
	    *rest != '\0' ||
	    !parse_file_state(items[2], "gaps", &st_r->gaps, &rest) ||
	    *rest != '\0')
		return -1;
	return 0;
}

const char *sift_files_state_str(const struct sift_files_state *st)
{
	return t_strdup_printf("terms:%llx:%llu:%d opaque:%llx:%llu "
			       "gaps:%llx:%llu",
			       (unsigned long long)st->terms.gen,
			       (unsigned long long)st->terms.len,
			       st->terms_complete ? 1 : 0,
			       (unsigned long long)st->opaque.gen,
			       (unsigned long long)st->opaque.len,
			       (unsigned long long)st->gaps.gen,
			       (unsigned long long)st->gaps.len);
}

/* ---- checksum ------------------------------------------------------------ */

static inline uint64_t rotl64(uint64_t x, unsigned int r)
{
	return (x << r) | (x >> (64 - r));
}

static inline uint64_t lane(uint64_t acc, uint64_t v)
{
	acc += v * H_P2;
	acc = rotl64(acc, 31);
	return acc * H_P1;
}

static inline uint64_t load64(const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Four independent multiply-rotate lanes over 32-byte stripes, then the
   tail; not cryptographic, only meant to catch damage (a flipped bit
   anywhere changes the result). */
uint32_t sift_record_sum(uint64_t seed, const void *data, size_t len)
{
	const unsigned char *p = data, *end = p + len;
	uint64_t a = seed + H_P1 + H_P2, b = seed + H_P2, c = seed;
	uint64_t d = seed - H_P1, h;

	while (end - p >= 32) {
		a = lane(a, load64(p));
		b = lane(b, load64(p + 8));
		c = lane(c, load64(p + 16));
		d = lane(d, load64(p + 24));
		p += 32;
	}
	h = rotl64(a, 1) + rotl64(b, 7) + rotl64(c, 12) + rotl64(d, 18);
	h += (uint64_t)len;
	while (end - p >= 8) {
		h ^= lane(0, load64(p));
		h = rotl64(h, 27) * H_P1 + H_P4;
		p += 8;
	}
	while (p < end) {
		h ^= (uint64_t)*p * H_P3;
		h = rotl64(h, 11) * H_P1;
		p++;
	}
	h ^= h >> 33;
	h *= H_P2;
	h ^= h >> 29;
	h *= H_P3;
	h ^= h >> 32;
	return (uint32_t)h;
}

static uint64_t record_seed(uint64_t gen, uint64_t offset, uint32_t len)
{
	return gen + offset * H_P1 + (uint64_t)len * H_P2;
}

uint32_t sift_record_checksum(uint64_t gen, uint64_t offset,
			      const void *data, uint32_t len)
{
	return sift_record_sum(record_seed(gen, offset, len), data, len);
}

static void file_header_build(struct file_header *hdr, const char *kind,
			      uint64_t gen)
{
	i_zero(hdr);
	memcpy(hdr->magic, FILE_MAGIC, sizeof(hdr->magic));
	memcpy(hdr->kind, kind, I_MIN(strlen(kind), sizeof(hdr->kind)));
	hdr->gen = gen;
	hdr->sum = sift_record_sum(0, hdr, offsetof(struct file_header, sum));
}

/* ---- reader -------------------------------------------------------------- */

/* The entry of this file generation whose verified records it still
   holds unchanged: the same size and ctime, or a larger size (appends). */
static struct verified *verified_find(const struct stat *st, uint64_t gen)
{
	for (unsigned int i = 0; i < VERIFIED_CACHE_SIZE; i++) {
		struct verified *v = &verified_cache[i];

		if (v->gen != gen || v->dev != st->st_dev ||
		    v->ino != st->st_ino || v->upto == 0)
			continue;
		if (v->size == st->st_size &&
		    v->ctime.tv_sec == st->st_ctim.tv_sec &&
		    v->ctime.tv_nsec == st->st_ctim.tv_nsec)
			return v;
		if (st->st_size > v->size)
			return v;
	}
	return NULL;
}

static void verified_set(const struct stat *st, uint64_t gen, uint64_t upto)
{
	struct verified *v = verified_find(st, gen);

	if (v == NULL) {
		v = &verified_cache[verified_next];
		verified_next = (verified_next + 1) % VERIFIED_CACHE_SIZE;
		v->dev = st->st_dev;
		v->ino = st->st_ino;
		v->gen = gen;
		v->upto = 0;
	}
	/* (the file as it was when these records verified) */
	v->size = st->st_size;
	v->ctime = st->st_ctim;
	if (upto > v->upto)
		v->upto = upto;
}

void sift_record_forget_verified(void)
{
	memset(verified_cache, 0, sizeof(verified_cache));
}

/* Check the header and walk the record chain of [0, len), verifying the
   checksums of records starting at or after verify_from.  Records before
   verify_from (a record boundary, up to where this unchanged file was
   checked before) are not walked again.  Returns NULL or what is
   wrong. */
static const char *
check_file(struct sift_map *map, const char *kind,
	   uint64_t gen, uint64_t len, uint64_t verify_from)
{
	const unsigned char *p;
	struct file_header fh, want;
	struct record_header rh;
	uint64_t pos;

	if (map->size < len)
		return t_strdup_printf("%llu bytes, %llu committed",
				       (unsigned long long)map->size,
				       (unsigned long long)len);
	if (len < sizeof(fh))
		return "shorter than its header";
	if ((p = sift_map_get(map, 0, sizeof(fh))) == NULL)
		return NULL;
	memcpy(&fh, p, sizeof(fh));
	file_header_build(&want, kind, fh.gen);
	if (memcmp(&fh, &want, sizeof(fh)) != 0)
		return "invalid header";
	if (fh.gen != gen)
		return t_strdup_printf("generation %llx, %llx committed",
				       (unsigned long long)fh.gen,
				       (unsigned long long)gen);
	pos = sizeof(fh);
	if (verify_from != UINT64_MAX && verify_from > pos)
		pos = verify_from;
	/* (a read error ends the walk: the caller sees map->error) */
	for (; pos < len; ) {
		if (len - pos < sizeof(rh))
			return t_strdup_printf("torn record at %llu",
					       (unsigned long long)pos);
		if ((p = sift_map_get(map, pos, sizeof(rh))) == NULL)
			return NULL;
		memcpy(&rh, p, sizeof(rh));
		if (rh.len > SIFT_RECORD_MAX_SIZE ||
		    rh.len > len - pos - sizeof(rh))
			return t_strdup_printf("invalid record length at %llu",
					       (unsigned long long)pos);
		if (pos >= verify_from) {
			/* the whole record in the window (moved to it if it
			   straddles the window's end) */
			if ((p = sift_map_get(map, pos,
					      sizeof(rh) + rh.len)) == NULL)
				return NULL;
			if (sift_record_checksum(gen, pos, p + sizeof(rh),
						 rh.len) != rh.sum)
				return t_strdup_printf(
					"checksum mismatch at %llu",
					(unsigned long long)pos);
		}
		pos += sizeof(rh) + rh.len;
	}
	return NULL;
}

int sift_rfile_open(const char *path, const char *kind,
		    const struct sift_file_state *st, bool verify_all,
		    struct sift_rfile *file_r, const char **error_r)
{
	const char *problem;

	i_zero(file_r);
	if (st->gen == 0)
		return 1;
	/* (stat before mapping: a change after it only makes the cache
	   entry stale, never lets unverified bytes pass) */
	if (stat(path, &file_r->st) < 0) {
		if (errno == ENOENT) {
			*error_r = t_strdup_printf("%s is missing", path);
			return 0;
		}
		*error_r = t_strdup_printf("stat(%s) failed: %m", path);
		return -1;
	}
	if (sift_map_file(path, &file_r->map, error_r) < 0)
		return -1;
	file_r->path = i_strdup(path);
	i_assert(strlen(kind) < sizeof(file_r->kind));
	memcpy(file_r->kind, kind, strlen(kind));
	file_r->gen = st->gen;
	file_r->len = st->len;
	if (file_r->map.size < st->len) {
		problem = t_strdup_printf("%llu bytes, %llu committed",
					  (unsigned long long)file_r->map.size,
					  (unsigned long long)st->len);
	} else {
		/* Read nothing past the committed length: the bytes after
		   it are a writer's uncommitted appends (in progress, or
		   left by a killed one), which the next writer cuts off
		   while this reader may still be reading.  A read window
		   reaching into them would then come up short and fail
		   the search. */
		file_r->map.size = st->len;
		/* the header now, the records with sift_rfile_check() */
		problem = check_file(&file_r->map, kind, st->gen,
				     I_MIN(st->len,
					   SIFT_RECORD_FILE_HEADER_SIZE),
				     UINT64_MAX);
		if (file_r->map.error != NULL) {
			*error_r = t_strdup(file_r->map.error);
			sift_rfile_close(file_r);
			return -1;
		}
	}
	if (problem != NULL) {
		*error_r = t_strdup_printf("%s is damaged: %s", path, problem);
		sift_rfile_close(file_r);
		return 0;
	}
	if (verify_all && !sift_rfile_check(file_r, error_r)) {
		/* (a read error is not damage) */
		int ret = file_r->map.error != NULL ? -1 : 0;

		sift_rfile_close(file_r);
		return ret;
	}
	return 1;
}

/* Verify the file's records from offset from on; FALSE with *error_r
   when the file can't be read (not damage: nothing is verified, the
   caller fails) or is damaged. */
static bool rfile_check_from(struct sift_rfile *file, uint64_t from,
			     const char **error_r)
{
	const char *problem;

	problem = check_file(&file->map, file->kind, file->gen, file->len,
			     from);
	if (file->map.error != NULL) {
		*error_r = t_strdup(file->map.error);
		return FALSE;
	}
	if (problem != NULL) {
		*error_r = t_strdup_printf("%s is damaged: %s", file->path,
					   problem);
		return FALSE;
	}
	return TRUE;
}

bool sift_rfile_check(struct sift_rfile *file, const char **error_r)
{
	const struct verified *v;
	uint64_t verify_from = 0;

	if (file->checked || file->gen == 0)
		return TRUE;
	if ((v = verified_find(&file->st, file->gen)) != NULL)
		verify_from = v->upto;
	if (!rfile_check_from(file, verify_from, error_r))
		return FALSE;
	verified_set(&file->st, file->gen, file->len);
	file->checked = TRUE;
	return TRUE;
}

uint64_t sift_rfile_verified_upto(const struct sift_rfile *file)
{
	const struct verified *v;

	if (file->checked || file->gen == 0)
		return file->len;
	if ((v = verified_find(&file->st, file->gen)) != NULL &&
	    v->upto > SIFT_RECORD_FILE_HEADER_SIZE)
		return I_MIN(v->upto, file->len);
	return SIFT_RECORD_FILE_HEADER_SIZE;
}

void sift_rfile_set_checked(struct sift_rfile *file)
{
	if (file->checked || file->gen == 0)
		return;
	verified_set(&file->st, file->gen, file->len);
	file->checked = TRUE;
}

bool sift_rfile_check_after(struct sift_rfile *file, uint64_t from,
			    const char **error_r)
{
	if (file->checked || file->gen == 0)
		return TRUE;
	return rfile_check_from(file, I_MAX(from, SIFT_RECORD_FILE_HEADER_SIZE),
				error_r);
}

void sift_rfile_close(struct sift_rfile *file)
{
	sift_unmap(&file->map);
	i_free(file->path);
	i_zero(file);
}

bool sift_rfile_next(struct sift_rfile *file, uint64_t *pos,
		     uint64_t *offset_r, const unsigned char **data_r,
		     uint32_t *len_r)
{
	struct record_header rh;
	const unsigned char *p;

	if (*pos < SIFT_RECORD_FILE_HEADER_SIZE)
		*pos = SIFT_RECORD_FILE_HEADER_SIZE;
	if (*pos + sizeof(rh) > file->len)
		return FALSE;
	if ((p = sift_map_get(&file->map, *pos, sizeof(rh))) == NULL)
		return FALSE;
	memcpy(&rh, p, sizeof(rh));
	/* (a chain not checked yet ends at the first record that doesn't
	   fit) */
	if (rh.len > file->len - *pos - sizeof(rh))
		return FALSE;
	/* the whole record, moving the window to it if it straddles the
	   window's end */
	if ((p = sift_map_get(&file->map, *pos, sizeof(rh) + rh.len)) == NULL)
		return FALSE;
	*offset_r = *pos;
	*data_r = p + sizeof(rh);
	*len_r = rh.len;
	*pos += sizeof(rh) + rh.len;
	return TRUE;
}

const unsigned char *
sift_rfile_get(struct sift_rfile *file, uint64_t offset, size_t len)
{
	if (offset > file->len || len > file->len - offset)
		return NULL;
	return sift_map_get(&file->map, offset, len);
}

const unsigned char *
sift_rfile_get_span(struct sift_rfile *file, uint64_t offset, size_t len)
{
	if (offset > file->len || len > file->len - offset)
		return NULL;
	return sift_map_get_span(&file->map, offset, len);
}

const char *sift_rfile_error(const struct sift_rfile *file)
{
	return file->map.error;
}

bool sift_rfile_verify(struct sift_rfile *file, uint64_t offset)
{
	struct record_header rh;
	const unsigned char *p;

	if ((p = sift_rfile_get(file, offset, sizeof(rh))) == NULL)
		return FALSE;
	memcpy(&rh, p, sizeof(rh));
	if ((p = sift_rfile_get(file, offset, sizeof(rh) + rh.len)) == NULL)
		return FALSE;
	return sift_record_checksum(file->gen, offset, p + sizeof(rh),
				    rh.len) == rh.sum;
}

/* ---- writer -------------------------------------------------------------- */

static struct sift_wfile *
wfile_alloc(const char *path, const char *kind, mode_t mode)
{
	struct sift_wfile *file = i_new(struct sift_wfile, 1);

	file->path = i_strdup(path);
	memcpy(file->kind, kind, I_MIN(strlen(kind), sizeof(file->kind)));
	file->mode = mode;
	file->fd = -1;
	return file;
}

int sift_wfile_replace_begin(const char *path, const char *kind, mode_t mode,
			     struct sift_wfile **file_r, const char **error_r)
{
	struct sift_wfile *file = wfile_alloc(path, kind, mode);
	struct file_header fh;

	do {
		random_fill(&file->gen, sizeof(file->gen));
	} while (file->gen == 0);
	file->replacing = TRUE;
	file_header_build(&fh, kind, file->gen);
	if (sift_replace_file_begin(path, mode, &file->fd, error_r) < 0) {
		sift_wfile_close(&file);
		return -1;
	}
	if (write_full(file->fd, &fh, sizeof(fh)) < 0) {
		*error_r = t_strdup_printf("write(%s.tmp) failed: %m", path);
		(void)sift_replace_file_end(path, &file->fd, FALSE, error_r);
		sift_wfile_close(&file);
		return -1;
	}
	file->len = sizeof(fh);
	*file_r = file;
	return 0;
}

int sift_wfile_replace_end(struct sift_wfile *file, bool ok,
			   const char **error_r)
{
	int fd;

	i_assert(file->replacing);
	file->replacing = FALSE;
	/* keep appending to the new file: reopen it after the rename */
	if (sift_replace_file_end(file->path, &file->fd, ok, error_r) < 0)
		return -1;
	fd = open(file->path, O_RDWR);
	if (fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", file->path);
		return -1;
	}
	file->fd = fd;
	return 0;
}

int sift_wfile_open(const char *path, const char *kind, mode_t mode,
		    const struct sift_file_state *st,
		    struct sift_wfile **file_r, const char **error_r)
{
	struct sift_wfile *file;
	struct sift_rfile r;
	int ret;

	*file_r = NULL;
	if (st->gen == 0) {
		/* nothing committed: start a new file */
		if (sift_wfile_replace_begin(path, kind, mode, &file,
					     error_r) < 0)
			return -1;
		if (sift_wfile_replace_end(file, TRUE, error_r) < 0) {
			sift_wfile_close(&file);
			return -1;
		}
		*file_r = file;
		return 1;
	}
	ret = sift_rfile_open(path, kind, st, TRUE, &r, error_r);
	sift_rfile_close(&r);
	if (ret <= 0)
		return ret;
	file = wfile_alloc(path, kind, mode);
	file->gen = st->gen;
	file->len = st->len;
	file->fd = open(path, O_RDWR);
	if (file->fd == -1) {
		*error_r = t_strdup_printf("open(%s) failed: %m", path);
		sift_wfile_close(&file);
		return -1;
	}
	/* Cut uncommitted appends.  Readers read only committed bytes,
	   which are never beyond this. */
	if (ftruncate(file->fd, st->len) < 0) {
		*error_r = t_strdup_printf("ftruncate(%s) failed: %m", path);
		sift_wfile_close(&file);
		return -1;
	}
	*file_r = file;
	return 1;
}

void sift_wfile_close(struct sift_wfile **_file)
{
	struct sift_wfile *file = *_file;
	const char *error;

	if (file == NULL)
		return;
	*_file = NULL;
	if (file->replacing)
		(void)sift_replace_file_end(file->path, &file->fd, FALSE,
					    &error);
	if (file->fd != -1)
		i_close_fd(&file->fd);
	i_free(file->path);
	i_free(file);
}

int sift_wfile_append(struct sift_wfile *file, const void *data, size_t len,
		      const void *data2, size_t len2, const char **error_r)
{
	struct record_header rh;
	unsigned char *buf;
	size_t total = len + len2;
	int ret;

	i_assert(total <= SIFT_RECORD_MAX_SIZE);
	buf = i_malloc(sizeof(rh) + total);
	memcpy(buf + sizeof(rh), data, len);
	if (len2 > 0)
		memcpy(buf + sizeof(rh) + len, data2, len2);
	rh.len = total;
	rh.sum = sift_record_checksum(file->gen, file->len, buf + sizeof(rh),
				      total);
	memcpy(buf, &rh, sizeof(rh));
	ret = pwrite_full(file->fd, buf, sizeof(rh) + total, file->len);
	i_free(buf);
	if (ret < 0) {
		*error_r = t_strdup_printf("write(%s%s) failed: %m", file->path,
					   file->replacing ? ".tmp" : "");
		return -1;
	}
	file->len += sizeof(rh) + total;
	return 0;
}

int sift_wfile_sync(struct sift_wfile *file, bool do_fsync,
		    const char **error_r)
{
	if (do_fsync && fdatasync(file->fd) < 0) {
		*error_r = t_strdup_printf("fdatasync(%s) failed: %m",
					   file->path);
		return -1;
	}
	return 0;
}

void sift_wfile_state(const struct sift_wfile *file,
		      struct sift_file_state *st_r)
{
	st_r->gen = file->gen;
	st_r->len = file->len;
}

const char *sift_wfile_path(const struct sift_wfile *file)
{
	return file->path;
}

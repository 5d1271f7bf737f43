/* Helpers shared by the unit tests: header only, static functions (each
   test program is one file). */
#ifndef SIFT_TEST_UTIL_H
#define SIFT_TEST_UTIL_H

#include <dirent.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fixed pseudo-random sequence (xorshift32): reproducible failures.
   rng_seed() restarts it (seed != 0). */
static inline uint32_t *rng_state(void)
{
	static uint32_t state = 2463534242U;

	return &state;
}

static inline void rng_seed(uint32_t seed)
{
	*rng_state() = seed;
}

static inline uint32_t rng_next(void)
{
	uint32_t *state = rng_state();

	*state ^= *state << 13;
	*state ^= *state >> 17;
	*state ^= *state << 5;
	return *state;
}

/* Remove path and everything under it, even directories a test made
   read-only; failures are logged. */
static inline void rm_rf(const char *path)
{
	struct dirent *d;
	struct stat st;
	DIR *dir;

	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		if (unlink(path) < 0)
			i_error("unlink(%s) failed: %m", path);
		return;
	}
	(void)chmod(path, 0700);
	dir = opendir(path);
	if (dir == NULL) {
		i_error("opendir(%s) failed: %m", path);
		return;
	}
	while ((d = readdir(dir)) != NULL) {
		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		T_BEGIN {
			rm_rf(t_strconcat(path, "/", d->d_name, NULL));
		} T_END;
	}
	(void)closedir(dir);
	if (rmdir(path) < 0)
		i_error("rmdir(%s) failed: %m", path);
}

/* A test program's main(): test_run() between lib_init() and
   lib_deinit(); with a tmp_dir (a mkdtemp() template), in that new
   directory, removed afterwards.  Needs test-common.h. */
static inline int
sift_test_main(void (*const test_functions[])(void), char *tmp_dir)
{
	int ret;

	lib_init();
	if (tmp_dir != NULL && mkdtemp(tmp_dir) == NULL)
		i_fatal("mkdtemp(%s) failed: %m", tmp_dir);
	ret = test_run(test_functions);
	if (tmp_dir != NULL)
		rm_rf(tmp_dir);
	lib_deinit();
	return ret;
}

#endif

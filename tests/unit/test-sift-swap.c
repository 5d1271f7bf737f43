/* Unit tests for plugin/sift-swap.c: a new copy of a directory put in
   place of the old one, by exchange (where configure found renameat2)
   and by renames (the portable way), and what a failure leaves. */

#include "lib.h"
#include "test-common.h"
#include "sift-test-util.h"
#include "sift-config.h"
#include "sift-swap.h"

#include <stdio.h>
#include <fcntl.h>
#include <sys/stat.h>

static const char *base;

static void make_dir_with(const char *dir, const char *marker)
{
	int fd;

	if (mkdir(dir, 0700) < 0)
		i_fatal("mkdir(%s) failed: %m", dir);
	fd = open(t_strconcat(dir, "/", marker, NULL), O_CREAT | O_WRONLY,
		  0600);
	if (fd < 0)
		i_fatal("open() failed: %m");
	i_close_fd(&fd);
}

static bool has(const char *dir, const char *marker)
{
	return access(t_strconcat(dir, "/", marker, NULL), F_OK) == 0;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

static void test_swap_way(bool force_renames)
{
	const char *path = t_strconcat(base, "/index", NULL);
	const char *new_path = t_strconcat(base, "/index.compact", NULL);
	const char *error = NULL;
	int ret;

	test_begin(force_renames ? "swap by renames" : "swap (this system's way)");
	rm_rf(path);
	rm_rf(new_path);
	rm_rf(t_strconcat(path, ".old", NULL));
	make_dir_with(path, "old");
	make_dir_with(new_path, "new");
	ret = sift_swap_dirs(new_path, path, force_renames, &error);
	test_assert(ret >= 0);
	test_assert(has(path, "new") && !has(path, "old"));
	if (ret == 1) {
		/* exchanged: the old copy is the caller's to remove */
		test_assert(!force_renames && SIFT_HAVE_RENAMEAT2);
		test_assert(has(new_path, "old"));
	} else {
		test_assert(!exists(new_path));
	}
	test_assert(!exists(t_strconcat(path, ".old", NULL)));

	/* a leftover path.old (a crash between the renames) is no
	   obstacle */
	if (force_renames) {
		rm_rf(new_path);
		make_dir_with(new_path, "newer");
		make_dir_with(t_strconcat(path, ".old", NULL), "stale");
		test_assert(sift_swap_dirs(new_path, path, TRUE, &error) == 0);
		test_assert(has(path, "newer"));
		test_assert(!exists(t_strconcat(path, ".old", NULL)));
	}

	/* no new copy: an error, and the index is untouched */
	rm_rf(new_path);
	error = NULL;
	test_assert(sift_swap_dirs(new_path, path, force_renames, &error) < 0);
	test_assert(error != NULL && strstr(error, new_path) != NULL);
	test_assert(exists(path));
	test_assert(!exists(t_strconcat(path, ".old", NULL)));
	test_end();
}

static void test_swap_exchange(void)
{
	test_swap_way(FALSE);
}

static void test_swap_renames(void)
{
	test_swap_way(TRUE);
}

int main(void)
{
	static void (*const test_functions[])(void) = {
		test_swap_exchange,
		test_swap_renames,
		NULL
	};
	char tmpl[] = "/tmp/test-sift-swap.XXXXXX";
	int ret;

	lib_init();
	if (mkdtemp(tmpl) == NULL)
		i_fatal("mkdtemp() failed: %m");
	base = tmpl;
	ret = test_run(test_functions);
	rm_rf(base);
	lib_deinit();
	return ret;
}

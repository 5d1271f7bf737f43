# SIFT_DOVECOT_UNICODE: which Unicode version Dovecot's own search
# normalization (uni_utf8_to_decomposed_titlecase) was generated from.
# Dovecot 2.3 ships tables from Unicode 9/10, 2.4 generates them at build
# time (Unicode 16 on Debian 13).  fts-sift must apply ICU's mappings only
# to characters Dovecot knows, so it needs that version.  The probe runs
# Dovecot's function on every code point and takes the newest Unicode age
# (per ICU) of any character it maps or maps to: characters assigned after
# that version have no mapping in Dovecot.  A character Dovecot maps but
# ICU calls unassigned means ICU is older than Dovecot's tables: refused,
# as fts-sift would then miss matches.
#
# Sets SIFT_DOVECOT_UNICODE_MAJOR (AC_SUBST); the variable may be given to
# configure to skip the probe (cross builds).
AC_DEFUN([SIFT_DOVECOT_UNICODE],[
  AC_ARG_VAR([SIFT_DOVECOT_UNICODE_MAJOR],
    [Unicode major version of Dovecot's normalization tables (default: probed)])
  AS_IF([test -z "$SIFT_DOVECOT_UNICODE_MAJOR"], [
    AC_MSG_CHECKING([the Unicode version of Dovecot's search normalization])
    AC_LANG_PUSH([C])
    sift_save_CPPFLAGS=$CPPFLAGS
    sift_save_LIBS=$LIBS
    sift_save_CFLAGS=$CFLAGS
    CPPFLAGS="$CPPFLAGS -DHAVE_CONFIG_H $LIBDOVECOT_INCLUDE $ICU_CFLAGS"
    CFLAGS=`echo "$CFLAGS" | sed 's/-Werror[[^ ]]*//g'`
    LIBS="$LIBDOVECOT $ICU_LIBS -Wl,-rpath,$dovecot_pkglibdir $LIBS"
    AC_RUN_IFELSE([AC_LANG_SOURCE([[
#include "lib.h"
#include "str.h"
#include "unichar.h"
#include <stdio.h>
#include <unicode/uchar.h>

static unsigned int age_major(UChar32 c, unsigned int *unknown)
{
	UVersionInfo age;

	u_charAge(c, age);
	if (age[0] == 0 && age[1] == 0)
		(*unknown)++;
	return age[0];
}

int main(void)
{
	string_t *out;
	unsigned int newest = 0, unknown = 0, first_unknown = 0, major;
	UChar32 c;
	FILE *f;

	lib_init();
	out = str_new(default_pool, 128);
	for (c = 0x80; c <= 0x10ffff; c++) {
		unsigned char in[4];
		size_t n, i;
		unsigned int before = unknown;

		if (c >= 0xd800 && c <= 0xdfff)
			continue;
		if (c < 0x800) {
			in[0] = 0xc0 | (c >> 6); in[1] = 0x80 | (c & 0x3f); n = 2;
		} else if (c < 0x10000) {
			in[0] = 0xe0 | (c >> 12);
			in[1] = 0x80 | ((c >> 6) & 0x3f);
			in[2] = 0x80 | (c & 0x3f); n = 3;
		} else {
			in[0] = 0xf0 | (c >> 18);
			in[1] = 0x80 | ((c >> 12) & 0x3f);
			in[2] = 0x80 | ((c >> 6) & 0x3f);
			in[3] = 0x80 | (c & 0x3f); n = 4;
		}
		str_truncate(out, 0);
		if (uni_utf8_to_decomposed_titlecase(in, n, out) < 0)
			continue;
		if (str_len(out) == n && memcmp(str_data(out), in, n) == 0)
			continue;
		major = age_major(c, &unknown);
		if (major > newest)
			newest = major;
		for (i = 0; i < str_len(out); ) {
			unichar_t m;
			int len = uni_utf8_get_char_n(str_data(out) + i,
						      str_len(out) - i, &m);
			if (len <= 0)
				break;
			major = age_major((UChar32)m, &unknown);
			if (major > newest)
				newest = major;
			i += len;
		}
		if (unknown != before && first_unknown == 0)
			first_unknown = c;
	}
	f = fopen("conftest.unicode", "w");
	if (f == NULL)
		return 1;
	fprintf(f, "%u %u %04X\n", newest, unknown, first_unknown);
	fclose(f);
	return 0;
}
]])],
      [read sift_uni_newest sift_uni_unknown sift_uni_first < conftest.unicode],
      [AC_MSG_ERROR([could not run the Unicode probe against libdovecot (see config.log); set SIFT_DOVECOT_UNICODE_MAJOR])],
      [AC_MSG_ERROR([cross-compiling: set SIFT_DOVECOT_UNICODE_MAJOR])])
    rm -f conftest.unicode
    CPPFLAGS=$sift_save_CPPFLAGS
    LIBS=$sift_save_LIBS
    CFLAGS=$sift_save_CFLAGS
    AC_LANG_POP([C])
    AS_IF([test "$sift_uni_unknown" != 0], [
      AC_MSG_RESULT([newer than ICU's])
      AC_MSG_ERROR([Dovecot's normalization tables map U+$sift_uni_first (and $sift_uni_unknown more mappings) to or from characters this ICU does not know: ICU is older than the Unicode version Dovecot was built with. fts-sift would miss matches; build it with a newer ICU (libicu-dev).])
    ])
    SIFT_DOVECOT_UNICODE_MAJOR=$sift_uni_newest
    AC_MSG_RESULT([$SIFT_DOVECOT_UNICODE_MAJOR (newest character with a mapping)])
  ])
  AC_SUBST([SIFT_DOVECOT_UNICODE_MAJOR])
])

# SIFT_DEFAULT_DOVECOT_DIR: let configure find a distribution's dovecot-config
# without --with-dovecot.  Dovecot's own DC_DOVECOT defaults to
# $prefix/lib/dovecot (/usr/local/...), which is never right for a packaged
# Dovecot; if the user gave no --with-dovecot, pick the first directory that
# holds a dovecot-config.  Must be expanded before DC_DOVECOT.
AC_DEFUN([SIFT_DEFAULT_DOVECOT_DIR],[
  AS_IF([test "x${with_dovecot+set}" != xset], [
    for sift_dir in /usr/lib/dovecot /usr/lib64/dovecot /usr/local/lib/dovecot; do
      AS_IF([test -f "$sift_dir/dovecot-config"], [
        with_dovecot=$sift_dir
        break
      ])
    done
  ])
])

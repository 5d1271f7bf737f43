#!/bin/sh
# An attachment decoder for Dovecot's fts_decoder, used by the tests
# (test_attachments.py) and usable as a starting point by a site.
#
# Dovecot's "script" service runs it once per attachment: the part's
# content type is $1, the attachment (transfer encoding already removed)
# comes on stdin, and its text goes to stdout as UTF-8.  Run without an
# argument it lists what it handles, one "<content type> <extension>..."
# per line, and an empty line at the end; Dovecot maps application/octet-stream parts to a type by
# their file name's extension.
#
# Dovecot 2.3 used to ship an example, decode2text.sh; it was removed
# (upstream, and by Debian as CVE-2025-59031), so this is our own.  It
# takes nothing from the mail as a command or a pattern: the content type
# is only compared with fixed strings, the attachment goes to a private
# temporary directory, and the converters read it from there.
#
#   service decode2text {
#     executable = script /usr/local/libexec/dovecot/sift-decode2text.sh
#     user = dovecot
#     unix_listener decode2text {
#       mode = 0666
#     }
#   }
#   plugin {
#     fts_decoder = decode2text
#   }
#
# Converters (Debian): pdftotext (poppler-utils), unzip, and Dovecot's own
# xml2text (dovecot-core) for the XML of .docx and .odt.
set -u
XML2TEXT=${SIFT_XML2TEXT:-/usr/lib/dovecot/xml2text}

case "${1:-}" in
"")
	echo "application/pdf pdf"
	echo "application/x-pdf pdf"
	echo "application/vnd.openxmlformats-officedocument.wordprocessingml.document docx"
	echo "application/vnd.oasis.opendocument.text odt"
	echo ""
	exit 0
	;;
application/pdf | application/x-pdf)
	kind=pdf ;;
application/vnd.openxmlformats-officedocument.wordprocessingml.document)
	kind=docx ;;
application/vnd.oasis.opendocument.text)
	kind=odt ;;
*)
	echo "sift-decode2text: content type not handled" >&2
	exit 1
	;;
esac

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
cat > "$tmp/in" || exit 1

# A document the converter can't read has no text: exit 0 with no output
# (an error would only make Dovecot log it and index the message anyway).
case $kind in
pdf)
	pdftotext -q -enc UTF-8 "$tmp/in" - 2>/dev/null ;;
docx)
	unzip -p "$tmp/in" word/document.xml 2>/dev/null | "$XML2TEXT" ;;
odt)
	unzip -p "$tmp/in" content.xml 2>/dev/null | "$XML2TEXT" ;;
esac
exit 0

# pipelines/md2html.awk — the small Markdown subset of pcnn reports as one HTML page.
#
#   awk -v title='pcnn run x' -f pipelines/md2html.awk report.md > report.html
#
# Handles what pipelines/report.sh and pcnn-argmax --report write: ATX headings (#..######),
# paragraphs, "- " lists, pipe tables (a header row, a |---|---:| row giving the alignment),
# ``` fenced code, and inline `code`, **bold**, ![alt](src) images and [text](href) links.
# Text is HTML-escaped; nothing else is interpreted.

function esc(s) {
	gsub(/&/, "\\&amp;", s); gsub(/</, "\\&lt;", s); gsub(/>/, "\\&gt;", s); gsub(/"/, "\\&quot;", s)
	return s
}

# Inline markup of one escaped line. Code spans first, so their text stays literal.
# (rest() and bold() call match() too: RSTART and RLENGTH are saved before they run.)
function inline(s,    out, at, len) {
	out = ""
	while (match(s, /`[^`]+`/)) {
		at = RSTART; len = RLENGTH
		out = out rest(substr(s, 1, at - 1)) "<code>" substr(s, at + 1, len - 2) "</code>"
		s = substr(s, at + len)
	}
	return out rest(s)
}
function rest(s,    out, m, alt, src, i, at, len) {
	out = ""
	while (match(s, /!?\[[^]]*\]\([^) ]+\)/)) {
		at = RSTART; len = RLENGTH
		m = substr(s, at, len)
		out = out bold(substr(s, 1, at - 1))
		s = substr(s, at + len)
		i = index(m, "](")
		src = substr(m, i + 2, length(m) - i - 2)
		if (substr(m, 1, 1) == "!") {
			alt = substr(m, 3, i - 3)
			out = out "<img src=\"" src "\" alt=\"" alt "\">"
		} else {
			out = out "<a href=\"" src "\">" bold(substr(m, 2, i - 2)) "</a>"
		}
	}
	return out bold(s)
}
function bold(s) {
	while (match(s, /\*\*[^*]+\*\*/))
		s = substr(s, 1, RSTART - 1) "<strong>" substr(s, RSTART + 2, RLENGTH - 4) "</strong>" substr(s, RSTART + RLENGTH)
	return s
}

function close_blocks() {
	if (para) { print "<p>" para "</p>"; para = "" }
	if (inlist) { print "</ul>"; inlist = 0 }
	if (intable) { print "</tbody></table>"; intable = 0 }
}

# Splits a table row "| a | b |" into cells[1..n]; returns n.
function cells_of(line, cells,    n, i) {
	sub(/^[ \t]*\|/, "", line); sub(/\|[ \t]*$/, "", line)
	n = split(line, cells, /\|/)
	for (i = 1; i <= n; i++) { gsub(/^[ \t]+|[ \t]+$/, "", cells[i]) }
	return n
}

BEGIN {
	print "<!DOCTYPE html>"
	print "<html lang=\"en\"><head><meta charset=\"utf-8\">"
	print "<title>" esc(title) "</title>"
	print "<style>"
	print "body { font: 15px/1.5 system-ui, sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em; color: #222; }"
	print "table { border-collapse: collapse; margin: 0.5em 0 1em; } th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; }"
	print "th { background: #f3f3f3; } td.r, th.r { text-align: right; } img { max-width: 100%; }"
	print "pre { background: #f6f6f6; padding: 0.6em; overflow-x: auto; } code { font-size: 90%; }"
	print "h1, h2, h3 { line-height: 1.2; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }"
	print "</style></head><body>"
}

incode {
	if ($0 ~ /^```/) { print "</code></pre>"; incode = 0 } else print esc($0)
	next
}
/^```/ { close_blocks(); printf "<pre><code>"; incode = 1; next }
/^[ \t]*$/ { close_blocks(); next }
/^#+ / {
	close_blocks()
	n = match($0, /^#+/); lvl = RLENGTH
	print "<h" lvl ">" inline(esc(substr($0, lvl + 2))) "</h" lvl ">"
	next
}
/^[ \t]*\|/ {
	if (para) { print "<p>" para "</p>"; para = "" }
	if (!intable) {
		ncols = cells_of($0, head)
		intable = 1; aligned = 0
		next
	}
	n = cells_of($0, c)
	if (!aligned) {
		aligned = 1
		if ($0 ~ /^[ \t|:-]+$/) {
			for (i = 1; i <= ncols; i++) align[i] = (c[i] ~ /:$/) ? " class=\"r\"" : ""
			printf "<table><thead><tr>"
			for (i = 1; i <= ncols; i++) printf "<th%s>%s</th>", align[i], inline(esc(head[i]))
			print "</tr></thead><tbody>"
			next
		}
		for (i = 1; i <= ncols; i++) align[i] = ""
		printf "<table><tbody><tr>"
		for (i = 1; i <= ncols; i++) printf "<td>%s</td>", inline(esc(head[i]))
		print "</tr>"
	}
	printf "<tr>"
	for (i = 1; i <= n; i++) printf "<td%s>%s</td>", align[i], inline(esc(c[i]))
	print "</tr>"
	next
}
/^- / {
	if (para) { print "<p>" para "</p>"; para = "" }
	if (intable) { print "</tbody></table>"; intable = 0 }
	if (!inlist) { print "<ul>"; inlist = 1 }
	print "<li>" inline(esc(substr($0, 3))) "</li>"
	next
}
{
	if (inlist || intable) close_blocks()
	para = para (para ? "\n" : "") inline(esc($0))
}
END {
	if (incode) print "</code></pre>"
	close_blocks()
	print "</body></html>"
}

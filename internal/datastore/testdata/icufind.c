/* icufind runs ICU's regex engine as MySQL 8's REGEXP does (uregex_open
 * with UREGEX_CASE_INSENSITIVE, as a _ci collation asks, then uregex_find
 * from 0), for the tests of TranslateRegex: no MySQL server is at hand.
 * stdin: lines "id<TAB>hex(pattern)<TAB>hex(subject)", UTF-8;
 * stdout: "id<TAB>1", "id<TAB>0" or "id<TAB>ERR <ICU error name>". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unicode/uregex.h>
#include <unicode/ustring.h>
#include <unicode/utypes.h>

static char *unhex(const char *h, size_t n, int32_t *len) {
	char *b = malloc(n / 2 + 1);
	for (size_t i = 0; i + 1 < n; i += 2) {
		unsigned int c;
		sscanf(h + i, "%2x", &c);
		b[i / 2] = (char)c;
	}
	*len = (int32_t)(n / 2);
	b[n / 2] = 0;
	return b;
}

static UChar *utf16(const char *s, int32_t n, int32_t *len) {
	UErrorCode st = U_ZERO_ERROR;
	UChar *u = malloc(sizeof(UChar) * (2 * (size_t)n + 2));
	u_strFromUTF8(u, 2 * n + 2, len, s, n, &st);
	if (U_FAILURE(st)) {
		*len = -1;
	}
	return u;
}

int main(void) {
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		if (line[n - 1] == '\n') line[--n] = 0;
		char *t1 = strchr(line, '\t');
		char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (!t2) return 2;
		*t1 = 0;
		*t2 = 0;
		int32_t pn, sn, pu, su;
		char *p = unhex(t1 + 1, (size_t)(t2 - t1 - 1), &pn);
		char *s = unhex(t2 + 1, strlen(t2 + 1), &sn);
		UChar *up = utf16(p, pn, &pu), *us = utf16(s, sn, &su);
		UErrorCode st = U_ZERO_ERROR;
		UParseError pe;
		URegularExpression *re = uregex_open(up, pu, UREGEX_CASE_INSENSITIVE, &pe, &st);
		if (U_SUCCESS(st)) uregex_setText(re, us, su, &st);
		UBool found = 0;
		if (U_SUCCESS(st)) found = uregex_find(re, 0, &st);
		if (U_FAILURE(st))
			printf("%s\tERR %s\n", line, u_errorName(st));
		else
			printf("%s\t%d\n", line, found ? 1 : 0);
		if (re) uregex_close(re);
		free(p); free(s); free(up); free(us);
	}
	return 0;
}

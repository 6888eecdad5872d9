/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A minimal unit-test harness for the project's C tests.
 *
 * A test binary defines cases with TEST_CASE(name) and lists them in
 * TEST_MAIN(...). Each case prints exactly one line that devtools/test.sh
 * counts: "PASS: <binary>/<name>", "FAIL: <binary>/<name>: <why>" or
 * "SKIP: <binary>/<name>: <reason>". The binary exits non-zero if any case
 * failed. A failed assertion ends its case (and only its case).
 */

#ifndef _APP_TEST_H_
#define _APP_TEST_H_

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct test_case {
	const char *name;
	void (*fn)(void);
};

/* State of the case that is running (one binary runs one case at a time). */
struct test_state {
	jmp_buf env;
	char why[512];
	int skipped;
};
extern struct test_state test_state;

static inline void
test_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(test_state.why, sizeof(test_state.why), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(test_state.why + n, sizeof(test_state.why) - n, fmt, ap);
	va_end(ap);
	longjmp(test_state.env, 1);
}

#define TEST_ASSERT(cond, ...) do { \
	if (!(cond)) \
		test_fail(__FILE__, __LINE__, "assertion '" #cond "' failed: " __VA_ARGS__); \
} while (0)

#define TEST_ASSERT_EQ(a, b) do { \
	long long _a = (long long)(a), _b = (long long)(b); \
	if (_a != _b) \
		test_fail(__FILE__, __LINE__, "%s == %lld, expected %s == %lld", \
			  #a, _a, #b, _b); \
} while (0)

/* End the running case as skipped; the reason is printed. */
#define TEST_SKIP(...) do { \
	snprintf(test_state.why, sizeof(test_state.why), __VA_ARGS__); \
	test_state.skipped = 1; \
	longjmp(test_state.env, 1); \
} while (0)

#define TEST_CASE(name) static void name(void)
#define TEST_ENTRY(name) { #name, name }

/*
 * TEST_MAIN(setup, teardown, cases...): setup (may be NULL) runs once before
 * the cases, with argc/argv, and may return non-zero to fail the whole binary.
 */
#define TEST_MAIN(setup_fn, teardown_fn, ...) \
struct test_state test_state; \
int main(int argc, char **argv) \
{ \
	static const struct test_case cases[] = { __VA_ARGS__ }; \
	const char *prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0]; \
	int (*test_setup_)(int, char **) = (setup_fn); \
	void (*test_teardown_)(void) = (teardown_fn); \
	volatile unsigned int i, failed = 0; \
	if (test_setup_ != NULL && test_setup_(argc, argv) != 0) { \
		printf("FAIL: %s/setup: setup failed\n", prog); \
		return 1; \
	} \
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) { \
		memset(&test_state, 0, sizeof(test_state)); \
		if (setjmp(test_state.env) == 0) { \
			cases[i].fn(); \
			printf("PASS: %s/%s\n", prog, cases[i].name); \
		} else if (test_state.skipped) { \
			printf("SKIP: %s/%s: %s\n", prog, cases[i].name, test_state.why); \
		} else { \
			printf("FAIL: %s/%s: %s\n", prog, cases[i].name, test_state.why); \
			failed++; \
		} \
		fflush(stdout); \
	} \
	if (test_teardown_ != NULL) \
		test_teardown_(); \
	return failed ? 1 : 0; \
}

#endif /* _APP_TEST_H_ */

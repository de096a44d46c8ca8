/* Unit tests for the journal source (include/log-journal.h): its argument
 * checks, and, where the build has the journal, that it opens on this
 * host's journal (files or none), gives a pollable fd and nothing from
 * before it was opened. A build without it refuses with its reason. */
#include <errno.h>
#include <poll.h>

#include "build-config.h"
#include "log-journal.h"
#include "test.h"

static void test_open(void)
{
	struct log_journal *j = NULL;
	struct log_line line;
	const char *why = NULL;
	int r;

	CHECK_INT(log_journal_open(0, 0, &j, &why), SSHLEASE_JOURNAL ? SL_REFUSED : -EOPNOTSUPP);
	CHECK(j == NULL && why != NULL);
	why = NULL;
	r = log_journal_open(4096, 0, &j, &why);
	CHECK_INT(log_journal_available(), SSHLEASE_JOURNAL);
	if (!SSHLEASE_JOURNAL) {
		CHECK_INT(r, -EOPNOTSUPP);
		CHECK(why && strstr(why, "without the journal"));
		return;
	}
	CHECK_MSG(r == 0, "log_journal_open: %d (%s)", r, why ? why : "");
	if (r != 0)
		return;
	CHECK(log_journal_fd(j) >= 0);
	/* Opened at the end: what sshd wrote before is not given, and asking
	 * again at once does not block. */
	for (int i = 0; i < 2; i++)
		CHECK_INT(log_journal_next(j, &line, &why), -EAGAIN);
	CHECK_INT(poll(&(struct pollfd){ .fd = log_journal_fd(j), .events = POLLIN }, 1, 0) >= 0, 1);
	log_journal_free(j);
	log_journal_free(NULL);
}

int main(void)
{
	TEST(test_open());
	return test_done();
}

/* sshleased's admission rules as pure functions: connection slots per uid
 * with root's reserve, and refusal records at most once per uid a minute
 * with the count of the ones left out, on an injected clock. */
#include <stdbool.h>
#include <string.h>

#include "admission.h"
#include "test.h"

static void test_connection_slots(void)
{
	/* Another uid: up to its share, and never into root's reserve. */
	CHECK(admission_connection_allowed(1000, 0, 0));
	CHECK(admission_connection_allowed(1000, 10, ADMISSION_MAX_PER_UID - 1));
	CHECK(!admission_connection_allowed(1000, 10, ADMISSION_MAX_PER_UID));
	CHECK(admission_connection_allowed(1000, ADMISSION_MAX_CONNECTIONS -
						 ADMISSION_ROOT_RESERVED - 1, 0));
	CHECK(!admission_connection_allowed(1000, ADMISSION_MAX_CONNECTIONS -
						  ADMISSION_ROOT_RESERVED, 0));
	/* Root: every slot, its own count does not matter. */
	CHECK(admission_connection_allowed(0, ADMISSION_MAX_CONNECTIONS - 1,
					   ADMISSION_MAX_CONNECTIONS - 1));
	CHECK(!admission_connection_allowed(0, ADMISSION_MAX_CONNECTIONS, 0));
	/* Seven uids at their share fill all but root's reserve. */
	CHECK_INT((ADMISSION_MAX_CONNECTIONS - ADMISSION_ROOT_RESERVED) /
			  ADMISSION_MAX_PER_UID, 7);
	CHECK(ADMISSION_ROOT_RESERVED >= 1);
}

static void test_refusal_records(void)
{
	static struct admission_refusals table;
	unsigned long suppressed = 99;
	const long long minute = ADMISSION_REFUSAL_WINDOW_MS;
	long long now = 1000000;

	memset(&table, 0, sizeof(table));
	/* The first is recorded; the next ones within the window counted. */
	CHECK(admission_refusal_record(&table, 1000, now, &suppressed));
	CHECK_INT(suppressed, 0);
	CHECK(!admission_refusal_record(&table, 1000, now + 1, &suppressed));
	CHECK(!admission_refusal_record(&table, 1000, now + 2, &suppressed));
	CHECK(!admission_refusal_record(&table, 1000, now + minute - 1, &suppressed));
	/* Another uid is not held back by the first. */
	CHECK(admission_refusal_record(&table, 1001, now + 5, &suppressed));
	CHECK_INT(suppressed, 0);
	/* A minute after its record: recorded again, with the count. */
	CHECK(admission_refusal_record(&table, 1000, now + minute, &suppressed));
	CHECK_INT(suppressed, 3);
	/* The count starts again. */
	CHECK(!admission_refusal_record(&table, 1000, now + minute + 1, &suppressed));
	CHECK(admission_refusal_record(&table, 1000, now + 2 * minute, &suppressed));
	CHECK_INT(suppressed, 1);
	CHECK(admission_refusal_record(&table, 1000, now + 3 * minute, &suppressed));
	CHECK_INT(suppressed, 0);

	/* A full table: the uid recorded longest ago makes room, the others
	 * keep their windows. */
	memset(&table, 0, sizeof(table));
	for (unsigned i = 0; i < ADMISSION_REFUSAL_UIDS; i++)
		CHECK(admission_refusal_record(&table, 2000 + i, now + i, &suppressed));
	CHECK(admission_refusal_record(&table, 5000, now + 100, &suppressed));
	CHECK_INT(suppressed, 0);
	/* 2000 was pushed out: recorded as a first one. */
	CHECK(admission_refusal_record(&table, 2000, now + 101, &suppressed));
	/* 2002 is still there and within its window. */
	CHECK(!admission_refusal_record(&table, 2002, now + 102, &suppressed));
	CHECK(!admission_refusal_record(&table, 5000, now + 103, &suppressed));
}

int main(void)
{
	TEST(test_connection_slots());
	TEST(test_refusal_records());
	return test_done();
}

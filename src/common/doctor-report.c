/* doctor's report: results, looking them up, and JSON both ways. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "doctor.h"

struct doctor_report *doctor_report_new(void)
{
	return calloc(1, sizeof(struct doctor_report));
}

static void result_finish(struct doctor_result *result)
{
	free(result->name);
	free(result->message);
	free(result->fix);
}

void doctor_result_free(struct doctor_result *result)
{
	if (!result)
		return;
	result_finish(result);
	free(result);
}

void doctor_report_free(struct doctor_report *report)
{
	if (!report)
		return;
	for (size_t i = 0; i < report->n; i++)
		result_finish(&report->results[i]);
	free(report->results);
	free(report);
}

static int report_append(struct doctor_report *report, const char *name,
			 enum doctor_status status, bool blocks_grant,
			 const char *fix, char *message)
{
	struct doctor_result *grown, *result;

	grown = reallocarray(report->results, report->n + 1, sizeof(*grown));
	if (!grown) {
		free(message);
		return -ENOMEM;
	}
	report->results = grown;
	result = &report->results[report->n];
	*result = (struct doctor_result){
		.name = strdup(name),
		.status = status,
		.message = message,
		.fix = fix ? strdup(fix) : NULL,
		.blocks_grant = blocks_grant,
	};
	report->n++;
	if (!result->name || !result->message || (fix && !result->fix))
		return -ENOMEM;
	return 0;
}

int doctor_report_add(struct doctor_report *report, const char *name,
		      enum doctor_status status, bool blocks_grant,
		      const char *fix, const char *fmt, ...)
{
	char *message = NULL;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&message, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	return report_append(report, name, status, blocks_grant, fix, message);
}

const struct doctor_result *doctor_report_find(const struct doctor_report *report,
					       const char *name)
{
	for (size_t i = 0; i < report->n; i++)
		if (strcmp(report->results[i].name, name) == 0)
			return &report->results[i];
	return NULL;
}

bool doctor_report_failed(const struct doctor_report *report)
{
	for (size_t i = 0; i < report->n; i++)
		if (report->results[i].status == DOCTOR_FAIL)
			return true;
	return false;
}

const char *doctor_status_name(enum doctor_status status)
{
	switch (status) {
	case DOCTOR_OK:
		return "ok";
	case DOCTOR_WARN:
		return "warn";
	case DOCTOR_FAIL:
		return "fail";
	}
	return "?";
}

json_t *doctor_report_to_json(const struct doctor_report *report)
{
	json_t *checks = json_array();

	if (!checks)
		return NULL;
	for (size_t i = 0; i < report->n; i++) {
		const struct doctor_result *r = &report->results[i];
		json_t *item = json_pack("{s:s, s:s, s:s, s:s?, s:b}", "name",
					 r->name, "status",
					 doctor_status_name(r->status), "message",
					 r->message, "fix", r->fix, "blocks_grant",
					 r->blocks_grant);

		if (!item || json_array_append_new(checks, item) != 0) {
			json_decref(checks);
			return NULL;
		}
	}
	return json_pack("{s:b, s:o}", "ok", !doctor_report_failed(report),
			 "checks", checks);
}

int doctor_report_from_json(const json_t *json, struct doctor_report **out,
			    const char **why)
{
	struct doctor_report *report = NULL;
	const json_t *checks = json_object_get(json, "checks");
	json_t *item;
	size_t i;
	int r;

	if (!json_is_array(checks)) {
		*why = "the doctor report has no checks array";
		return SL_REFUSED;
	}
	report = doctor_report_new();
	if (!report)
		return -ENOMEM;
	json_array_foreach(checks, i, item) {
		const json_t *name = json_object_get(item, "name");
		const json_t *status = json_object_get(item, "status");
		const json_t *message = json_object_get(item, "message");
		const json_t *fix = json_object_get(item, "fix");
		const json_t *blocks = json_object_get(item, "blocks_grant");
		enum doctor_status s;
		char *text;

		if (!json_is_string(name) || !json_is_string(status) ||
		    !json_is_string(message) ||
		    (fix && !json_is_null(fix) && !json_is_string(fix)) ||
		    (blocks && !json_is_boolean(blocks))) {
			*why = "a doctor check lacks a name, status or message, "
			       "or has a member of the wrong type";
			r = SL_REFUSED;
			goto fail;
		}
		if (strcmp(json_string_value(status), "ok") == 0)
			s = DOCTOR_OK;
		else if (strcmp(json_string_value(status), "warn") == 0)
			s = DOCTOR_WARN;
		else if (strcmp(json_string_value(status), "fail") == 0)
			s = DOCTOR_FAIL;
		else {
			*why = "a doctor check has an unknown status";
			r = SL_REFUSED;
			goto fail;
		}
		text = strdup(json_string_value(message));
		if (!text) {
			r = -ENOMEM;
			goto fail;
		}
		r = report_append(report, json_string_value(name), s,
				  blocks && json_is_true(blocks),
				  json_is_string(fix) ? json_string_value(fix) : NULL,
				  text);
		if (r < 0)
			goto fail;
	}
	*out = report;
	return 0;
fail:
	doctor_report_free(report);
	return r;
}

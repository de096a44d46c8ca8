/* sshleased and the local sshd: the probe (version, host keys, the
 * expiry-time form it reads) and the doctor checks a grant must pass. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"
#include "timeutil.h"

/* How sshd is run for -T and -V: the binary sshd.h finds, the config file
 * of [sshd] config. */
static struct sshd_exec_options exec_options(const struct daemon *d)
{
	return (struct sshd_exec_options){ .config_path = d->config->sshd_config };
}

/* "OpenSSH 9.2" or "an sshd of unknown version", for messages. */
static const char *version_text(const struct sshd_info *info, char *buf,
				size_t size)
{
	if (sshd_version_known(&info->version))
		snprintf(buf, size, "OpenSSH %u.%u", info->version.major,
			 info->version.minor);
	else
		snprintf(buf, size, "an sshd of unknown version");
	return buf;
}

void daemon_sshd_probe(struct daemon *d)
{
	struct sshd_probe_options options = {
		.exec = exec_options(d),
		.port = d->config->sshd_port,
	};
	enum authkeys_expiry form;
	char version[64], software[160], error[300];
	const char *why = NULL;
	int r;

	r = sshd_probe(&options, &d->sshd, &why);
	d->sshd_probed_ms = time_monotonic_ms();
	if (d->sshd_probed_ms == 0)
		d->sshd_probed_ms = 1;
	if (r < 0) {
		/* Out of memory or the like: know nothing rather than half. */
		d->sshd = (struct sshd_info){
			.port = d->config->sshd_port ? d->config->sshd_port : 22,
		};
		snprintf(d->sshd.probe_error, sizeof(d->sshd.probe_error),
			 "the probe failed: %s", strerror(-r));
	}
	/* Only an answer from root's own listener is kept for good; one not
	 * believed (sshd.h: sshd_probe) is asked again like no answer. */
	d->sshd_answered = r == 0 && d->sshd.source == SSHD_SOURCE_PROBE;
	if (d->sshd.warning[0]) {
		char warning[sizeof(d->sshd.warning)];

		log_safe(warning, sizeof(warning), d->sshd.warning);
		log_warn("local sshd: %.256s", warning);
	}
	log_safe(software, sizeof(software), d->sshd.software);
	log_safe(error, sizeof(error), d->sshd.probe_error);
	version_text(&d->sshd, version, sizeof(version));
	if (d->sshd_answered)
		log_info("local sshd: %s on %.46s port %u (%.160s), %zu host keys",
			 version, d->sshd.address, d->sshd.port, software,
			 d->sshd.n_host_keys);
	else if (r == 0)
		log_warn("local sshd: no answer on port %u (%.300s); %s by sshd -V, %zu host keys from its files; asking again when a grant needs it",
			 d->sshd.port, error, version, d->sshd.n_host_keys);
	else
		log_warn("local sshd: no answer on port %u (%.300s) and no version from sshd -V%s%.200s; asking again when a grant needs it",
			 d->sshd.port, error, why ? ": " : "", why ? why : "");
	if (daemon_expiry_form(d, &form, &why) == 0)
		log_info("expiry-time is written in the %s form (expiry_format = %s)",
			 sshd_expiry_name(form),
			 config_expiry_format_name(d->config->expiry_format));
	else
		log_warn("grants are refused until this is fixed: %s", why);
}

void daemon_sshd_refresh(struct daemon *d)
{
	if (d->sshd_answered && d->sshd_probed_ms != 0)
		return;
	if (d->sshd_probed_ms != 0 &&
	    time_monotonic_ms() - d->sshd_probed_ms < DAEMON_SSHD_REPROBE_SECONDS * 1000LL)
		return;
	daemon_sshd_probe(d);
}

int daemon_expiry_form(struct daemon *d, enum authkeys_expiry *out,
		       const char **why)
{
	const char *reason = NULL;
	char found[300];
	int r;

	r = sshd_expiry_for(&d->sshd.version, d->config->expiry_format, out,
			    &reason);
	if (r == 0)
		return 0;
	/* What the probe saw: the version, else the banner or the error. */
	if (sshd_version_known(&d->sshd.version))
		version_text(&d->sshd, found, sizeof(found));
	else if (d->sshd.software[0])
		log_safe(found, sizeof(found), d->sshd.software);
	else if (d->sshd.probe_error[0])
		log_safe(found, sizeof(found), d->sshd.probe_error);
	else
		version_text(&d->sshd, found, sizeof(found));
	snprintf(d->expiry_why, sizeof(d->expiry_why),
		 "cannot choose how to write expiry-time for the local sshd (port %u: %.512s): %s",
		 d->sshd.port, found, reason);
	*why = d->expiry_why;
	return SL_REFUSED;
}

json_t *daemon_sshd_json(const struct daemon *d)
{
	return sshd_info_to_json(&d->sshd);
}

int daemon_grant_blocker(struct daemon *d, const char *user,
			 enum authkeys_mode mode, struct doctor_result **blocker)
{
	struct doctor_options options = {
		.user = user,
		.mode = mode,
		.sshd = exec_options(d),
		.port = d->sshd.port,
		.expiry_format = d->config->expiry_format,
		.info = &d->sshd,
	};

	return doctor_grant_blockers(&options, blocker);
}

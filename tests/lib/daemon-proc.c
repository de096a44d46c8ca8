/* A real sshleased and the real sshlease for the C tests (daemon-proc.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "daemon-proc.h"
#include "fixture.h"
#include "protocol.h"

int client_failures;

bool daemon_run_init(struct daemon_run *run, const char *prefix)
{
	char log_dir[80];

	if (!getenv("SSHLEASE_BUILD_ROOT")) {
		fprintf(stderr, "SSHLEASE_BUILD_ROOT not set; run under meson test\n");
		return false;
	}
	snprintf(run->dir, sizeof(run->dir), "/tmp/%s-XXXXXX", prefix);
	if (!mkdtemp(run->dir)) {
		perror("mkdtemp");
		exit(1);
	}
	/* Others may pass through to the socket, not read. */
	chmod(run->dir, 0711);
	snprintf(run->config, sizeof(run->config), "%s/sshlease.conf", run->dir);
	snprintf(run->socket, sizeof(run->socket), "%s/run/sshlease.sock", run->dir);
	snprintf(run->log, sizeof(run->log), "%s/daemon.log", run->dir);
	snprintf(run->audit, sizeof(run->audit), "%s/log/audit.jsonl", run->dir);
	snprintf(log_dir, sizeof(log_dir), "%s/log", run->dir);
	mkdir(log_dir, 0700);
	return true;
}

/* The sshleased of the build tree. */
static void daemon_binary(char *buf, size_t size)
{
	snprintf(buf, size, "%s/src/daemon/sshleased", getenv("SSHLEASE_BUILD_ROOT"));
}

/* What a careless parent might hand down across exec: SIGCHLD, SIGHUP and
 * SIGTERM ignored, SIGCHLD and SIGUSR1 blocked. */
static void inherit_hostile_signals(void)
{
	sigset_t mask;

	signal(SIGCHLD, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGUSR1);
	sigprocmask(SIG_BLOCK, &mask, NULL);
}

/* In the child: stderr to the run's log, no service manager around. */
static void child_setup(const struct daemon_run *run)
{
	int fd = open(run->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd >= 0)
		dup2(fd, STDERR_FILENO);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("JOURNAL_STREAM");
}

int daemon_run_start(struct daemon_run *run)
{
	char binary[512];
	int status;

	daemon_binary(binary, sizeof(binary));
	run->daemon_pid = -1;
	fflush(NULL);
	run->pid = fork();
	if (run->pid < 0)
		return -1;
	if (run->pid == 0) {
		const char *argv[32];
		size_t n = 0;

		child_setup(run);
		if (run->hostile_signals)
			inherit_hostile_signals();
		for (size_t i = 0; run->wrapper && run->wrapper[i] && n < 24; i++)
			argv[n++] = run->wrapper[i];
		argv[n++] = binary;
		argv[n++] = "--config";
		argv[n++] = run->config;
		argv[n] = NULL;
		execvp(argv[0], (char **)argv);
		_exit(127);
	}
	/* Wait for the socket (a start-up bound, not a timing check). */
	for (int i = 0; i < 600; i++) {
		json_t *reply;

		if (waitpid(run->pid, &status, WNOHANG) == run->pid) {
			run->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		}
		reply = client_call(run->socket, "{\"op\":\"status\"}");
		if (reply) {
			run->daemon_pid = (pid_t)json_integer_value(json_object_get(reply, "pid"));
			json_decref(reply);
			return 0;
		}
		usleep(50 * 1000);
	}
	return -1;
}

int daemon_run_refuses(struct daemon_run *run)
{
	char binary[512];
	int status;
	pid_t pid;

	daemon_binary(binary, sizeof(binary));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		child_setup(run);
		execl(binary, "sshleased", "--config", run->config, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 300; i++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
		usleep(50 * 1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

int daemon_run_stop(struct daemon_run *run, int sig)
{
	int status;

	if (run->pid <= 0)
		return -1;
	/* To sshleased itself: a wrapper passes on its exit status. */
	kill(run->daemon_pid > 0 ? run->daemon_pid : run->pid, sig);
	if (waitpid(run->pid, &status, 0) != run->pid)
		return -1;
	run->pid = -1;
	run->daemon_pid = -1;
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool daemon_run_alive(const struct daemon_run *run)
{
	int status;

	return run->pid > 0 && waitpid(run->pid, &status, WNOHANG) == 0;
}

void daemon_run_done(struct daemon_run *run, bool failed)
{
	/* Never leave a daemon behind, whatever failed. */
	if (run->pid > 0)
		daemon_run_stop(run, SIGKILL);
	if (failed) {
		char *log = fixture_read_text(run->log);

		fprintf(stderr, "--- daemon log (%s) ---\n%s", run->log, log);
		free(log);
	} else {
		fixture_remove_tree(run->dir);
	}
}

int client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

json_t *client_call_raw(const char *path, const char *bytes, size_t len)
{
	json_t *reply = NULL, *extra = NULL;
	int fd = client_connect(path);
	int r;

	if (fd < 0)
		return NULL;
	if (send(fd, bytes, len, MSG_NOSIGNAL) == (ssize_t)len &&
	    proto_recv(fd, 10000, &reply) == 0) {
		r = proto_recv(fd, 10000, &extra);
		if (r != -ECONNRESET) {
			client_failures++;
			fprintf(stderr, "%s: the daemon did not close the connection after its answer (%d) to: %.200s\n",
				path, r, bytes);
		}
		json_decref(extra);
	}
	close(fd);
	return reply;
}

json_t *client_call(const char *path, const char *json_text)
{
	return client_call_raw(path, json_text, strlen(json_text));
}

json_t *client_call_json(const char *path, json_t *request)
{
	char *text = json_dumps(request, JSON_COMPACT);
	json_t *reply = text ? client_call(path, text) : NULL;

	free(text);
	json_decref(request);
	return reply;
}

const char *client_error(const json_t *reply)
{
	return json_string_value(json_object_get(reply, "error"));
}

pid_t cli_run_spawn(const struct daemon_run *run, const char *const *args)
{
	char binary[512], out_path[192], err_path[192];
	const char *argv[32] = { "sshlease", "--socket", run->socket };
	size_t n = 3;
	pid_t pid;

	snprintf(binary, sizeof(binary), "%s/src/cli/sshlease",
		 getenv("SSHLEASE_BUILD_ROOT"));
	snprintf(out_path, sizeof(out_path), "%s/cli.out", run->dir);
	snprintf(err_path, sizeof(err_path), "%s/cli.err", run->dir);
	for (size_t i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		int fd_out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int fd_err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		int fd_in = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (fd_out < 0 || fd_err < 0 || fd_in < 0 ||
		    dup2(fd_in, STDIN_FILENO) < 0 || dup2(fd_out, STDOUT_FILENO) < 0 ||
		    dup2(fd_err, STDERR_FILENO) < 0)
			_exit(126);
		setenv("NO_COLOR", "1", 1);
		execv(binary, (char **)argv);
		_exit(127);
	}
	return pid;
}

int cli_run_finish(const struct daemon_run *run, pid_t pid, char **out,
		   char **err)
{
	char path[192];
	int status;

	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		status = -1;
	snprintf(path, sizeof(path), "%s/cli.out", run->dir);
	*out = fixture_read_text(path);
	snprintf(path, sizeof(path), "%s/cli.err", run->dir);
	*err = fixture_read_text(path);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int cli_run(const struct daemon_run *run, const char *const *args, char **out,
	    char **err)
{
	return cli_run_finish(run, cli_run_spawn(run, args), out, err);
}

/*
 * The names of the grant modes, kept apart from the engine so that code
 * which only reads or writes the vocabulary (the token decoder and its
 * fuzz target) does not pull in the authorized_keys engine.
 */
#include <stdbool.h>
#include <string.h>

#include "authkeys.h"

const char *authkeys_mode_name(enum authkeys_mode mode)
{
	return mode == AUTHKEYS_MODE_SFTP ? "sftp" : "shell";
}

bool authkeys_mode_parse(const char *name, enum authkeys_mode *out)
{
	if (name && strcmp(name, "shell") == 0)
		*out = AUTHKEYS_MODE_SHELL;
	else if (name && strcmp(name, "sftp") == 0)
		*out = AUTHKEYS_MODE_SFTP;
	else
		return false;
	return true;
}

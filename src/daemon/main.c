/* sshleased: placeholder entry point until its commands exist. */
#include <stdio.h>
#include <string.h>

#include "build-config.h"

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("sshleased %s\n", SSHLEASE_VERSION);
		return 0;
	}
	fprintf(stderr, "sshleased: not implemented yet\n");
	return 1;
}

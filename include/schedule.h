/* Expiry scheduling: which grants are due and when to wake next, as pure
 * functions of the state and an injected "now" so they can be unit-tested. */
#ifndef SSHLEASE_SCHEDULE_H
#define SSHLEASE_SCHEDULE_H

#include "state.h"

#endif

/* Placeholder: implemented with its module. */
#include "protocol.h"

/* Placeholder: implemented with its module. */
#include "audit.h"

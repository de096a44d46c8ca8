/* Placeholder: implemented with its module. */
#include "timeutil.h"

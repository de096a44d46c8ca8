/* Placeholder: implemented with its module. */
#include "state.h"

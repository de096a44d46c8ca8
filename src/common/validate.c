/* Placeholder: implemented with its module. */
#include "validate.h"

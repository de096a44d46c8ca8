/* Placeholder: implemented with its module. */
#include "key.h"

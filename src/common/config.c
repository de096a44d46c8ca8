/* Placeholder: implemented with its module. */
#include "config.h"

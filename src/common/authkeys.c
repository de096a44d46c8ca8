/* Placeholder: implemented with its module. */
#include "authkeys.h"

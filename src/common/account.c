/* Placeholder: implemented with its module. */
#include "account.h"

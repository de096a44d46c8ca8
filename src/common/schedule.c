/* Placeholder: implemented with its module. */
#include "schedule.h"

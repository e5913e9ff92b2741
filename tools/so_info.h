/* Describing a compiled model .so for `bertc inspect` (through the runtime). */
#ifndef BERTC_TOOLS_SO_INFO_H
#define BERTC_TOOLS_SO_INFO_H

#include <jansson.h>

#include "bertc/status.h"

bertc_status_t so_info_json(const char *path, json_t **out) BERTC_MUST_USE;

#endif

/* SPDX-License-Identifier: Apache-2.0 */
#include "config.h"
int config_placeholder(void); int config_placeholder(void) { return 0; }

/* SPDX-License-Identifier: Apache-2.0 */
#include "template.h"
int template_placeholder(void); int template_placeholder(void) { return 0; }

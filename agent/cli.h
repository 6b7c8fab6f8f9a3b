/* SPDX-License-Identifier: Apache-2.0 */
#pragma once

/* Runs nap-agent with its command line; returns the process exit status. */
int cli_main(int argc, char *argv[]);

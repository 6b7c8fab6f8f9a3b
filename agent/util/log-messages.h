/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MESSAGE_IDs of the events an operator acts on, defined once (as
 * systemd keeps its own in sd-messages.h), for log_struct() (util/log.h).
 * Each is explained in units/nap-agent.catalog, which systemd's catalog
 * shows beside the entry (`journalctl -x`): what happened and what to do.
 * tests/package/check-catalog.py checks that every id here has its catalog entry and
 * the other way round. An id never changes meaning: a new event gets a new
 * one (`systemd-id128 new`).
 */
#pragma once

/* values.env could not be used (a syntax error, an invalid value): nothing
 * was applied, nothing deleted, the last applied state stays. */
#define NAP_MESSAGE_VALUES_REFUSED "4ae92acd7c354002a51026cd19f939e1"
/* A pass wrote something and converged (generation moved). */
#define NAP_MESSAGE_PASS_APPLIED "33590593ba3f4b8ab17e8639a7a12130"
/* A pass failed (an API server or database error); it is retried. */
#define NAP_MESSAGE_PASS_FAILED "7d5ace7bb3474fadb419bf169663447d"
/* A resync found an object or row changed behind the agent's back, and
 * wrote it back. */
#define NAP_MESSAGE_DRIFT_REPAIRED "5338bf5ff2044c86a6a5214d87ca8aa0"
/* An object install.sh created was taken over (its fields became the
 * agent's). */
#define NAP_MESSAGE_OBJECT_ADOPTED "a84a7c6573334bc5b07009b25b49eebd"
/* A workload the agent applied is available. */
#define NAP_MESSAGE_ROLLOUT_AVAILABLE "69788dfebd20499b91810819a08e8dee"
/* A workload the agent applied is failing (image pull, crash loop, not
 * schedulable, progress deadline, timeout). */
#define NAP_MESSAGE_ROLLOUT_FAILING "73fd84220fee431393105f2f2d28bb50"
/* No kubeconfig could be found or read. */
#define NAP_MESSAGE_KUBECONFIG_MISSING "9fbe0b3935314e0484e930a8d8103aa3"
/* The control plane's PostgreSQL could not be reached or refused the
 * agent. */
#define NAP_MESSAGE_DATABASE_UNREACHABLE "6824b790486c4184a895aa17cd9c9e6a"

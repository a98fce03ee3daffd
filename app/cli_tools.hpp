#pragma once

// The store tools of the command line: events, jobs, replay, check,
// outbox. Each opens the LMDB environment named by the same configuration
// as `switchboard serve` and works while the daemon runs: reads need no
// lock, and a write is one short transaction of its own, which LMDB
// serialises with the daemon's writer through its lock file.

#include <string>
#include <vector>

#include <actors/providers.hpp>
#include <app/config.hpp>
#include <store/environment.hpp>

namespace switchboard::app {

/// `switchboard events [--type T] [--aggregate TYPE/ID] [--after SEQ]
/// [--limit N] [--json]`.
int run_events(const std::vector<std::string>& args);

/// `switchboard outbox [--channel C] [--after ID] [--limit N] [--json]`.
int run_outbox(const std::vector<std::string>& args);

/// `switchboard analytics COMPANY [--json]`: the company's analytics.
int run_analytics(const std::vector<std::string>& args);

/// `switchboard top [--interval S] [--once]`: tiles and queues, refreshing.
int run_top(const std::vector<std::string>& args);

/// `switchboard cluster status [--url URL] [--token T] [--json]`: the
/// members as the local daemon sees them (GET /api/admin/cluster).
int run_cluster(const std::vector<std::string>& args);

/// `switchboard jobs failed|retry <id>|forget <id>`.
int run_jobs(const std::vector<std::string>& args);

/// `switchboard replay <projection>`: rebuilds a projection from the log.
int run_replay(const std::vector<std::string>& args);

/// `switchboard check`: store consistency; exit 1 on problems.
int run_check(const std::vector<std::string>& args);

/// `switchboard import FILE [--format F] [--company ID]`: loads history,
/// all of it or nothing; refuses a store a daemon holds. Exit 1 on a bad
/// record (named by line and field), 2 on bad usage.
int run_import(const std::vector<std::string>& args);

} // namespace switchboard::app
